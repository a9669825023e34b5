//! Coverage-guided fuzzing of the whole engine: framing, header and SDP views, the
//! rewrite plan in both directions. The first 13 bytes choose the NAT mapping and the
//! direction; the rest is the message. The invariants are in
//! `sipalg::engine::invariants` (shared with tests/fuzz_regressions.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sipalg::engine::invariants::check(data));
