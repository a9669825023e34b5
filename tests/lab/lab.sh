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

# Few processes on purpose: under emulation (the VM stage) each one costs a good part of
# a second, `ip netns exec` (a mount namespace and sysfs) more.
down() {
  local ns pids="" dels=""
  for ns in "$P-r" "$P-lan1" "$P-lan2" "$P-wan"; do
    [ -e "/run/netns/$ns" ] || continue
    pids="$pids $(ip netns pids "$ns" 2>/dev/null)"
    dels="${dels}netns del $ns"$'\n'
  done
  # shellcheck disable=SC2086 # one word per pid
  [ -z "${pids// /}" ] || kill -9 $pids 2>/dev/null || true
  [ -z "$dels" ] || printf '%s' "$dels" | ip -force -batch - 2>/dev/null || true
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
# `up` loads the module where it is one (built in on the CI host's kernel; a module in
# Debian's, which the VM stage boots).
helper() { [ "${SIPALG_LAB_KERNEL_HELPER:-0}" = 1 ]; }

# With SIPALG_LAB_FLOWTABLE=1 the router has fw4's software flow offloading on (LuCI:
# Network -> Firewall -> "Software flow offloading", `option flow_offloading 1`), as
# openwrt/firewall4 root/usr/share/firewall4/templates/ruleset.uc (at b6e5157) emits it:
# the `ft` flowtable (hook ingress priority 0, the devices, `counter`) and
# `meta l4proto { tcp, udp } flow offload @ft;` as the first rule of chain forward,
# before the chain-pre/forward includes. A kernel without flowtables (nf_flow_table_inet,
# nft_flow_offload) refuses the table: tests that need one probe it first.
flowtable() { [ "${SIPALG_LAB_FLOWTABLE:-0}" = 1 ]; }

# The flowtable's devices as fw4 resolves them without hardware offloading
# (root/usr/share/ucode/fw4.uc, resolve_offload_devices): the `physdev` (ubus
# network.interface's `device`) of every network of every zone, if it exists in
# /sys/class/net, sorted and unique, printed with fw4.set(devices, true) as
# `{ "a", "b" }`. Here: lan's br-lan and wan's wan.
flowtable_devices() {
  local d list=""
  while read -r d; do
    if [ -n "${ROUTER_LINKS:-}" ]; then
      grep -qx -- "$d" <<<"$ROUTER_LINKS" || continue
    else
      [ -e "/sys/class/net/$d" ] || continue
    fi
    list="$list${list:+, }\"$d\""
  done < <(printf '%s\n' br-lan wan | sort -u)
  printf '{ %s }' "$list"
}

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
$(has_flowtable && echo 'delete flowtable inet fw4 ft')
$(includes ruleset-pre)
table inet fw4 {
$(flowtable && printf '\t#\n\t# Flowtable\n\t#\n\n\tflowtable ft {\n\t\thook ingress priority 0;\n\t\tdevices = %s;\n\t\tcounter;\n\t}\n\n' "$(flowtable_devices)")
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
$(flowtable && printf '\t\tmeta l4proto { tcp, udp } flow offload @ft;\n')
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

# fw4 deletes its flowtable before loading the table again when it has one
# (fw4.check_flowtable(): `nft list flowtables inet` shows inet fw4's `ft`).
has_flowtable() {
  [ -z "${ROUTER_LINKS:-}" ] || return 1 # a new router (up): none yet
  nft list flowtables inet 2>/dev/null | grep -q 'flowtable ft '
}

up() {
  down
  if helper; then
    modprobe -q nf_conntrack_sip 2>/dev/null || true
    modprobe -q nf_nat_sip 2>/dev/null || true
  fi
  R="$P-r"
  # The namespaces and the veth pairs, each end created in its namespace.
  ip -batch - <<BATCH
netns add $R
netns add $P-lan1
netns add $P-lan2
netns add $P-wan
link add $P-lan1-r netns $R type veth peer name eth0 netns $P-lan1
link add $P-lan2-r netns $R type veth peer name eth0 netns $P-lan2
link add wan netns $R type veth peer name eth0 netns $P-wan
BATCH
  ip -n "$R" -batch - <<BATCH
link set lo up
link add br-lan type bridge
addr add 192.168.1.1/24 dev br-lan
link set br-lan up
link set $P-lan1-r master br-lan up
link set $P-lan2-r master br-lan up
addr add 198.51.100.1/24 dev wan
link set wan up
route add default via 198.51.100.254 dev wan onlink
BATCH
  local i=20 host
  for host in lan1 lan2; do
    ip -n "$P-$host" -batch - <<BATCH
link set lo up
addr add 192.168.1.$i/24 dev eth0
link set eth0 up
route add default via 192.168.1.1
BATCH
    i=$((i + 1))
  done
  ip -n "$P-wan" -batch - <<BATCH
link set lo up
addr add 198.51.100.10/24 dev eth0
addr add 198.51.100.20/24 dev eth0
addr add 198.51.100.30/24 dev eth0
addr add 198.51.100.66/24 dev eth0
link set eth0 up
BATCH
  # As on OpenWrt, where br_netfilter is not loaded: bridged packets do not run the IP
  # hooks inside the bridge (which would lose the socket nft's tproxy assigns). That
  # key and conntrack's exist only with their modules loaded: sysctl goes on without.
  nsenter --net="/run/netns/$R" sysctl -qw net.ipv4.ip_forward=1 \
    net.netfilter.nf_conntrack_acct=1 net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
  ROUTER_LINKS="$(ip -n "$R" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')" \
    fw4_ruleset | nsenter --net="/run/netns/$R" nft -f -
}

case "$cmd" in
  up) up ;;
  down) down ;;
  # What `fw4 reload` (also run on interface events) does: the whole fw4 table again.
  reload-fw4) ip netns exec "$P-r" bash "$0" ruleset "$P" | ip netns exec "$P-r" nft -f - ;;
  # The fw4 ruleset, as fw4 would print it in the namespace this runs in.
  ruleset) fw4_ruleset ;;
  *) echo "usage: lab.sh up|down|reload-fw4|ruleset PREFIX" >&2; exit 2 ;;
esac
