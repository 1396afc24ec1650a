#!/usr/bin/env bash
# Renders both WireGuard configs from the templates beside this script.
#   deploy/wireguard/render.sh OUT_DIR      (values from the environment)
# Needs: CLOUD_PUBLIC_HOST, and optionally CLOUD_TUNNEL_IP (10.77.0.1),
# NAS_TUNNEL_IP (10.77.0.2), CLOUD_WG_PORT (51820). Keys are generated with
# `wg genkey` unless CLOUD_PRIVATE_KEY / NAS_PRIVATE_KEY are given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: render.sh OUT_DIR}
: "${CLOUD_PUBLIC_HOST:?set CLOUD_PUBLIC_HOST to the public name or IP of the cloud VM}"
export CLOUD_TUNNEL_IP=${CLOUD_TUNNEL_IP:-10.77.0.1}
export NAS_TUNNEL_IP=${NAS_TUNNEL_IP:-10.77.0.2}
export CLOUD_WG_PORT=${CLOUD_WG_PORT:-51820}
genkey() { if command -v wg >/dev/null; then wg genkey; else head -c 32 /dev/urandom | base64; fi; }
pubkey() { if command -v wg >/dev/null; then wg pubkey; else echo "RUN-wg-pubkey-ON-THE-PRIVATE-KEY"; cat >/dev/null; fi; }
if [ -z "${CLOUD_PRIVATE_KEY:-}" ]; then CLOUD_PRIVATE_KEY=$(genkey); fi
if [ -z "${NAS_PRIVATE_KEY:-}" ]; then NAS_PRIVATE_KEY=$(genkey); fi
if [ -z "${CLOUD_PUBLIC_KEY:-}" ]; then CLOUD_PUBLIC_KEY=$(echo "$CLOUD_PRIVATE_KEY" | pubkey); fi
if [ -z "${NAS_PUBLIC_KEY:-}" ]; then NAS_PUBLIC_KEY=$(echo "$NAS_PRIVATE_KEY" | pubkey); fi
export CLOUD_PRIVATE_KEY NAS_PRIVATE_KEY CLOUD_PUBLIC_KEY NAS_PUBLIC_KEY
mkdir -p "$out"
umask 077
for side in cloud nas; do
  tmpl="$here/$side-wg0.conf.template"
  text=$(cat "$tmpl")
  for var in CLOUD_TUNNEL_IP NAS_TUNNEL_IP CLOUD_WG_PORT CLOUD_PRIVATE_KEY NAS_PRIVATE_KEY CLOUD_PUBLIC_KEY NAS_PUBLIC_KEY CLOUD_PUBLIC_HOST; do
    # Base64 keys never contain '|', so it is a safe sed delimiter.
    text=$(printf '%s\n' "$text" | sed "s|[\$]{$var}|${!var}|g")
  done
  if printf '%s\n' "$text" | grep -q '[$]{'; then
    echo "unrendered placeholder left in $tmpl" >&2
    exit 1
  fi
  printf '%s\n' "$text" > "$out/$side-wg0.conf"
done
echo "wrote $out/cloud-wg0.conf and $out/nas-wg0.conf (mode 600)"
