#!/usr/bin/env bash
# A throwaway OpenWrt-like network in namespaces, for tests and the demo.
#
#   tests/lab/lab.sh up PREFIX     create it      tests/lab/lab.sh down PREFIX   remove it
#
#   PREFIX-lan1 192.168.1.20 ─┐                          ┌─ PREFIX-wan 198.51.100.10 (SIP server)
#   PREFIX-lan2 192.168.1.21 ─┴─ br-lan PREFIX-r wan ────┤        .20 (media gateway) .30 (trusted proxy)
#                    192.168.1.1/24     198.51.100.1/24  └─       .66 (a stranger)
#
# The router runs a `table inet fw4` shaped like OpenWrt's default ruleset: forward
# accepts established/related and LAN→WAN, drops new WAN→LAN (no port forwards, so no
# `ct status dnat accept`), masquerades on wan. Like fw4, it splices the package's
# include files from files/nftables.d/{table-pre,table-post,chain-pre/*,chain-post/*}.
set -euo pipefail
cmd="${1:?usage: lab.sh up|down PREFIX}"
P="${2:?usage: lab.sh up|down PREFIX}"
here="$(cd "$(dirname "$0")" && pwd)"
includes="${SIPALG_NFT_INCLUDES:-$here/../../files/nftables.d}"

down() {
  for ns in "$P-r" "$P-lan1" "$P-lan2" "$P-wan"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

# Concatenates the include files fw4 would splice at POSITION (and CHAIN).
includes_for() {
  local dir="$includes/$1"
  [ -d "$dir" ] || return 0
  find "$dir" -maxdepth 1 -name '*.nft' -type f | sort | while read -r f; do
    sed 's/^/\t\t/' "$f"
    echo
  done
}

# With SIPALG_LAB_KERNEL_HELPER=1 the router looks like one with nf_conntrack_sip
# loaded: fw4 then declares the helper and attaches it to SIP from the LAN zone.
helper_objects() {
  [ "${SIPALG_LAB_KERNEL_HELPER:-0}" = 1 ] || return 0
  printf '\tct helper sip {\n\t\ttype "sip" protocol udp\n\t\tl3proto inet\n\t}\n'
}

helper_rules() {
  [ "${SIPALG_LAB_KERNEL_HELPER:-0}" = 1 ] || return 0
  printf '\t\tmeta l4proto udp udp dport 5060 ct helper set "sip" comment "!fw4: SIP"\n'
}

fw4_ruleset() {
  cat <<NFT
table inet fw4
flush table inet fw4
table inet fw4 {
$(includes_for table-pre)
$(helper_objects)
	chain input {
		type filter hook input priority filter; policy accept;
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
$(includes_for chain-pre/prerouting)
		iifname "br-lan" jump helper_lan comment "!fw4: Handle lan IPv4/IPv6 helper assignment"
$(includes_for chain-post/prerouting)
	}
	chain helper_lan {
$(helper_rules)
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
$(includes_for chain-pre/forward)
		ct state established,related accept comment "!fw4: Allow forwarded established and related flows"
		iifname "br-lan" jump forward_lan
		iifname "wan" jump forward_wan
$(includes_for chain-post/forward)
	}
	chain forward_lan {
$(includes_for chain-pre/forward_lan)
		oifname "wan" accept
		oifname "br-lan" accept
$(includes_for chain-post/forward_lan)
	}
	chain forward_wan {
$(includes_for chain-pre/forward_wan)
		drop comment "!fw4: reject new WAN to LAN"
	}
	chain dstnat {
		type nat hook prerouting priority dstnat; policy accept;
$(includes_for chain-pre/dstnat)
$(includes_for chain-post/dstnat)
	}
	chain srcnat {
		type nat hook postrouting priority srcnat; policy accept;
$(includes_for chain-pre/srcnat)
		oifname "wan" jump srcnat_wan
$(includes_for chain-post/srcnat)
	}
	chain srcnat_wan {
		meta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 wan traffic"
	}
	chain mangle_prerouting {
		type filter hook prerouting priority mangle; policy accept;
$(includes_for chain-pre/mangle_prerouting)
$(includes_for chain-post/mangle_prerouting)
	}
	chain mangle_postrouting {
		type filter hook postrouting priority mangle; policy accept;
$(includes_for chain-pre/mangle_postrouting)
$(includes_for chain-post/mangle_postrouting)
	}
$(includes_for table-post)
}
NFT
}

up() {
  down
  for ns in "$P-r" "$P-lan1" "$P-lan2" "$P-wan"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  R="$P-r"
  ip -n "$R" link add br-lan type bridge
  ip -n "$R" addr add 192.168.1.1/24 dev br-lan
  ip -n "$R" link set br-lan up
  local i=1
  for host in lan1 lan2; do
    ip link add "$P-$host-r" type veth peer name "$P-$host"
    ip link set "$P-$host-r" netns "$R"
    ip link set "$P-$host" netns "$P-$host"
    ip -n "$R" link set "$P-$host-r" master br-lan up
    ip -n "$P-$host" link set "$P-$host" name eth0
    ip -n "$P-$host" addr add "192.168.1.$((19 + i))/24" dev eth0
    ip -n "$P-$host" link set eth0 up
    ip -n "$P-$host" route add default via 192.168.1.1
    i=$((i + 1))
  done
  ip link add "$P-wan-r" type veth peer name "$P-wan"
  ip link set "$P-wan-r" netns "$R"
  ip link set "$P-wan" netns "$P-wan"
  ip -n "$R" link set "$P-wan-r" name wan
  ip -n "$R" addr add 198.51.100.1/24 dev wan
  ip -n "$R" link set wan up
  ip -n "$R" route add default via 198.51.100.254 dev wan onlink
  ip -n "$P-wan" link set "$P-wan" name eth0
  for a in 10 20 30 66; do ip -n "$P-wan" addr add "198.51.100.$a/24" dev eth0; done
  ip -n "$P-wan" link set eth0 up
  ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
  fw4_ruleset | ip netns exec "$R" nft -f -
}

case "$cmd" in
  up) up ;;
  down) down ;;
  ruleset) fw4_ruleset ;;
  *) echo "usage: lab.sh up|down|ruleset PREFIX" >&2; exit 2 ;;
esac
