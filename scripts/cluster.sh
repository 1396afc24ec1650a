#!/usr/bin/env bash
# A ClickHouse 18.16 cluster on one machine for the cluster edition's tests:
# a private ZooKeeper (scripts/zookeeper.sh) and 4 servers (scripts/clickhouse.sh,
# each its own process, data dir and ports) as one cluster of 2 shards x 2
# replicas, bound to 127.0.0.1. The servers run in local time zones (odd
# nodes in Asia/Kolkata, even ones in America/New_York), never UTC, so no
# test passes only because a server cuts days at UTC midnight.
#
#   scripts/cluster.sh start [DIR]       prints the node URLs, one a line:
#                                        s1r1, s1r2, s2r1, s2r2 (then the cold
#                                        pair's two with CLUSTER_COLD=1);
#                                        starting again restarts only the
#                                        nodes that are down
#   scripts/cluster.sh stop  [DIR]
#   scripts/cluster.sh kill-node N [DIR] SIGKILL of node N (1..4 in that order;
#                                        5, 6: the cold pair)
#
# Env: CLUSTER_BASE_PORT (default 21000, even): ZooKeeper on BASE+1, node N's
# HTTP on BASE+11+2N, TCP on BASE+21+2N, interserver on BASE+31+2N (cold
# nodes 5, 6: BASE+41/51/61+2(N-4)), so parallel runs with other bases never
# collide. CLUSTER_NAME (default hotcold). CLUSTER_COLD=1 adds nodes 5 and 6
# as cluster NAME_cold, 1 shard x 2 replicas (shard macro "cold1"), for a
# replicated cold store; nothing in the product uses it yet.
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
nodes="1 2 3 4"
if [ "${CLUSTER_COLD:-0}" = 1 ]; then nodes="1 2 3 4 5 6"; fi
zk_port=$((base + 1))

zone_of() { if [ $(($1 % 2)) = 1 ]; then echo Asia/Kolkata; else echo America/New_York; fi; }
shard_of() { if [ "$1" -gt 4 ]; then echo cold1; else echo $((($1 + 1) / 2)); fi; }
replica_of() { echo $((($1 + 1) % 2 + 1)); }
# Port of kind K (1 HTTP, 2 TCP, 3 interserver) of node N.
port_of() {
  local n=$1 k=$2
  if [ "$n" -gt 4 ]; then
    echo $((base + 31 + 10 * k + 2 * (n - 4)))
  else
    echo $((base + 1 + 10 * k + 2 * n))
  fi
}

node_env() {
  local n=$1
  export CLICKHOUSE_HTTP_PORT CLICKHOUSE_TCP_PORT CLICKHOUSE_INTERSERVER_PORT CLICKHOUSE_TZ
  CLICKHOUSE_HTTP_PORT=$(port_of "$n" 1)
  CLICKHOUSE_TCP_PORT=$(port_of "$n" 2)
  CLICKHOUSE_INTERSERVER_PORT=$(port_of "$n" 3)
  CLICKHOUSE_TZ=$(zone_of "$n")
  export CLICKHOUSE_EXTRA_CONFIG=$dir/node$n.cluster.xml
}

shard_xml() {
  local n
  echo "    <shard><internal_replication>true</internal_replication>"
  for n in "$@"; do
    echo "      <replica><host>127.0.0.1</host><port>$(port_of "$n" 2)</port></replica>"
  done
  echo "    </shard>"
}

# The parts of a node's config that make it a cluster member. A short ZooKeeper
# session lets a surviving replica take leadership (which 18.16's DROP
# PARTITION on a replicated table needs) seconds after a kill -9, not 30 s.
cluster_xml() {
  local n=$1
  echo "  <macros><cluster>$name</cluster><shard>$(shard_of "$n")</shard><replica>r$(replica_of "$n")</replica></macros>"
  echo "  <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node><session_timeout_ms>4000</session_timeout_ms></zookeeper>"
  echo "  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"
  echo "  <remote_servers>"
  echo "   <$name>"
  shard_xml 1 2
  shard_xml 3 4
  echo "   </$name>"
  if [ "${CLUSTER_COLD:-0}" = 1 ]; then
    echo "   <${name}_cold>"
    shard_xml 5 6
    echo "   </${name}_cold>"
  fi
  echo "  </remote_servers>"
}

start() {
  mkdir -p "$dir"
  # The servers run as the clickhouse user and must reach their dirs
  # inside this one (mktemp -d makes it 0700).
  chmod 755 "$dir"
  ZOOKEEPER_PORT=$zk_port "$here/zookeeper.sh" start "$dir/zookeeper" >&2
  local n pids=()
  for n in $nodes; do
    cluster_xml "$n" >"$dir/node$n.cluster.xml"
    # In parallel: each server takes a few seconds to come up on 2 cores.
    ( node_env "$n"; "$here/clickhouse.sh" start "$dir/node$n" >"$dir/node$n.url" ) &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || { echo "cluster.sh: a node did not start (logs in $dir/node*/log)" >&2; exit 1; }
  for n in $nodes; do cat "$dir/node$n.url"; done
}

stop() {
  local n
  for n in 1 2 3 4 5 6; do
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
    case "$node" in 1|2|3|4|5|6) ;; *) echo "kill-node: N is 1..6" >&2; exit 2 ;; esac
    node_env "$node"
    "$here/clickhouse.sh" kill "$dir/node$node"
    ;;
  *) echo "usage: $0 start|stop [DIR] | kill-node N [DIR]" >&2; exit 2 ;;
esac
