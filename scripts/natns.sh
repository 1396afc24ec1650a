#!/usr/bin/env bash
# Two hosts on one machine with the NAS behind a NAT and no tunnel, for the
# link direction where the NAS dials (link.direction: nas-dials):
#
#   root ns ──(operator veth 10.79.P.1/.2)── PREFIX-cloud
#   PREFIX-cloud 10.77.P.1 ──(line veth /30, tc tbf)── 10.77.P.2 PREFIX-router
#   PREFIX-router 192.168.P.1 ──(home veth /24)── 192.168.P.2 PREFIX-nas
#
# The router masquerades the home network out of its line side (nft), as a
# home router does; the cloud has no route to 192.168.P.0/24, so nothing
# can reach the NAS from outside. Root only.
#
# Usage:
#   scripts/natns.sh up [RATE]   # RATE for tc tbf, e.g. 20mbit (default); "off" for none
#   scripts/natns.sh cut|heal    # the line down / up again (router side)
#   scripts/natns.sh down        # removes everything `up` made; safe to repeat
#   scripts/natns.sh check       # exit 0 if this machine can run the harness
# Env: HC_NETNS_PREFIX (default hcn) and HC_NETNS_NET (P above, default 3)
set -euo pipefail

P=${HC_NETNS_PREFIX:-hcn}
N=${HC_NETNS_NET:-3}
CLOUD=$P-cloud
ROUTER=$P-router
NAS=$P-nas

need() { command -v "$1" >/dev/null 2>&1 || { echo "natns.sh: $1 is missing (apt-get install ${2:-$1})" >&2; exit 3; }; }

check() {
	[ "$(id -u)" = 0 ] || { echo "natns.sh: needs root" >&2; exit 3; }
	need ip iproute2
	need tc iproute2
	need nft nftables
}

down() {
	ip link del "$P-op" 2>/dev/null || true
	for ns in "$CLOUD" "$ROUTER" "$NAS"; do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
	local rate=${1:-20mbit}
	check
	down
	for ns in "$CLOUD" "$ROUTER" "$NAS"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done

	# The line: the cloud's public side and the home router's WAN.
	ip link add "$P-lc" type veth peer name "$P-lr"
	ip link set "$P-lc" netns "$CLOUD"
	ip link set "$P-lr" netns "$ROUTER"
	ip -n "$CLOUD" addr add "10.77.$N.1/30" dev "$P-lc"
	ip -n "$ROUTER" addr add "10.77.$N.2/30" dev "$P-lr"
	ip -n "$CLOUD" link set "$P-lc" up
	ip -n "$ROUTER" link set "$P-lr" up
	if [ "$rate" != off ]; then
		ip netns exec "$CLOUD" tc qdisc add dev "$P-lc" root tbf rate "$rate" burst 32kbit latency 400ms
		ip netns exec "$ROUTER" tc qdisc add dev "$P-lr" root tbf rate "$rate" burst 32kbit latency 400ms
	fi

	# The home network behind the router.
	ip link add "$P-hr" type veth peer name "$P-hn"
	ip link set "$P-hr" netns "$ROUTER"
	ip link set "$P-hn" netns "$NAS"
	ip -n "$ROUTER" addr add "192.168.$N.1/24" dev "$P-hr"
	ip -n "$NAS" addr add "192.168.$N.2/24" dev "$P-hn"
	ip -n "$ROUTER" link set "$P-hr" up
	ip -n "$NAS" link set "$P-hn" up
	ip -n "$NAS" route add default via "192.168.$N.1"
	ip netns exec "$ROUTER" sysctl -qw net.ipv4.ip_forward=1
	# Masquerade out of the WAN; nothing is forwarded in that was not asked
	# for from inside (no port forward: the NAS is unreachable).
	ip netns exec "$ROUTER" nft -f - <<NFT
table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; oifname "$P-lr" masquerade; }
}
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		iifname "$P-hr" oifname "$P-lr" accept
		iifname "$P-lr" oifname "$P-hr" ct state established,related accept
	}
}
NFT

	# The operator's path to the cloud's HTTP API.
	ip link add "$P-op" type veth peer name "$P-opc"
	ip link set "$P-opc" netns "$CLOUD"
	ip addr add "10.79.$N.1/30" dev "$P-op"
	ip -n "$CLOUD" addr add "10.79.$N.2/30" dev "$P-opc"
	ip link set "$P-op" up
	ip -n "$CLOUD" link set "$P-opc" up
	echo "cloud=$CLOUD router=$ROUTER nas=$NAS cloud_ip=10.77.$N.1 nas_ip=192.168.$N.2 operator=10.79.$N.2 rate=$rate"
}

case "${1:-}" in
up) up "${2:-20mbit}" ;;
cut) ip -n "$ROUTER" link set "$P-lr" down ;;
heal) ip -n "$ROUTER" link set "$P-lr" up ;;
down) down ;;
check) check ;;
*)
	echo "usage: $0 up [RATE]|cut|heal|down|check" >&2
	exit 2
	;;
esac
