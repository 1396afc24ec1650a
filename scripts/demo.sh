#!/usr/bin/env bash
# Quick start: build, then run the demo (both programs, embedded SQLite
# stores, no servers to install). Arguments go to the demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
exec target/release/demo "$@"
