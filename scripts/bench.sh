#!/usr/bin/env bash
# The full benchmark, one command: release build, a private ClickHouse, then
# every bench binary (bench_codec: sizes and speeds of the segment codec
# against zstd of CSV); as root also the shaped WireGuard tunnel, the
# resume-after-cut measurement and bench_line (adaptive against fixed
# chunks through WireGuard with a lossy relay that cuts the line). Prints
# one report (markdown tables) and keeps it in target/bench-report.md;
# --write appends it to BENCHMARKS.md under today's date.
#
# Usage: scripts/bench.sh [--rows N] [--write]
#   env: LINK_SECS (30), LINK_LIMITS (1MiB,10MiB), MEMORY_ROWS (5000000),
#        ARROW_ROWS (5000000), QUERY_RUNS (300)
set -euo pipefail
cd "$(dirname "$0")/.."

rows=()
write=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=(--rows "$2"); shift 2 ;;
    --write) write=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

cargo build --release --workspace --bins
export CLICKHOUSE_DIR=${CLICKHOUSE_DIR:-$(mktemp -d /tmp/hotcold-ch.XXXXXX)}
url=$(scripts/clickhouse.sh start "$CLICKHOUSE_DIR")
trap 'scripts/clickhouse.sh stop "$CLICKHOUSE_DIR"; rm -rf "$CLICKHOUSE_DIR"' EXIT
export HOTCOLD_CLICKHOUSE_URL=$url

report=target/bench-report.md
{
  echo "## $(date -u +%Y-%m-%d) — scripts/bench.sh"
  echo
  echo "Machine: $(nproc) vCPU, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(rustc --version)."
  echo
  echo "### Ingest, archive, bytes per row"
  echo
  target/release/bench "${rows[@]}"
  echo
  echo "### Batch codec against zstd of CSV (target/release/bench_codec)"
  echo
  target/release/bench_codec
  echo
  echo "### Link limiter on loopback (target/release/bench_link)"
  echo
  target/release/bench_link --secs "${LINK_SECS:-30}" --limits "${LINK_LIMITS:-1MiB,10MiB}"
  echo
  echo "### Peak memory archiving one big window (target/release/bench_memory)"
  echo
  target/release/bench_memory --rows "${MEMORY_ROWS:-5000000}"
  echo
  echo "### One large answer: Arrow and Parquet against NDJSON (target/release/bench_arrow)"
  echo
  target/release/bench_arrow --rows "${ARROW_ROWS:-5000000}"
  echo
  echo "### Snapshots, restore and the hot backup (target/release/bench_snapshot)"
  echo
  target/release/bench_snapshot --rows "${SNAPSHOT_ROWS:-2000000}"
  echo
  echo "### Query latency (target/release/bench_query)"
  echo
  target/release/bench_query --runs "${QUERY_RUNS:-300}"
  if [ "$(id -u)" = 0 ] && command -v wireguard-go >/dev/null 2>&1; then
    echo
    echo "### Through WireGuard on a 20 Mbit/s tbf line, and resume after a cut"
    echo
    HOTCOLD_REQUIRE_NETNS=1 cargo test --release -q -p hotcold-tests \
      --test wireguard --test resume_after_kill -- --nocapture 2>&1 |
      grep -E "^(limiter|batch )" | sed 's/^/- /'
    echo
    echo "### Adaptive against fixed chunks through WireGuard with a lossy, cut relay (target/release/bench_line)"
    echo
    target/release/bench_line
  fi
} | tee "$report"

if [ "$write" = 1 ]; then
  { echo; cat "$report"; } >>BENCHMARKS.md
  echo "appended to BENCHMARKS.md" >&2
fi
