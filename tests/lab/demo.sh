#!/usr/bin/env bash
# The demo: builds sipalgd and runs a throwaway namespace lab where a LAN phone behind an
# OpenWrt-like NAT router registers, calls out and receives a call through sipalgd,
# printing what the ALG rewrote and the status table. Needs root; cleans up after itself.
#
#   bash tests/lab/demo.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in ip nft iptables conntrack; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool: apt-get install iproute2 nftables iptables conntrack" >&2
    exit 1
  }
done
cargo build --release --quiet --bins --examples
exec target/release/examples/demo
