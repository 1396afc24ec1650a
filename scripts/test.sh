#!/usr/bin/env bash
# The whole test suite, against real components: installs ClickHouse from
# Debian's packages if it is missing, starts a private server on loopback,
# builds the binaries the end-to-end tests run as processes, runs every test,
# and stops the server. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi

export CLICKHOUSE_DIR=${CLICKHOUSE_DIR:-$(mktemp -d /tmp/hotcold-ch.XXXXXX)}
url=$(scripts/clickhouse.sh start "$CLICKHOUSE_DIR")
trap 'scripts/clickhouse.sh stop "$CLICKHOUSE_DIR"; rm -rf "$CLICKHOUSE_DIR"' EXIT
echo "ClickHouse $(curl -fsS "$url/?query=SELECT%20version()") at $url"

export HOTCOLD_CLICKHOUSE_URL=$url
export HOTCOLD_REQUIRE_CLICKHOUSE=1
cargo build --workspace --bins
cargo test --workspace "$@"
