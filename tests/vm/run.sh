#!/usr/bin/env bash
# Runs one command as root inside Debian's Linux 6.1, booted with virtme-ng (vng) under
# emulation: the stand-in for the kernels OpenWrt ships that are older than this
# machine's (23.05 runs 5.15). The guest sees the host's filesystem (read-only, its
# /tmp an overlay) and this checkout read-write, so test binaries built on the host run
# in it as they are.
#
#   tests/vm/run.sh [--timeout SECONDS] [--] COMMAND [ARGS...]
#
#   tests/vm/run.sh target/debug/deps/lab_calls-0123abcd --test-threads=1
#   tests/vm/run.sh -- sh -c 'nft --check -f rules.nft'
#
# In the guest, before COMMAND: the netfilter modules are loaded (their per-namespace
# sysctls exist only for namespaces made after the module is loaded), TMPDIR is a
# directory on /run (binding a unix socket on the guest's /tmp overlay fails with
# ENXIO), PATH is the host's, and every SIPALG_*, RUST_* and CI variable is passed on.
# The working directory is the checkout's root.
#
# Settings (environment):
#   SIPALG_VM_KERNEL   the kernel image (default: the newest /boot/vmlinuz-6.1.*)
#   SIPALG_VM_KVM=1    use KVM (default: emulation; nested KVM does not work on the CI VMs)
#   SIPALG_VM_CPUS / SIPALG_VM_MEMORY   default 2 / 2G
#
# Exit status: COMMAND's; 124 if it ran out of time; 77 (after a "SKIP" line) when
# vng, qemu or a 6.1 kernel is missing, unless CI=true or SIPALG_REQUIRE_VM=1, where that
# is a failure (1). A VM that does not boot is always a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
limit=1800
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) limit="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: tests/vm/run.sh [--timeout SECONDS] [--] COMMAND [ARGS...]" >&2; exit 2; }

required() { [ "${CI:-}" = true ] || [ "${SIPALG_REQUIRE_VM:-}" = 1 ]; }
unavailable() {
  if required; then
    echo "vm: $1 (CI=true / SIPALG_REQUIRE_VM=1: this is a failure)" >&2
    exit 1
  fi
  echo "SKIP vm: $1"
  exit 77
}

kernel="${SIPALG_VM_KERNEL:-}"
if [ -z "$kernel" ]; then
  # Whatever 6.1 Debian ships now (linux-image-amd64 on Debian 12).
  kernel="$(find /boot -maxdepth 1 -name 'vmlinuz-6.1.*' 2>/dev/null | sort -V | tail -n 1)"
fi
[ -n "$kernel" ] && [ -r "$kernel" ] && ok=1 || ok=0
[ "$ok" = 1 ] || unavailable "no Linux 6.1 image in /boot (apt-get install linux-image-amd64)"
command -v vng >/dev/null || unavailable "vng missing (pip install virtme-ng)"
command -v qemu-system-x86_64 >/dev/null || unavailable "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
[ "$(id -u)" = 0 ] || unavailable "needs root (the guest runs as the calling user)"

work="$repo/target/vm"
mkdir -p "$work"
id="$$-$RANDOM"
guest="$work/guest-$id.sh"
booted="$work/booted-$id"
trap 'rm -f "$guest" "$booted"' EXIT

{
  echo 'set -u'
  printf 'export PATH=%q HOME=%q\n' "$PATH" "${HOME:-/root}"
  while IFS= read -r name; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done < <(compgen -e | grep -E '^(SIPALG_|RUST_|CARGO_TERM_|CI$)' || true)
  printf ': > %q\n' "$booted"
  # Modules first: conntrack's sysctls (nf_conntrack_udp_timeout, ...) appear only in
  # namespaces made after nf_conntrack is loaded. nf_conntrack_sip is not among them:
  # the lab loads it when it plays a router with the kernel's SIP helper.
  cat <<'GUEST'
for m in nf_conntrack nf_nat nf_tables nft_ct nft_nat nft_chain_nat nft_masq nft_queue \
  nfnetlink_queue nf_conntrack_netlink nft_fib_inet nft_fib_ipv4 nft_tproxy nft_socket \
  nft_compat xt_NFQUEUE xt_multiport nf_flow_table nf_flow_table_inet nft_flow_offload \
  nft_reject_inet veth bridge; do
  modprobe -q "$m" 2>/dev/null || echo "vm: no module $m"
done
export TMPDIR=/run/sipalg-vm
mkdir -p "$TMPDIR"
GUEST
  printf 'cd %q\n' "$repo"
  printf 'exec'
  printf ' %q' "$@"
  echo
} >"$guest"

kvm=(--disable-kvm)
[ "${SIPALG_VM_KVM:-}" = 1 ] && kvm=()
echo "vm: booting $kernel (${kvm[*]:-kvm}), limit ${limit}s: $*"
start=$SECONDS
set +e
# In a session of its own, so that stopping this script (a stage's own limit, ^C)
# takes vng and qemu down with it.
# Its output through a pipe: vng hands the guest's console a fresh open of our stdout,
# which on a file would start writing at offset 0, over what is there.
setsid timeout --kill-after=15 "$limit" vng -r "$kernel" "${kvm[@]}" \
  --cpus "${SIPALG_VM_CPUS:-2}" --memory "${SIPALG_VM_MEMORY:-2G}" \
  --rwdir "$repo" --exec "sh $guest" </dev/null > >(cat) 2>&1 &
vm=$!
trap 'kill -TERM -- "-$vm" 2>/dev/null || true; rm -f "$guest" "$booted"' EXIT
trap 'exit 130' INT TERM
wait "$vm"
rc=$?
set -e
echo "vm: exit $rc after $((SECONDS - start)) s"
if [ ! -e "$booted" ]; then
  echo "vm: the guest never ran the command (boot failed)" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
