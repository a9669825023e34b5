//! The ALG as a pure state machine (sans-IO): queued packets (hook, bytes, now) go in;
//! a verdict (with the rewritten packet) and the datapath [`Action`]s they need come
//! out, labelled "before these verdicts" or "may trail them". The daemon hands it the
//! [`Policy`] it built from the configuration; the core owns the replay after a reload
//! or WAN change, the per-call media counters, when periodic work is due
//! ([`Processor::poll_timeout`]) and what the status report shows. No sockets, no clock
//! reads: a packet that needs conntrack (a flow that predates the daemon) returns a
//! [`LookupRequest`] and is resumed with the answer; time is passed in.
//!
//! It depends on `wire`, `engine` and `state` only (tests/layering.rs). The daemon
//! (`crate::daemon`) receives packets, commits actions and sends verdicts.
//!
//! [`Action`]: crate::state::actions::Action
// The pure core has no `unsafe` of its own (docs/architecture.md). An exception must
// be measured against a crate first and allowed where it is, with the figures
// (`#[allow(unsafe_code)]`); none is today (issue #21 replaced the last two).
#![deny(unsafe_code)]

mod datagram;
mod media;
mod message;
mod nat;
mod processor;
mod snapshot;
mod stream;
mod timers;
mod types;

#[cfg(test)]
mod tests;

pub use media::{media_counts, FlowSample, MediaCounts, ONE_WAY_AFTER};
pub use processor::Processor;
pub use snapshot::{CallStatus, LimitStatus, RegistrationStatus, Snapshot, StreamStatus};
pub use stream::is_udp_signalling;
pub use timers::{Due, CHECK_EVERY, HOUSEKEEPING_EVERY};
pub use types::{
    Counters, Hook, LookupRequest, Policy, Relayed, Resume, SnatElement, Step, Verdict,
    MAX_REPLACEMENT,
};
