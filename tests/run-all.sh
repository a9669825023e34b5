#!/usr/bin/env bash
# Runs every test of sipalg: the one command the README gives and CI runs.
#
#   bash tests/run-all.sh            all stages
#   bash tests/run-all.sh unit lab   only these stages
#
# Stages:
#   lint   cargo fmt --check, cargo clippy -D warnings, shellcheck
#   unit   cargo test: unit tests, corpus, allocation counts, fuzz regressions, packaging,
#          logging, rsip/sdp-rs oracles
#   lab    root: netlink and the namespace lab (real kernel NAT, NFQUEUE, sipp)
#   demo   root: tests/lab/demo.sh, checking that its output shows a rewritten INVITE
#          and the calls in the status table
#   vm     root: the lab suites (calls, datapath, TCP, offloading, netlink) and the
#          demo's path inside Debian's Linux 6.1, booted with virtme-ng under emulation
#          (tests/vm/run.sh): the kernel side older than 6.5, with nft_queue and
#          flowtables, which this machine's kernel lacks. Test binaries are built here.
#   fuzz   cargo-fuzz on the engine for $SIPALG_FUZZ_SECONDS (default 60)
#   luci   the LuCI app: lint, consistency, headless Chromium
#   cross  mipsel/aarch64 static builds, their tests under qemu, ELF checks
#
# Lab tests need root; without it they print SKIP, unless SIPALG_REQUIRE_ROOT=1.
# The last line is "run-all: N passed, N failed" (stages).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint unit lab demo vm fuzz luci cross)
passed=0
failed=0
failed_names=()

stage() {
  local name=$1
  shift
  echo
  echo "=== stage $name ==="
  local start=$SECONDS
  # Each stage's output also goes to target/stage-<name>.log, so that the end of the run
  # can say which tests failed: CI keeps only the tail of what a run prints.
  if "$@" 2>&1 | tee "target/stage-$name.log"; then
    passed=$((passed + 1))
    echo "=== stage $name passed ($((SECONDS - start)) s) ==="
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "=== stage $name FAILED ($((SECONDS - start)) s) ==="
  fi
}

lint() {
  cargo fmt --all --check &&
    cargo clippy --workspace --all-targets -- -D warnings &&
    shellcheck tests/*.sh tests/lab/*.sh tests/vm/*.sh fuzz/*.sh openwrt/*.sh luci-app/tests/*.sh
}

unit() {
  # The namespace-lab suites run in their own stage.
  SIPALG_SKIP_LAB=1 cargo test --workspace --no-fail-fast
}

lab() {
  cargo test --test lab_datapath --test lab_calls --test lab_tcp --test lab_offload --test lab_overload \
    --test lab_init --test lab_privileges -- --test-threads=1
}

demo() {
  if [ "$(id -u)" != 0 ] && [ -z "${SIPALG_REQUIRE_ROOT:-}" ]; then
    echo "SKIP demo: needs root"
    return 0
  fi
  bash tests/lab/demo.sh | tee target/demo.log || return 1
  bash tests/lab/demo-check.sh target/demo.log
}

vm() {
  if [ "$(id -u)" != 0 ] && [ -z "${SIPALG_REQUIRE_ROOT:-}" ]; then
    echo "SKIP vm: needs root"
    return 0
  fi
  # Built here (the guest has the host's files but runs them several times slower).
  local bins
  bins=$(cargo test --no-run --message-format=json --test lab_calls --test lab_datapath \
    --test lab_tcp --test lab_offload --test netlink |
    sed -n 's/.*"kind":\["test"\].*"executable":"\([^"]*\)".*/\1/p') || return 1
  [ -n "$bins" ] || { echo "vm: no test binaries" >&2; return 1; }
  cargo build --release --quiet --bins --examples || return 1
  # In the guest: its kernel has nft_queue (the nft backend, asserted by every lab
  # test) and flowtables (the offloading suite must run, not skip).
  local rc=0
  # shellcheck disable=SC2086 # one word per binary
  SIPALG_REQUIRE_ROOT=1 SIPALG_REQUIRE_FLOWTABLE=1 SIPALG_EXPECT_QUEUE_BACKEND=nft \
    bash tests/vm/run.sh --timeout "${SIPALG_VM_TIMEOUT:-2400}" \
    sh tests/vm/suites.sh $bins || rc=$?
  if [ "$rc" = 77 ]; then
    return 0 # SKIP printed by run.sh (never under CI=true)
  fi
  return "$rc"
}

fuzz() {
  bash fuzz/run.sh "${SIPALG_FUZZ_SECONDS:-60}"
}

luci() {
  # The status page is rendered with what the lab stage captured from a real daemon.
  if [ -s target/test-out/status-lab.json ]; then
    export SIPALG_STATUS_JSON=target/test-out/status-lab.json
  fi
  cargo build --quiet && bash luci-app/tests/run.sh
}

cross() {
  bash openwrt/cross-build.sh --test mipsel-unknown-linux-musl aarch64-unknown-linux-musl &&
    SIPALG_REQUIRE_CROSS=1 cargo test --test cross
}

mkdir -p target
for s in "${stages[@]}"; do
  case "$s" in
    lint | unit | lab | demo | vm | fuzz | luci | cross) stage "$s" "$s" ;;
    *) echo "unknown stage '$s'" >&2; exit 2 ;;
  esac
done
echo
for name in "${failed_names[@]}"; do
  echo "--- what failed in stage $name (full output: target/stage-$name.log) ---"
  grep -E -A12 "^test .* FAILED$|^---- .* stdout ----$|panicked at|^error(\[|:)|^FAIL" \
    "target/stage-$name.log" | head -n 120
  echo "--- last lines of stage $name ---"
  tail -n 15 "target/stage-$name.log"
done
[ ${#failed_names[@]} -eq 0 ] || echo "failed stages: ${failed_names[*]}"
echo "run-all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
