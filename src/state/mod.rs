//! Pure, clock-driven state (no sockets, no clock reads: `now` is passed in as seconds
//! of a monotonic clock). Inputs are engine facts; outputs are [`actions::Action`]s
//! that the daemon's edges carry out over netlink.
// The pure core has no `unsafe` of its own (docs/architecture.md). An exception must
// be measured against a crate first and allowed where it is, with the figures
// (`#[allow(unsafe_code)]`); none is today (issue #21 replaced the last two).
#![deny(unsafe_code)]

pub mod actions;
pub mod calls;
pub mod mappings;
pub mod ports;
pub mod registrations;
pub mod restore;
