//! Pure, clock-driven state (no sockets, no clock reads: `now` is passed in as seconds
//! of a monotonic clock). Inputs are engine facts; outputs are [`actions::Action`]s
//! that the daemon's edges carry out over netlink.

pub mod actions;
pub mod calls;
pub mod mappings;
pub mod ports;
pub mod registrations;
pub mod restore;
