//! The ALG as a pure state machine (sans-IO): queued packets (hook, bytes, now) go in;
//! a verdict (with the rewritten packet) and the datapath [`Action`]s they need come
//! out, labelled "before these verdicts" or "may trail them". It owns the policy built
//! from the configuration ([`Processor::configure`]), the replay after a reload or WAN
//! change, and the per-call media counters. No sockets, no clock reads: a packet that
//! needs conntrack (a flow that predates the daemon) returns a [`LookupRequest`] and is
//! resumed with the answer; time is passed in.
//!
//! The daemon (`crate::daemon`) receives packets, commits actions and sends verdicts.
//!
//! [`Action`]: crate::state::actions::Action

mod media;
mod processor;
mod stream;

pub use media::{media_counts, ONE_WAY_AFTER};
pub use processor::{Counters, Hook, LookupRequest, Processor, Resume, Step, Verdict};
pub use stream::is_udp_signalling;
