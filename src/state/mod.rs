//! Pure, clock-driven state (no sockets, no clock reads: `now` is passed in as seconds
//! of a monotonic clock).

pub mod mappings;
