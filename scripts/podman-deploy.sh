#!/usr/bin/env bash
# The deploy files, run for real on one host with podman: builds the images
# of deploy/docker (from the host's release binaries, on a base image made
# locally with debootstrap: no registry is needed), brings up the NAS compose
# file (nas-gateway + ClickHouse from Debian's package, in America/New_York)
# and the cloud compose file with podman-compose, waits for their health
# checks, ingests trades over ten days, archives the old days to the NAS,
# queries across hot and cold, checks every count, and tears it all down.
#
#   scripts/podman-deploy.sh           the whole run (as root)
#   scripts/podman-deploy.sh --clean   remove the images it builds and caches
#   scripts/podman-deploy.sh --prepare only install podman and make the base
#                                      image (what needs no binaries: test.sh
#                                      runs it beside the build)
#
# Everything listens on 127.0.0.1 on the host network (an overlay laid over
# each compose file); nothing is fetched but Debian's packages
# (apt-get, debootstrap, apt-get inside the image builds) and PyPI's
# podman-compose. Not root, or podman cannot run here: prints
# "SKIPPED: <reason>" and exits 0, except with CI=true, where that fails.
#
# Settings (environment): CLOUD_HTTP_PORT (38080), HOTCOLD_QUIC_PORT (37443),
# NAS_HTTP_PORT (37080), CLICKHOUSE_HTTP_PORT (38123), CLICKHOUSE_TCP_PORT
# (39000), CLICKHOUSE_TZ (America/New_York), PODMAN_DEPLOY_BIN_DIR (a folder
# with both binaries, instead of cargo build --release), PODMAN_DEPLOY_ROWS
# (40000), PODMAN_DEPLOY_KEEP=1 (leave the stack up and its folder behind).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

export CLOUD_HTTP_PORT=${CLOUD_HTTP_PORT:-38080}
export NAS_HTTP_PORT=${NAS_HTTP_PORT:-37080}
export CLICKHOUSE_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-38123}
export CLICKHOUSE_TCP_PORT=${CLICKHOUSE_TCP_PORT:-39000}
export CLICKHOUSE_TZ=${CLICKHOUSE_TZ:-America/New_York}
quic_port=${HOTCOLD_QUIC_PORT:-37443}
rows=${PODMAN_DEPLOY_ROWS:-40000}
base_image=localhost/hotcold-base:bookworm
export CLICKHOUSE_IMAGE=localhost/hotcold-clickhouse:18.16
cloud_image=hotcold/cloud-service:latest
nas_image=hotcold/nas-gateway:latest
# The Synology user of the NAS compose file (PUID/PGID) and the images' own
# user (uid 1000, deploy/docker/Dockerfile).
export PUID=1026 PGID=100
image_uid=1000
compose_version=1.6.0
t0=$(date +%s)

log() { echo "podman-deploy [$(($(date +%s) - t0))s]: $*" >&2; }
fail() { echo "podman-deploy: FAILED: $*" >&2; exit 1; }
skip() {
  if [ "${CI:-}" = true ]; then
    fail "CI: podman cannot be set up here: $*"
  fi
  echo "SKIPPED: podman deploy ($*)"
  exit 0
}
podman_compose() { python3 -m podman_compose "$@"; }

if [ "${1:-}" = --clean ]; then
  for name in hotcold/cloud-service hotcold/nas-gateway localhost/hotcold-clickhouse; do
    for i in $(podman images -q --filter "reference=$name"); do podman rmi -f "$i" >/dev/null 2>&1 || true; done
  done
  podman rmi -f "$base_image" >/dev/null 2>&1 || true
  exit 0
fi

# --- 1. podman, podman-compose, debootstrap -------------------------------
[ "$(id -u)" = 0 ] || skip "not root: podman, debootstrap and apt-get need root here"
missing=()
for c in podman debootstrap runc fuse-overlayfs slirp4netns newuidmap iptables; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing podman, runc, debootstrap from Debian's packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || skip "apt-get update failed"
  apt-get install -y -qq podman fuse-overlayfs slirp4netns uidmap debootstrap iptables runc >&2 \
    || skip "apt-get install podman failed"
fi
if ! python3 -m podman_compose --version >/dev/null 2>&1; then
  log "installing podman-compose $compose_version from PyPI"
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q "podman-compose==$compose_version" >&2 \
    || skip "pip install podman-compose failed"
fi
# crun fails on this kind of hybrid cgroup host, and the default open-file
# limit of containers is above the host's hard limit: a drop-in sets both.
mkdir -p /etc/containers/containers.conf.d
conf=/etc/containers/containers.conf.d/50-hotcold.conf
want='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$conf"
fi
podman info >/dev/null 2>&1 || skip "podman info fails: $(podman info 2>&1 | tail -n1)"

# --- 2. a base image without a registry (cached in podman's storage) -------
# The host's own Debian mirror: the first URI of a deb822 source or of a
# one-line `deb` entry, the security archive left aside.
mirror() {
  local m
  m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '$1 == "URIs:" || $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' \
    | grep -v -- '-security' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}
if ! podman image exists "$base_image"; then
  root=$(mktemp -d /var/tmp/hotcold-rootfs.XXXXXX)
  log "debootstrap bookworm from $(mirror) (once; kept as $base_image)"
  debootstrap --variant=minbase bookworm "$root" "$(mirror)" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; rm -rf "$root" "$root.log"; skip "debootstrap failed"; }
  tar --numeric-owner -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$root" "$root.log"
fi
podman run --rm --network host "$base_image" true >/dev/null 2>&1 \
  || skip "a container does not start: $(podman run --rm --network host "$base_image" true 2>&1 | tail -n1)"
if [ "${1:-}" = --prepare ]; then
  log "prepared: podman and the base image $base_image are ready"
  exit 0
fi

# --- 3. the images ---------------------------------------------------------
if [ -n "${PODMAN_DEPLOY_BIN_DIR:-}" ]; then
  bin=$(cd "$PODMAN_DEPLOY_BIN_DIR" && pwd)
else
  log "cargo build --release -p cloud-service -p nas-gateway"
  cargo build --release --locked -p cloud-service -p nas-gateway >&2
  bin=${CARGO_TARGET_DIR:-$repo/target}/release
fi
for b in cloud-service nas-gateway; do
  [ -x "$bin/$b" ] || fail "$bin/$b is missing"
done

work=$(mktemp -d /var/tmp/hotcold-podman.XXXXXX)
nas_project=hotcold-podman-nas
cloud_project=hotcold-podman-cloud
containers_of() {
  podman ps -a --filter "label=io.podman.compose.project=$1" --format '{{.Names}}'
}
teardown() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    for p in "$cloud_project" "$nas_project"; do
      for c in $(containers_of "$p"); do
        echo "--- log of $c (last 40 lines)" >&2
        podman logs --tail 40 "$c" 2>&1 | grep -v 'systemd' >&2 || true
      done
    done
  fi
  if [ "${PODMAN_DEPLOY_KEEP:-}" = 1 ]; then
    log "kept: $work (podman-compose -p $cloud_project / -p $nas_project down to stop)"
    return
  fi
  for p in "$cloud_project" "$nas_project"; do
    if [ -n "$(containers_of "$p")" ]; then
      (cd "$work/${p##*-}" 2>/dev/null && podman_compose --in-pod false -p "$p" \
        -f docker-compose.yml -f one-host.yml down -t 10 >/dev/null 2>&1) || true
      for c in $(containers_of "$p"); do podman rm -f "$c" >/dev/null 2>&1 || true; done
    fi
  done
  rm -rf "$work"
  log "torn down ($([ "$rc" = 0 ] && echo passed || echo "failed, exit $rc"))"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Containers an interrupted run left (kill -9, PODMAN_DEPLOY_KEEP=1) go first.
for p in "$cloud_project" "$nas_project"; do
  for c in $(containers_of "$p"); do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
done

for port in "$CLOUD_HTTP_PORT" "$NAS_HTTP_PORT" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT"; do
  if ss -Htln "sport = :$port" | grep -q .; then fail "TCP port $port is taken (see the settings at the top of $0)"; fi
done
if ss -Huln "sport = :$quic_port" | grep -q .; then fail "UDP port $quic_port is taken"; fi

# build TAG KEY ARGS...: podman build (docker format: OCI images drop the
# HEALTHCHECK), unless the image under TAG was built from the same KEY (a
# hash of its inputs, kept as a second tag, TAG's name:build-HASH; podman
# 4.3 drops --label on a --target stage that is not the last): a warm run
# builds nothing. Then removes the image TAG named before, if this build
# replaced it, and the untagged stage images the build left, so that
# nothing piles up from run to run (dangling images that were there before
# are left alone).
dangling_before=" $(podman images -q --filter dangling=true | tr '\n' ' ') "
build() {
  local tag=$1 keytag old new i t
  keytag=${1%:*}:build-$(echo "$2" | sha256sum | cut -c1-32)
  shift 2
  old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  if [ -n "$old" ] && [ "$(podman image inspect --format '{{.Id}}' "$keytag" 2>/dev/null || true)" = "$old" ]; then
    log "$tag is up to date"
    return
  fi
  log "building $tag"
  podman build -q --format docker --network host -t "$tag" -t "$keytag" "$@" >/dev/null
  new=$(podman image inspect --format '{{.Id}}' "$tag")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    for t in $(podman image inspect --format '{{range .RepoTags}}{{.}} {{end}}' "$old" 2>/dev/null); do
      podman untag "$old" "$t" >/dev/null 2>&1 || true
    done
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  for i in $(podman images -q --filter dangling=true); do
    case $dangling_before in *" $i "*) ;; *) podman rmi "$i" >/dev/null 2>&1 || true ;; esac
  done
}
base_id=$(podman image inspect --format '{{.Id}}' "$base_image")
build "$CLICKHOUSE_IMAGE" "$(cat "$repo"/deploy/docker/clickhouse/* | sha256sum | cut -c1-32)-$base_id" \
  --build-arg BASE_IMAGE="$base_image" "$repo/deploy/docker/clickhouse"
# The prebuilt binaries' context: the two files alone, at the paths the
# Dockerfile's binaries-prebuilt stage copies (hard links where possible).
mkdir -p "$work/context/target/release"
for b in cloud-service nas-gateway; do
  ln -f "$bin/$b" "$work/context/target/release/$b" 2>/dev/null || cp "$bin/$b" "$work/context/target/release/$b"
done
for target in cloud-service nas-gateway; do
  key=$(cat "$repo/deploy/docker/Dockerfile" "$bin/$target" | sha256sum | cut -c1-32)-$base_id
  build "hotcold/$target:latest" "$key" -f "$repo/deploy/docker/Dockerfile" --target "$target" \
    --build-arg BINARIES=prebuilt --build-arg RUNTIME_IMAGE="$base_image" \
    --build-arg BUILD_IMAGE="$base_image" "$work/context"
done
rm -rf "$work/context"

# --- 4. certificates, tokens, configuration (docs/DEPLOY.md 1, 3, 4) ------
"$bin/cloud-service" certs init --out "$work/certs" --org "podman deploy" >/dev/null
mkdir -p "$work"/cloud/{config,certs,data,secrets} "$work"/nas/{config,certs,staging,clickhouse,clickhouse-logs}
cp "$work"/certs/{ca.pem,cloud-service.pem,cloud-service.key,nas-gateway.pem} "$work/cloud/certs/"
cp "$work"/certs/{ca.pem,nas-gateway.pem,nas-gateway.key,cloud-service.pem} "$work/nas/certs/"
"$bin/cloud-service" tokens --out "$work/cloud/secrets" >/dev/null
admin=$(cat "$work/cloud/secrets/admin.token")
ingest=$(cat "$work/cloud/secrets/ingest.token")
read_token=$(cat "$work/cloud/secrets/read.token")

cat >"$work/cloud/config/cloud.yaml" <<EOF
# scripts/podman-deploy.sh: the cloud VM's config (docs/DEPLOY.md, 3).
# The HTTP address and token files come from the compose file.
data-dir: /data
hot:
  kind: sqlite
hot-retention: 7d
link:
  gateway: 127.0.0.1:$quic_port
  ca: /certs/ca.pem
  cert: /certs/cloud-service.pem
  key: /certs/cloud-service.key
archive:
  purge-grace: 0s             # the test reads cold back at once; keep 5m in production
schedule:
  enabled: false              # archive runs by hand here
tables:
  - name: trades
    time-column: ts
    columns:
      - { name: ts, type: timestamp_ms }
      - { name: exchange, type: lc_string }
      - { name: symbol, type: lc_string }
      - { name: trade_id, type: uint64 }
      - { name: price, type: decimal(8) }
      - { name: amount, type: decimal(8) }
      - { name: buyer_maker, type: bool }
EOF
cat >"$work/nas/config/nas.yaml" <<EOF
# scripts/podman-deploy.sh: the NAS's config (docs/DEPLOY.md, 4).
listen: 127.0.0.1:$quic_port        # the WireGuard address in production
data-dir: /data
tls:
  ca: /certs/ca.pem
  cert: /certs/nas-gateway.pem
  key: /certs/nas-gateway.key
cold:
  kind: clickhouse
  url: http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
  database: hotcold
http-listen: 127.0.0.1:$NAS_HTTP_PORT
EOF
# The containers' users own what they read and write: uid 1000 in the
# cloud image, PUID:PGID on the NAS (ClickHouse's image chowns its own).
chown -R "$image_uid:$image_uid" "$work"/cloud/{certs,data,secrets}
chown -R "$PUID:$PGID" "$work"/nas/{certs,staging}
for side in cloud nas; do
  cp "$repo/deploy/$side/docker-compose.yml" "$work/$side/docker-compose.yml"
done
# Both sides on one host: laid over each compose file (-f docker-compose.yml
# -f one-host.yml), these put every container on the host network, bound to
# 127.0.0.1 on the ports above, so the cloud reaches the gateway's QUIC port
# on loopback (the WireGuard address in production), nothing listens beyond
# loopback and no container network is made. The values are written in:
# podman-compose does not fill in variables under !override.
cat >"$work/cloud/one-host.yml" <<EOF
services:
  cloud-service:
    network_mode: host
    ports: !reset []
    environment:
      HOTCOLD__HTTP_LISTEN: "127.0.0.1:$CLOUD_HTTP_PORT"
    healthcheck:
      test: !override ["CMD", "curl", "-fsS", "http://127.0.0.1:$CLOUD_HTTP_PORT/health"]
      interval: 2s
EOF
cat >"$work/nas/one-host.yml" <<EOF
services:
  nas-gateway:
    healthcheck:
      test: !override ["CMD", "curl", "-fsS", "http://127.0.0.1:$NAS_HTTP_PORT/health"]
      interval: 2s
  clickhouse:
    network_mode: host
    ports: !reset []
    environment:
      CLICKHOUSE_HTTP_PORT: "$CLICKHOUSE_HTTP_PORT"
      CLICKHOUSE_TCP_PORT: "$CLICKHOUSE_TCP_PORT"
      CLICKHOUSE_LISTEN_HOST: 127.0.0.1
    # Within this host's hard limits (a mapping merges key by key, so these
    # replace the compose file's nofile; with any ulimit given, podman sets
    # nproc above the host's limit unless it is given too).
    ulimits:
      nofile: { soft: 20000, hard: 20000 }
      nproc: { soft: 32768, hard: 32768 }
    healthcheck:
      test: !override ["CMD", "wget", "-qO-", "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"]
      interval: 2s
EOF
export HOTCOLD_ROOT=$work/nas

podman run --rm --network none -v "$work/cloud/config:/config:ro" -v "$work/cloud/certs:/certs:ro" \
  "$cloud_image" check-config -c /config/cloud.yaml >/dev/null || fail "cloud.yaml: check-config"
podman run --rm --network none --user "$PUID:$PGID" -v "$work/nas/config:/config:ro" -v "$work/nas/certs:/certs:ro" \
  "$nas_image" check-config -c /config/nas.yaml >/dev/null || fail "nas.yaml: check-config"

# --- 5. up, and healthy (podman's health checks need systemd timers, which
# this host does not run: `podman healthcheck run` is driven here) --------
compose() {
  local side=$1
  shift
  (cd "$work/$side" && podman_compose --in-pod false -p "hotcold-podman-$side" \
    -f docker-compose.yml -f one-host.yml "$@")
}
wait_healthy() {
  local project=$1 service=$2 secs=$3 c i
  c=$(podman ps -a --filter "label=io.podman.compose.project=$project" \
    --filter "label=io.podman.compose.service=$service" --format '{{.Names}}')
  [ -n "$c" ] || fail "no container for $service"
  for i in $(seq 1 $((secs * 2))); do
    if podman healthcheck run "$c" >/dev/null 2>&1; then
      log "$service healthy ($c)"
      return
    fi
    [ "$(podman inspect --format '{{.State.Running}}' "$c")" = true ] || fail "$service exited"
    sleep 0.5
  done
  fail "$service not healthy after ${secs}s"
}
log "NAS: up clickhouse (TZ $CLICKHOUSE_TZ), then nas-gateway"
compose nas up -d --no-build clickhouse >/dev/null 2>&1 || { compose nas up -d --no-build clickhouse; fail "NAS compose up"; }
wait_healthy "$nas_project" clickhouse 60
# depends_on: service_healthy needs podman 4.6; the order is kept by hand.
compose nas up -d --no-build nas-gateway >/dev/null 2>&1 || { compose nas up -d --no-build nas-gateway; fail "NAS compose up"; }
wait_healthy "$nas_project" nas-gateway 60
log "cloud: up cloud-service"
compose cloud up -d --no-build cloud-service >/dev/null 2>&1 || { compose cloud up -d --no-build cloud-service; fail "cloud compose up"; }
wait_healthy "$cloud_project" cloud-service 60

# --- 6. ingest, archive, query across hot and cold, count ----------------
api=http://127.0.0.1:$CLOUD_HTTP_PORT
ch=http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
tz=$(curl -fsS "$ch/?query=SELECT%20timezone()")
[ "$tz" = "$CLICKHOUSE_TZ" ] || fail "ClickHouse runs in $tz, not $CLICKHOUSE_TZ"
# $rows trades evenly over the ten days before the last hour: with 7 days
# hot, the three oldest days go cold.
python3 - "$rows" >"$work/trades.ndjson" <<'PY'
import json, sys, time
n = int(sys.argv[1])
end = int(time.time() * 1000) - 3_600_000
start = end - 10 * 86_400_000
step = (end - start) // n
for i in range(n):
    print(json.dumps({"ts": start + i * step, "exchange": ["binance", "okx"][i % 2],
                      "symbol": ["BTC-USDT", "ETH-USDT", "SOL-USDT"][i % 3], "trade_id": i,
                      "price": "%d.%08d" % (40000 + i % 977, i % 99991), "amount": "0.%08d" % (1 + i % 77777),
                      "buyer_maker": i % 2 == 0}))
PY
from=$(head -n1 "$work/trades.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts"])')
to=$(($(tail -n1 "$work/trades.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts"])') + 1))
log "ingest $rows trades"
out=$(curl -fsS -H "Authorization: Bearer $ingest" --data-binary @"$work/trades.ndjson" "$api/v1/ingest/trades") \
  || fail "ingest"
[ "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])')" = "$rows" ] || fail "ingest answered $out"

log "archive (cloud-service archive inside the cloud container)"
cloud_ctr=$(containers_of "$cloud_project")
report=$(podman exec -e HOTCOLD_ADMIN_TOKEN="$admin" "$cloud_ctr" cloud-service archive --url "$api") || fail "archive: $report"
read -r archived failed pending held < <(echo "$report" | python3 -c \
  'import json,sys; r=json.load(sys.stdin); print(r["rows_archived"], r["failed"], r["pending"], r["held"])') \
  || fail "archive report: $report"
[ "$failed" = 0 ] && [ "$pending" = 0 ] && [ "$held" = 0 ] || fail "archive: $failed failed, $pending pending, $held held: $report"
[ "$archived" -gt 0 ] && [ "$archived" -lt "$rows" ] || fail "archive moved $archived of $rows rows: the test wants both tiers"

cold=$(curl -fsS "$ch/?query=SELECT%20count()%20FROM%20hotcold.trades")
[ "$cold" = "$archived" ] || fail "the NAS's ClickHouse holds $cold rows, the archive reported $archived"

# count FROM TO [FILTER]: rows the cloud answers for [FROM, TO), and the
# watermark it split them at.
count() {
  curl -fsS -D "$work/headers" -H "Authorization: Bearer $read_token" \
    "$api/v1/query/trades?from=$1&to=$2&format=ndjson" >"$work/answer" || fail "query $1..$2"
  wc -l <"$work/answer" | tr -d ' '
}
all=$(count "$from" "$to")
[ "$all" = "$rows" ] || fail "the whole range answered $all rows, $rows were ingested"
python3 - "$work/answer" "$rows" <<'PY' || fail "the answer's trade ids are not 0..rows-1, each once"
import json, sys
ids = sorted(json.loads(l)["trade_id"] for l in open(sys.argv[1]))
sys.exit(0 if ids == list(range(int(sys.argv[2]))) else 1)
PY
wm=$(tr -d '\r' <"$work/headers" | awk -F': ' 'tolower($1) == "x-hotcold-watermark" { print $2 }')
[ -n "$wm" ] || fail "no x-hotcold-watermark header"
expect_cold=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["ts"] < int(sys.argv[2])))' "$work/trades.ndjson" "$wm")
[ "$expect_cold" = "$archived" ] || fail "$expect_cold rows lie below the watermark $wm, $archived were archived"
below=$(count "$from" "$wm")
above=$(count "$wm" "$to")
[ "$below" = "$archived" ] && [ "$above" = $((rows - archived)) ] \
  || fail "below the watermark $below rows (want $archived), above $above (want $((rows - archived)))"
curl -fsS -H "Authorization: Bearer $read_token" \
  "$api/v1/aggregate/trades?from=$from&to=$to&agg=count,sum:amount&format=ndjson" >"$work/aggregate" || fail "aggregate"
python3 - "$work/trades.ndjson" "$work/aggregate" <<'PY' || fail "aggregate over hot and cold: $(head -c 2000 "$work/aggregate")"
import json, sys
from decimal import Decimal
rows = [json.loads(l) for l in open(sys.argv[1])]
want_n, want_sum = len(rows), sum(Decimal(r["amount"]) for r in rows)
n, s = 0, Decimal(0)
for line in open(sys.argv[2]):  # one line per group (exchange, symbol)
    g = json.loads(line)
    n += int(next(v for k, v in g.items() if k.startswith("count")))
    s += Decimal(str(next(v for k, v in g.items() if k.startswith("sum"))))
print(f"aggregate: count {n} (want {want_n}), sum of amount {s} (want {want_sum})", file=sys.stderr)
sys.exit(0 if (n, s) == (want_n, want_sum) else 1)
PY
verify=$(curl -fsS -H "Authorization: Bearer $admin" "$api/v1/admin/verify") || fail "verify"
[ "$(echo "$verify" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')" = True ] || fail "verify: $verify"
log "passed: $rows rows ingested, $archived archived to ClickHouse ($CLICKHOUSE_TZ), $((rows - archived)) hot; every count exact"
