#!/usr/bin/env bash
# A ClickHouse 18.16 cluster on one machine for the cluster edition's tests:
# a private ZooKeeper (scripts/zookeeper.sh) and 4 servers (scripts/clickhouse.sh,
# each its own process, data dir and ports) as one cluster of 2 shards x 2
# replicas, bound to 127.0.0.1. The servers run in local time zones (shard
# replicas 1 in Asia/Kolkata, replicas 2 in America/New_York), never UTC, so
# no test passes only because a server cuts days at UTC midnight.
#
#   scripts/cluster.sh start [DIR]       prints the 4 node URLs, one a line:
#                                        s1r1, s1r2, s2r1, s2r2; starting again
#                                        restarts only the nodes that are down
#   scripts/cluster.sh stop  [DIR]
#   scripts/cluster.sh kill-node N [DIR] SIGKILL of node N (1..4, in that order)
#
# Env: CLUSTER_BASE_PORT (default 21000, even): ZooKeeper on BASE+1, node N's
# HTTP on BASE+11+2N, TCP on BASE+21+2N, interserver on BASE+31+2N, so
# parallel runs with other bases never collide. CLUSTER_NAME (default hotcold).
#
# Every port is odd: Linux gives connect() even ephemeral ports first, and
# ports here may lie in the ephemeral range (32768-60999). A client retrying
# a killed node's even port could be handed that very port as its source
# and connect to itself, holding the port so the restarted node cannot bind
# it (seen: "Address already in use" on restart after a kill -9).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-start}
if [ "$cmd" = kill-node ]; then
  node=${2:?usage: $0 kill-node N [DIR]}
  dir=${3:-${CLUSTER_DIR:-/tmp/hotcold-cluster}}
else
  dir=${2:-${CLUSTER_DIR:-/tmp/hotcold-cluster}}
fi
base=${CLUSTER_BASE_PORT:-21000}
name=${CLUSTER_NAME:-hotcold}
zone_of() { if [ $(($1 % 2)) = 1 ]; then echo Asia/Kolkata; else echo America/New_York; fi; }
shard_of() { echo $((($1 + 1) / 2)); }
replica_of() { echo $((($1 + 1) % 2 + 1)); }

zk_port=$((base + 1))
tcp_port_of() { echo $((base + 21 + 2 * $1)); }

node_env() {
  local n=$1
  export CLICKHOUSE_HTTP_PORT=$((base + 11 + 2 * n))
  export CLICKHOUSE_TCP_PORT
  CLICKHOUSE_TCP_PORT=$(tcp_port_of "$n")
  export CLICKHOUSE_INTERSERVER_PORT=$((base + 31 + 2 * n))
  export CLICKHOUSE_TZ
  CLICKHOUSE_TZ=$(zone_of "$n")
  export CLICKHOUSE_EXTRA_CONFIG=$dir/node$n.cluster.xml
}

# The parts of a node's config that make it a cluster member. A short ZooKeeper
# session lets a surviving replica take leadership (which 18.16's DROP
# PARTITION on a replicated table needs) seconds after a kill -9, not 30 s.
cluster_xml() {
  local n=$1 s r
  {
    echo "  <macros><cluster>$name</cluster><shard>$(shard_of "$n")</shard><replica>r$(replica_of "$n")</replica></macros>"
    echo "  <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node><session_timeout_ms>4000</session_timeout_ms></zookeeper>"
    echo "  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"
    echo "  <remote_servers><$name>"
    for s in 1 2; do
      echo "    <shard><internal_replication>true</internal_replication>"
      for r in 1 2; do
        echo "      <replica><host>127.0.0.1</host><port>$(tcp_port_of $(((s - 1) * 2 + r)))</port></replica>"
      done
      echo "    </shard>"
    done
    echo "  </$name></remote_servers>"
  }
}

start() {
  mkdir -p "$dir"
  # The servers run as the clickhouse user and must reach their dirs
  # inside this one (mktemp -d makes it 0700).
  chmod 755 "$dir"
  ZOOKEEPER_PORT=$zk_port "$here/zookeeper.sh" start "$dir/zookeeper" >&2
  local n pids=()
  for n in 1 2 3 4; do
    cluster_xml "$n" >"$dir/node$n.cluster.xml"
    # In parallel: each server takes a few seconds to come up on 2 cores.
    ( node_env "$n"; "$here/clickhouse.sh" start "$dir/node$n" >"$dir/node$n.url" ) &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || { echo "cluster.sh: a node did not start (logs in $dir/node*/log)" >&2; exit 1; }
  for n in 1 2 3 4; do cat "$dir/node$n.url"; done
}

stop() {
  local n
  for n in 1 2 3 4; do
    [ -d "$dir/node$n" ] || continue
    ( node_env "$n"; "$here/clickhouse.sh" stop "$dir/node$n" ) &
  done
  wait
  ZOOKEEPER_PORT=$zk_port "$here/zookeeper.sh" stop "$dir/zookeeper"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill-node)
    case "$node" in 1|2|3|4) ;; *) echo "kill-node: N is 1..4" >&2; exit 2 ;; esac
    node_env "$node"
    "$here/clickhouse.sh" kill "$dir/node$node"
    ;;
  *) echo "usage: $0 start|stop [DIR] | kill-node N [DIR]" >&2; exit 2 ;;
esac
