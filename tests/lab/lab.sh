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
# `ct status dnat accept`), masquerades on wan. Like fw4, it includes the package's
# files from files/nftables.d/ at the hooks fw4's template really has (see fw4_ruleset).
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

# The include statements fw4 emits at one hook, as fw4.includes() does
# (openwrt/firewall4 root/usr/share/ucode/fw4.uc): with auto_includes on, fw4 globs
# /usr/share/nftables.d/{ruleset-pre,ruleset-post,table-pre,table-post}/*.nft and
# /usr/share/nftables.d/{chain-pre,chain-post}/<chain>/*.nft and prints
# `include "<path>"` where its template calls fw4.includes(position, chain).
# Directories of chains whose hook fw4 does not call are simply never read.
includes() {
  local dir="$includes/$1${2:+/$2}" f
  [ -d "$dir" ] || return 0
  for f in "$dir"/*.nft; do
    [ -f "$f" ] && printf '%sinclude "%s"\n' "${3:-}" "$f"
  done
  return 0
}

# With SIPALG_LAB_KERNEL_HELPER=1 the router looks like one with nf_conntrack_sip
# loaded: fw4 then declares the helper (`ct helper sip`) and, the LAN zone not being
# masqueraded (auto_helper), jumps from prerouting to helper_lan, which sets it on SIP.
helper() { [ "${SIPALG_LAB_KERNEL_HELPER:-0}" = 1 ]; }

# A ruleset shaped like `fw4 print` of OpenWrt's default lan/wan configuration
# (openwrt/firewall4 root/usr/share/firewall4/templates/ruleset.uc at b6e5157, unchanged
# in the parts used here since 23.05), reduced to what the lab needs, with the include
# hooks exactly where the template has them: chain-pre/chain-post only in input, forward,
# output, {input,output,forward}_<zone>, dstnat, srcnat, {dstnat,srcnat}_<zone>,
# raw_output, mangle_*, chain-post only in raw_prerouting, and none at all in
# prerouting or helper_<zone>.
fw4_ruleset() {
  cat <<NFT
table inet fw4
flush table inet fw4
$(includes ruleset-pre)
table inet fw4 {
$(helper && printf '\tct helper sip {\n\t\ttype "sip" protocol udp;\n\t}\n')
	define lan_devices = { "br-lan" }
	define wan_devices = { "wan" }
$(includes table-pre "" $'\t')
	chain input {
		type filter hook input priority filter; policy accept;
$(includes chain-pre input $'\t\t')
		ct state vmap { established : accept, related : accept } comment "!fw4: Handle inbound flows"
$(includes chain-post input $'\t\t')
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
$(includes chain-pre forward $'\t\t')
		ct state vmap { established : accept, related : accept } comment "!fw4: Handle forwarded flows"
		iifname "br-lan" jump forward_lan comment "!fw4: Handle lan IPv4/IPv6 forward traffic"
		iifname "wan" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"
$(includes chain-post forward $'\t\t')
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
$(helper && printf '\t\tiifname "br-lan" jump helper_lan comment "!fw4: Handle lan IPv4/IPv6 helper assignment"\n')
	}
	chain forward_lan {
$(includes chain-pre forward_lan $'\t\t')
		jump accept_to_wan comment "!fw4: Accept lan to wan forwarding"
$(includes chain-post forward_lan $'\t\t')
		jump accept_to_lan
	}
	chain forward_wan {
$(includes chain-pre forward_wan $'\t\t')
$(includes chain-post forward_wan $'\t\t')
		jump reject_to_wan
	}
$(helper && printf '\tchain helper_lan {\n\t\tmeta l4proto udp udp dport 5060 ct helper set "sip" comment "!fw4: SIP VoIP connection tracking"\n\t}\n')
	chain accept_to_lan {
		oifname "br-lan" accept comment "!fw4: accept lan IPv4/IPv6 traffic"
	}
	chain accept_to_wan {
		meta nfproto ipv4 oifname "wan" ct state invalid counter drop comment "!fw4: Prevent NAT leakage"
		oifname "wan" accept comment "!fw4: accept wan IPv4/IPv6 traffic"
	}
	chain reject_to_wan {
		oifname "wan" drop comment "!fw4: reject wan IPv4/IPv6 traffic"
	}
	chain dstnat {
		type nat hook prerouting priority dstnat; policy accept;
$(includes chain-pre dstnat $'\t\t')
$(includes chain-post dstnat $'\t\t')
	}
	chain srcnat {
		type nat hook postrouting priority srcnat; policy accept;
$(includes chain-pre srcnat $'\t\t')
		oifname "wan" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"
$(includes chain-post srcnat $'\t\t')
	}
	chain srcnat_wan {
$(includes chain-pre srcnat_wan $'\t\t')
		meta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 wan traffic"
$(includes chain-post srcnat_wan $'\t\t')
	}
	chain raw_prerouting {
		type filter hook prerouting priority raw; policy accept;
$(includes chain-post raw_prerouting $'\t\t')
	}
	chain mangle_prerouting {
		type filter hook prerouting priority mangle; policy accept;
$(includes chain-pre mangle_prerouting $'\t\t')
$(includes chain-post mangle_prerouting $'\t\t')
	}
	chain mangle_postrouting {
		type filter hook postrouting priority mangle; policy accept;
$(includes chain-pre mangle_postrouting $'\t\t')
$(includes chain-post mangle_postrouting $'\t\t')
	}
	chain mangle_forward {
		type filter hook forward priority mangle; policy accept;
$(includes chain-pre mangle_forward $'\t\t')
$(includes chain-post mangle_forward $'\t\t')
	}
$(includes table-post "" $'\t')
}
$(includes ruleset-post)
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
  # What `fw4 reload` (also run on interface events) does: the whole fw4 table again.
  reload-fw4) fw4_ruleset | ip netns exec "$P-r" nft -f - ;;
  ruleset) fw4_ruleset ;;
  *) echo "usage: lab.sh up|down|reload-fw4|ruleset PREFIX" >&2; exit 2 ;;
esac
