#!/usr/bin/env bash
# The benchmark: release build, a private ClickHouse, then the bench binary.
# Usage: scripts/bench.sh [--rows N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
export CLICKHOUSE_DIR=${CLICKHOUSE_DIR:-$(mktemp -d /tmp/hotcold-ch.XXXXXX)}
url=$(scripts/clickhouse.sh start "$CLICKHOUSE_DIR")
trap 'scripts/clickhouse.sh stop "$CLICKHOUSE_DIR"; rm -rf "$CLICKHOUSE_DIR"' EXIT
HOTCOLD_CLICKHOUSE_URL=$url target/release/bench "$@"
# The link's limiter against the wire, 30 s at each limit.
target/release/bench_link --secs "${LINK_SECS:-30}" --limits "${LINK_LIMITS:-1MiB,10MiB}"
# Peak memory while archiving one 5-million-row window.
HOTCOLD_CLICKHOUSE_URL=$url target/release/bench_memory --rows "${MEMORY_ROWS:-5000000}"
