//! Coverage-guided fuzzing of the whole engine: framing, header and SDP views, the
//! rewrite plan in both directions. The first 13 bytes choose the NAT mapping and the
//! direction; the rest is the message. The invariants are in
//! `tests/common/invariants.rs` (shared with tests/fuzz_regressions.rs and
//! tests/corpus.rs): test code, not part of the library.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| invariants::check(data));
