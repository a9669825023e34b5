//! Zero-copy views over wire bytes, in the style of smoltcp's `wire` module: each view
//! borrows the caller's buffer and exposes named byte ranges; nothing is copied.
// The pure core has no `unsafe` of its own (docs/architecture.md). An exception must
// be measured against a crate first and allowed where it is, with the figures
// (`#[allow(unsafe_code)]`); none is today (issue #21 replaced the last two).
#![deny(unsafe_code)]

pub mod checksum;
pub mod ipv4;
pub mod method;
pub mod sdp;
pub mod search;
pub mod sip;
pub mod sip_stream;
pub mod text;
pub mod uri;
pub mod via;
