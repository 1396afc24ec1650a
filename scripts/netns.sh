#!/usr/bin/env bash
# Two hosts on one machine, joined by a WireGuard tunnel over a shaped line:
#
#   root ns ──(operator veth 10.79.P.1/.2)── PREFIX-cloud ──(line veth 10.77.P.1/.2, tc tbf)── PREFIX-nas
#                                              wg 10.78.P.1  ═══ WireGuard (wireguard-go) ═══  wg 10.78.P.2
#
# The cloud reaches the NAS only through the tunnel (10.78.P.2); the test
# process reaches the cloud's HTTP on 10.79.P.2. The tunnel is rendered from
# deploy/wireguard/ by its render.sh, the configs operators deploy: the NAS
# dials the cloud's line address. Root only.
#
# Usage:
#   scripts/netns.sh up [RATE]     # RATE for tc tbf, e.g. 20mbit (default); "off" for none
#   scripts/netns.sh down          # removes everything `up` made; safe to repeat
#   scripts/netns.sh check         # exit 0 if this machine can run the harness
# Env: HC_NETNS_PREFIX (default hc) and HC_NETNS_NET (P above, default 77..79 → third octet 0)
set -euo pipefail

P=${HC_NETNS_PREFIX:-hc}
N=${HC_NETNS_NET:-0}
CLOUD=$P-cloud
NAS=$P-nas
WG_C=${P}wgc
WG_N=${P}wgn
STATE=/run/hotcold-netns-$P

need() { command -v "$1" >/dev/null 2>&1 || { echo "netns.sh: $1 is missing (apt-get install ${2:-$1})" >&2; exit 3; }; }

check() {
	[ "$(id -u)" = 0 ] || { echo "netns.sh: needs root" >&2; exit 3; }
	need ip iproute2
	need tc iproute2
	need wg wireguard-tools
	need wireguard-go wireguard-go
	[ -c /dev/net/tun ] || { echo "netns.sh: /dev/net/tun is missing" >&2; exit 3; }
}

down() {
	# Deleting a WireGuard interface ends its wireguard-go; deleting the
	# namespaces removes the veths in them.
	ip netns exec "$CLOUD" ip link del "$WG_C" 2>/dev/null || true
	ip netns exec "$NAS" ip link del "$WG_N" 2>/dev/null || true
	ip link del "$P-op" 2>/dev/null || true
	ip netns del "$CLOUD" 2>/dev/null || true
	ip netns del "$NAS" 2>/dev/null || true
	if [ -d "$STATE" ]; then
		for pid in "$STATE"/*.pid; do
			[ -e "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
		done
		rm -rf "$STATE"
	fi
	rm -f "/var/run/wireguard/$WG_C.sock" "/var/run/wireguard/$WG_N.sock"
}

up() {
	local rate=${1:-20mbit}
	check
	down
	umask 077
	mkdir -p "$STATE"
	ip netns add "$CLOUD"
	ip netns add "$NAS"
	ip -n "$CLOUD" link set lo up
	ip -n "$NAS" link set lo up

	# The line between the two hosts.
	ip link add "$P-lc" type veth peer name "$P-ln"
	ip link set "$P-lc" netns "$CLOUD"
	ip link set "$P-ln" netns "$NAS"
	ip -n "$CLOUD" addr add "10.77.$N.1/30" dev "$P-lc"
	ip -n "$NAS" addr add "10.77.$N.2/30" dev "$P-ln"
	ip -n "$CLOUD" link set "$P-lc" up
	ip -n "$NAS" link set "$P-ln" up
	if [ "$rate" != off ]; then
		# Both directions: archive traffic goes cloud → NAS, acks come back.
		ip netns exec "$CLOUD" tc qdisc add dev "$P-lc" root tbf rate "$rate" burst 32kbit latency 400ms
		ip netns exec "$NAS" tc qdisc add dev "$P-ln" root tbf rate "$rate" burst 32kbit latency 400ms
	fi

	# The operator's path to the cloud's HTTP API.
	ip link add "$P-op" type veth peer name "$P-opc"
	ip link set "$P-opc" netns "$CLOUD"
	ip addr add "10.79.$N.1/30" dev "$P-op"
	ip -n "$CLOUD" addr add "10.79.$N.2/30" dev "$P-opc"
	ip link set "$P-op" up
	ip -n "$CLOUD" link set "$P-opc" up

	# WireGuard from the very templates operators deploy
	# (deploy/wireguard/render.sh): the NAS dials the cloud's line address
	# and keeps the tunnel open (PersistentKeepalive), as at home. wg-quick's
	# own fields (Address) are applied here, the rest with `wg setconf`.
	CLOUD_PUBLIC_HOST="10.77.$N.1" CLOUD_TUNNEL_IP="10.78.$N.1" NAS_TUNNEL_IP="10.78.$N.2" \
		"$(dirname "$0")/../deploy/wireguard/render.sh" "$STATE/wg" >/dev/null
	ip netns exec "$CLOUD" wireguard-go "$WG_C" >/dev/null 2>&1
	ip netns exec "$NAS" wireguard-go "$WG_N" >/dev/null 2>&1
	for side in cloud nas; do
		if [ "$side" = cloud ]; then ns=$CLOUD dev=$WG_C; else ns=$NAS dev=$WG_N; fi
		conf="$STATE/wg/$side-wg0.conf"
		wg-quick strip "$conf" >"$STATE/wg/$side.setconf"
		ip netns exec "$ns" wg setconf "$dev" "$STATE/wg/$side.setconf"
		addr=$(sed -n 's/^Address *= *//p' "$conf")
		ip -n "$ns" addr add "$addr" dev "$dev"
		ip -n "$ns" link set "$dev" up
	done

	# The tunnel carries traffic before anyone relies on it.
	# (A completed handshake: persistent-keepalive starts one at once.)
	for _ in $(seq 50); do
		if ip netns exec "$CLOUD" wg show "$WG_C" latest-handshakes | awk '{ exit !($2 > 0) }'; then
			echo "cloud=$CLOUD nas=$NAS tunnel=10.78.$N.1->10.78.$N.2 operator=10.79.$N.2 rate=$rate"
			return 0
		fi
		sleep 0.2
	done
	echo "netns.sh: the tunnel did not come up" >&2
	ip netns exec "$CLOUD" wg show >&2 || true
	down
	exit 1
}

case "${1:-}" in
up) up "${2:-20mbit}" ;;
down) down ;;
check) check ;;
*)
	echo "usage: $0 up [RATE]|down|check" >&2
	exit 2
	;;
esac
