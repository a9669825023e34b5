//! A small netlink layer for the daemon's per-call firewall work, without dependencies
//! beyond `libc`: byte-level encoders/decoders in [`attr`] and [`msg`], a blocking
//! socket in [`socket`], nf_tables set/map elements in [`nftables`] and ctnetlink in
//! [`conntrack`]. Design notes and measurements: `docs/netlink.md`.

pub mod attr;
pub mod conntrack;
pub mod msg;
pub mod nfqueue;
pub mod nftables;
pub mod socket;

pub use conntrack::{Conntrack, Entry, Tuple};
pub use nftables::{Element, Field, Key, Nft};
