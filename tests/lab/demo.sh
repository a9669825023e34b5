#!/usr/bin/env bash
# The demo: builds sipalgd and runs a throwaway namespace lab where a LAN phone behind an
# OpenWrt-like NAT router registers, calls out and receives a call through sipalgd,
# printing what the ALG rewrote and the status table. Needs root; cleans up after itself.
#
#   bash tests/lab/demo.sh
#
# tests/lab/demo-check.sh LOG checks that its output shows what it should.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for pair in ip:iproute2 nft:nftables iptables:iptables conntrack:conntrack; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing tools: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
# SIPALG_DEMO_PREBUILT=1: the binaries are built already (the VM stage builds them on
# the host and runs this inside the guest, which has no toolchain of its own).
[ "${SIPALG_DEMO_PREBUILT:-}" = 1 ] || cargo build --release --quiet --bins --examples
exec target/release/examples/demo
