#!/usr/bin/env bash
# The whole test suite, against real components: installs ClickHouse from
# Debian's packages if it is missing, starts a private server on loopback
# in America/New_York (CLICKHOUSE_TZ to change it; never UTC by default, so
# no test passes only because the server is in UTC) and a 2 x 2 cluster
# with ZooKeeper (scripts/cluster.sh, servers in Asia/Kolkata and
# America/New_York), installs chDB from PyPI, builds the binaries the
# end-to-end tests run as processes, runs every test, and stops the servers;
# then brings the compose files up with podman (scripts/podman-deploy.sh).
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi

export CLICKHOUSE_DIR=${CLICKHOUSE_DIR:-$(mktemp -d /tmp/hotcold-ch.XXXXXX)}
# The cluster edition's hot tier: ZooKeeper and 2 shards x 2 replicas
# (scripts/cluster.sh), for tests/tests/cluster_hot.rs. CLUSTER_BASE_PORT
# moves all its ports (parallel runs).
export HOTCOLD_CLUSTER_DIR=${HOTCOLD_CLUSTER_DIR:-$(mktemp -d /tmp/hotcold-cluster.XXXXXX)}
export HOTCOLD_CLUSTER_BASE_PORT=${CLUSTER_BASE_PORT:-21000}
# ZooKeeper for the cluster edition's lease tests (cluster_lease.rs,
# cluster_config.rs, cluster_fencing.rs): a private server on its own port
# and dir, apart from the hot cluster's, so restarting it in a test leaves
# the ClickHouse cluster alone.
export ZOOKEEPER_DIR=${ZOOKEEPER_DIR:-$(mktemp -d /tmp/hotcold-zk.XXXXXX)}
cleanup() {
  scripts/clickhouse.sh stop "$CLICKHOUSE_DIR" || true
  CLUSTER_BASE_PORT=$HOTCOLD_CLUSTER_BASE_PORT scripts/cluster.sh stop "$HOTCOLD_CLUSTER_DIR" || true
  scripts/zookeeper.sh stop "$ZOOKEEPER_DIR" || true
  rm -rf "$CLICKHOUSE_DIR" "$HOTCOLD_CLUSTER_DIR" "$ZOOKEEPER_DIR"
}
trap cleanup EXIT
url=$(scripts/clickhouse.sh start "$CLICKHOUSE_DIR")
echo "ClickHouse $(curl -fsS "$url/?query=SELECT%20version()") at $url"
# CLUSTER_COLD=1: two more nodes, one shard of two replicas, for the
# replicated cold store (tests/tests/cold_replicas.rs).
HOTCOLD_CLUSTER_URLS=$(CLUSTER_COLD=1 CLUSTER_BASE_PORT=$HOTCOLD_CLUSTER_BASE_PORT scripts/cluster.sh start "$HOTCOLD_CLUSTER_DIR" | paste -sd,)
export HOTCOLD_CLUSTER_URLS
export HOTCOLD_REQUIRE_CLUSTER=1
# The hot cluster's own ZooKeeper (cluster.sh puts it on base + 1): the
# whole-cluster tests run the replicas' lease on it too, as one operator's
# ZooKeeper would serve both.
export HOTCOLD_CLUSTER_ZOOKEEPER=127.0.0.1:$((HOTCOLD_CLUSTER_BASE_PORT + 1))
echo "ClickHouse cluster (2 shards x 2 replicas, then the cold pair) at $HOTCOLD_CLUSTER_URLS"

export HOTCOLD_CLICKHOUSE_URL=$url
export HOTCOLD_REQUIRE_CLICKHOUSE=1
zk=$(scripts/zookeeper.sh start "$ZOOKEEPER_DIR")
echo "ZooKeeper at $zk"
export HOTCOLD_ZOOKEEPER=$zk
export HOTCOLD_ZOOKEEPER_DIR=$ZOOKEEPER_DIR
export HOTCOLD_REQUIRE_ZOOKEEPER=1

# The modern engine (ClickHouse 26.x in-process, PyPI's chdb-core) for the
# 22+ mapping: tests/chdb/front.py puts a test-only HTTP front over it.
if ! python3 -c "import chdb" >/dev/null 2>&1; then
  echo "installing chdb-core from PyPI (ClickHouse 26.x in-process, ~900 MB)" >&2
  python3 -m pip install -q chdb-core >&2
fi
export HOTCOLD_REQUIRE_CHDB=1

# The independent readers of the Arrow and Parquet answers
# (tests/python/check_columnar.py, run by tests/tests/columnar_answers.rs);
# required here, so a missing one fails the test instead of skipping it.
# The Python client's tests (clients/python/tests, run by
# tests/tests/python_client.rs against a live pair) need pandas and pytest too.
if ! python3 -c "import pyarrow, polars, duckdb, pandas, pytest" >/dev/null 2>&1; then
  echo "installing pyarrow, polars, duckdb, pandas and pytest from PyPI (the Arrow and Parquet readers, the Python client's tests)" >&2
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q pyarrow polars duckdb pandas pytest >&2
fi
# The client installs as users install it (the tests import the checkout's
# source, so this proves the package builds, not which copy is tested).
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --no-deps ./clients/python >&2 \
  || { echo "pip install ./clients/python failed" >&2; exit 1; }
export HOTCOLD_REQUIRE_PYTHON=1

# The status page is tested in a real browser (tests/tests/status_page.rs):
# headless Chromium from Debian's packages.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium from Debian's packages (the status page's browser test)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
  else
    echo "chromium is not installed; run as root (or: sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
export HOTCOLD_REQUIRE_BROWSER=1

# The two-host tests (network namespaces, a wireguard-go tunnel, a tc-shaped
# line) need root and Debian's wireguard-go and wireguard-tools. As root they
# are installed if missing and must pass; otherwise they skip, loudly.
if [ "$(id -u)" = 0 ]; then
  # nftables: the home router's NAT of the nas-dials test (scripts/natns.sh).
  # No recommends: wireguard-tools recommends a kernel image, and building
  # its initramfs cost a fresh machine a minute for a module never loaded.
  if ! command -v wireguard-go >/dev/null 2>&1 || ! command -v wg >/dev/null 2>&1 || ! command -v nft >/dev/null 2>&1; then
    echo "installing wireguard-go, wireguard-tools and nftables from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wireguard-go wireguard-tools iproute2 nftables >&2
  fi
  export HOTCOLD_REQUIRE_NETNS=1
fi
# The binaries as an operator builds them (the two programs alone, so
# without the harness's test-hooks feature), kept aside for
# tests/tests/operator_build.rs; then the harness's own build.
# The podman deploy step's slow part (podman from Debian's packages, a
# debootstrap base image: minutes, mostly download and unpacking) needs no
# binaries, so it runs beside the builds and tests; the step waits for it.
prep_pid=
if [ $# -eq 0 ] && [ "${PODMAN_DEPLOY:-1}" != 0 ]; then
  mkdir -p target
  scripts/podman-deploy.sh --prepare >target/podman-prepare.log 2>&1 &
  prep_pid=$!
fi
cargo build -p cloud-service -p nas-gateway --bins
mkdir -p target/operator
cp target/debug/cloud-service target/debug/nas-gateway target/operator/
export HOTCOLD_OPERATOR_BIN_DIR=$PWD/target/operator
cargo build --workspace --bins
cargo test --workspace "$@"

# The deploy files run for real (scripts/podman-deploy.sh): the images built
# with podman from the operator binaries above (a debug build: no second,
# release build of the two programs), both compose files up on loopback,
# an archive across them. Without root it says SKIPPED; in CI that fails.
# PODMAN_DEPLOY=0 leaves it out.
if [ $# -eq 0 ] && [ "${PODMAN_DEPLOY:-1}" != 0 ]; then
  if ! wait "$prep_pid"; then
    cat target/podman-prepare.log >&2
    echo "podman-deploy --prepare failed (log above)" >&2
    exit 1
  fi
  cat target/podman-prepare.log >&2
  PODMAN_DEPLOY_BIN_DIR=$HOTCOLD_OPERATOR_BIN_DIR scripts/podman-deploy.sh
fi

# A short fuzz smoke of every decoder and parser (fuzz/, nightly); the long
# run is scripts/fuzz.sh SECONDS. Without nightly it says SKIPPED, except in
# CI, where that is a failure.
if [ $# -eq 0 ]; then
  if rustup toolchain list 2>/dev/null | grep -q nightly; then
    FUZZ_PROFILE=${FUZZ_PROFILE:-dev} scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
  elif [ "${CI:-}" = true ]; then
    echo "CI: the nightly toolchain is missing, so the fuzz smoke cannot run" >&2
    exit 1
  else
    echo "SKIPPED: fuzz smoke (no nightly toolchain: rustup toolchain install nightly)"
  fi
fi
