#!/usr/bin/env bash
# Installs (if missing), starts and stops a private ClickHouse server for the
# tests: its own data dir, ports and logs, bound to 127.0.0.1, no systemd.
#
#   scripts/clickhouse.sh start [DIR]   prints the HTTP URL on success
#   scripts/clickhouse.sh stop  [DIR]
#   scripts/clickhouse.sh kill  [DIR]   SIGKILL (for fault tests)
#
# Ports come from CLICKHOUSE_HTTP_PORT (default 18123) and CLICKHOUSE_TCP_PORT
# (default 19000) so a system ClickHouse on 8123/9000 is never touched.
# For a cluster node (scripts/cluster.sh): CLICKHOUSE_INTERSERVER_PORT (the
# replication port; none by default) and CLICKHOUSE_EXTRA_CONFIG, a file of
# XML elements put inside <yandex> (macros, zookeeper, remote_servers).
set -euo pipefail

cmd=${1:-start}
dir=${2:-${CLICKHOUSE_DIR:-/tmp/hotcold-clickhouse}}
http_port=${CLICKHOUSE_HTTP_PORT:-18123}
tcp_port=${CLICKHOUSE_TCP_PORT:-19000}
interserver_port=${CLICKHOUSE_INTERSERVER_PORT:-}
extra_config=${CLICKHOUSE_EXTRA_CONFIG:-}

install() {
  if ! command -v curl >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
  fi
  if command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "clickhouse-server is not installed; run as root (or: sudo apt-get install clickhouse-server clickhouse-client)" >&2
    exit 1
  fi
  echo "installing clickhouse-server from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq clickhouse-server clickhouse-client >&2
}

pid_of() {
  pgrep -f -- "--config-file=$dir/config.xml" | head -n1 || true
}

start() {
  install
  if [ -n "$(pid_of)" ]; then
    echo "http://127.0.0.1:$http_port"
    return
  fi
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  cp /etc/clickhouse-server/users.xml "$dir/users.xml"
  local extra=""
  if [ -n "$interserver_port" ]; then
    extra="  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>$interserver_port</interserver_http_port>"
  fi
  if [ -n "$extra_config" ]; then
    extra="$extra
$(cat "$extra_config")"
  fi
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/error.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>30</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>${CLICKHOUSE_TZ:-America/New_York}</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <mlock_executable>false</mlock_executable>
$extra
</yandex>
XML
  if id clickhouse >/dev/null 2>&1; then
    chown -R clickhouse: "$dir"
    setpriv --reuid=clickhouse --regid=clickhouse --init-groups \
      /usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  else
    /usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  fi
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
      echo "http://127.0.0.1:$http_port"
      return
    fi
    sleep 0.1
  done
  echo "clickhouse did not answer on port $http_port; log follows" >&2
  tail -n 30 "$dir/log/error.log" "$dir/log/stdout.log" >&2 || true
  exit 1
}

stop() {
  local pid sig=${1:-TERM}
  pid=$(pid_of)
  [ -n "$pid" ] || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case "$cmd" in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  *) echo "usage: $0 start|stop|kill [DIR]" >&2; exit 2 ;;
esac
