#!/usr/bin/env bash
# Installs (if missing), starts and stops a private ZooKeeper 3.8 server for
# the cluster edition's tests: its own data dir, port and log, bound to
# 127.0.0.1, no systemd, no wrapper script (zkServer.sh --config fails on
# Debian; see ../shared/FACTS.md). ClickHouse 18.16 works with 3.8, not 3.9.
#
#   scripts/zookeeper.sh start [DIR]   prints host:port on success
#   scripts/zookeeper.sh stop  [DIR]
#   scripts/zookeeper.sh kill  [DIR]   SIGKILL (for fault tests)
#
# The client port comes from ZOOKEEPER_PORT (default 12181), so a system
# ZooKeeper on 2181 is never touched.
set -euo pipefail

cmd=${1:-start}
dir=${2:-${ZOOKEEPER_DIR:-/tmp/hotcold-zookeeper}}
port=${ZOOKEEPER_PORT:-12181}

install() {
  if [ -d /usr/share/zookeeper ] || ls /usr/share/java/zookeeper*.jar >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "zookeeper is not installed; run as root (or: sudo apt-get install zookeeper)" >&2
    exit 1
  fi
  echo "installing zookeeper from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq zookeeper default-jre-headless >&2
}

pid_of() {
  pgrep -f -- "ZooKeeperServerMain $dir/zoo.cfg" | head -n1 || true
}

# "ruok" is off by default in 3.8; a bare TCP connect plus "srvr" (allowed
# below) tells a serving server from a starting one.
ready() {
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'srvr' >&3
  local answer
  answer=$(timeout 2 cat <&3 || true)
  exec 3<&- 3>&-
  case "$answer" in *Mode:*) return 0 ;; *) return 1 ;; esac
}

start() {
  install
  if [ -n "$(pid_of)" ]; then
    echo "127.0.0.1:$port"
    return
  fi
  mkdir -p "$dir/data" "$dir/log"
  cat > "$dir/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=srvr,stat,mntr
minSessionTimeout=1000
maxSessionTimeout=60000
CFG
  cat > "$dir/log4j.properties" <<LOG
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$dir/log/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p %c{1}: %m%n
LOG
  # Debian puts the jars in /usr/share/java (zookeeper.jar and its deps).
  local cp="$dir:/usr/share/java/*:/usr/share/zookeeper/*"
  nohup java -Xmx256m -Dzookeeper.log.dir="$dir/log" \
    -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
    >"$dir/log/stdout.log" 2>&1 &
  for _ in $(seq 1 300); do
    if ready; then
      echo "127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  echo "zookeeper did not answer on port $port; log follows" >&2
  tail -n 30 "$dir/log/zookeeper.log" "$dir/log/stdout.log" >&2 || true
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
