#!/bin/sh
# Writes the server's configuration from the environment (as
# scripts/clickhouse.sh does for the tests), hands the data and log folders
# to CLICKHOUSE_UID:CLICKHOUSE_GID and runs clickhouse-server as that user.
set -eu
http_port=${CLICKHOUSE_HTTP_PORT:-8123}
tcp_port=${CLICKHOUSE_TCP_PORT:-9000}
listen=${CLICKHOUSE_LISTEN_HOST:-0.0.0.0}
tz=${TZ:-UTC}
uid=${CLICKHOUSE_UID:-$(id -u clickhouse)}
gid=${CLICKHOUSE_GID:-$(id -g clickhouse)}
data=/var/lib/clickhouse
logs=/var/log/clickhouse-server
# Its own folder, writable by the server (it writes preprocessed copies beside).
confdir=/etc/clickhouse-server/hotcold
conf=$confdir/config.xml
mkdir -p "$data/tmp" "$data/user_files" "$data/format_schemas" "$logs" "$confdir"
cp /etc/clickhouse-server/users.xml "$confdir/users.xml"
cat > "$conf" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$logs/clickhouse-server.log</log>
    <errorlog>$logs/clickhouse-server.err.log</errorlog>
    <size>100M</size>
    <count>3</count>
    <console>1</console>
  </logger>
  <listen_host>$listen</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>30</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <path>$data/</path>
  <tmp_path>$data/tmp/</tmp_path>
  <user_files_path>$data/user_files/</user_files_path>
  <format_schema_path>$data/format_schemas/</format_schema_path>
  <users_config>$confdir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>$tz</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
chown -R "$uid:$gid" "$data" "$logs" "$confdir"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups \
  /usr/sbin/clickhouse-server --config-file="$conf"
