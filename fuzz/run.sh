#!/usr/bin/env bash
# Fuzzes the engine for a bounded time: fuzz/run.sh [SECONDS] (default 60), then the
# TCP stream framer for a third of that.
# Seeds come from the shared corpus (each message prefixed with a 13-byte NAT header).
# A crash leaves its input in fuzz/artifacts/engine/; copy it into
# tests/fuzz-regressions/ so that `cargo test --test fuzz_regressions` replays it forever.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
corpus="${SIPALG_CORPUS:-../../shared/corpus}"
seeds=corpus/engine
mkdir -p "$seeds"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# Header: private 192.168.1.20:5060, public 203.0.113.1:40000, then direction.
out_hdr='\xc0\xa8\x01\x14\x13\xc4\xcb\x00\x71\x01\x9c\x40\x00'
in_hdr='\xc0\xa8\x01\x14\x13\xc4\xcb\x00\x71\x01\x9c\x40\x01'
n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  { printf '%b' "$out_hdr"; cat "$f"; } > "$seeds/out-$n"
  { printf '%b' "$in_hdr"; cat "$f"; } > "$seeds/in-$n"
done < <(find "$corpus/rfc4475" "$corpus/pcaps/extracted-sip-messages" "$corpus/libosip2-test-res" "$corpus/sdp" -type f ! -name '*.tsv' -print0)
cp ../tests/fuzz-regressions/* "$seeds/" 2>/dev/null || true
echo "fuzz: $n seed files, running for ${seconds}s"
cargo +nightly fuzz run engine "$seeds" -- -max_total_time="$seconds" -max_len=8192 -print_final_stats=1
# SIP framing on TCP streams (the relay): the same messages as seeds, a third of the time.
stream_seeds=corpus/stream
mkdir -p "$stream_seeds"
i=0
for f in "$seeds"/out-*; do
  i=$((i + 1))
  [ "$i" -le 200 ] || break
  { printf '\x40'; tail -c +14 "$f"; printf '\r\n\r\n'; tail -c +14 "$f"; } > "$stream_seeds/s-$i"
done
cargo +nightly fuzz run stream "$stream_seeds" -- -max_total_time="$(( (seconds + 2) / 3 ))" -max_len=8192 -print_final_stats=1
