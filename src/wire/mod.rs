//! Zero-copy views over wire bytes, in the style of smoltcp's `wire` module: each view
//! borrows the caller's buffer and exposes named byte ranges; nothing is copied.

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
