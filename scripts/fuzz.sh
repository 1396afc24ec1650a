#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer, nightly) for
# SECONDS each (default 60) and prints one table: target, executions,
# exec/s, crashes. Installs cargo-fuzz if it is missing. A crash stops with
# exit 1 and names the artifact under fuzz/artifacts/<target>/; turn it into
# a regression test before fixing it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --runs N [TARGET...]   (until N executions per target)
#
# FUZZ_PROFILE=dev builds without optimisation and with overflow checks:
# the CI smoke (scripts/test.sh) uses it, because an optimised build of
# everything the targets reach (the whole cloud-service) took 10 of a
# fresh CI run's 44 minutes, and a dev build about half the CPU; it runs
# 10-20x fewer executions per second. Long runs keep the default, -O.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--runs" ]; then
  budget=(-runs="$2")
  secs="-"
  shift 2
else
  secs=${1:-60}
  budget=(-max_total_time="$secs")
  shift || true
fi
if ! rustup toolchain list | grep -q nightly; then
  echo "fuzzing needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --help >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io" >&2
  cargo install -q cargo-fuzz >&2
fi
cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
profile=(-O)
if [ "${FUZZ_PROFILE:-release}" = dev ]; then
  profile=(--dev)
fi
cargo +nightly fuzz build "${profile[@]}" >&2
echo "| target | seconds | executions | exec/s | crashes |"
echo "|---|---|---|---|---|"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if cargo +nightly fuzz run "${profile[@]}" "$t" "corpus/$t" -- "${budget[@]}" -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    crashes=0
  else
    crashes=1
    failed=1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  echo "| $t | $secs | ${runs:-?} | ${rate:-?} | $crashes |"
  if [ "$crashes" != 0 ]; then
    grep -E "SUMMARY|Test unit written|panicked" "$log" | head -5 >&2 || true
  fi
  rm -f "$log"
done
exit $failed
