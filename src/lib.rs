//! sipalg: SIP done right on OpenWrt routers.
//!
//! The pure core (no sockets, no clock reads):
//! - [`wire`]: zero-copy views over bytes (SIP, Via, URI, SDP, IPv4/UDP, checksums).
//! - [`engine`]: SIP/SDP NAT rewriting as a plan of byte edits, plus the facts a
//!   message carries.
//! - [`state`]: signalling mappings, calls, registrations and public ports, driven by
//!   engine facts and a clock passed in; they emit actions.
//! - [`alg`]: the ALG per queued packet: mappings, the engine, the state, and the
//!   verdict plus the datapath actions (before the verdict / may trail it).
//!
//! The thin edges:
//! - [`daemon`]: the batched NFQUEUE loop, the nft ruleset, actions committed over netlink,
//!   the control socket and status, WAN detection, signals.
//! - [`netlink`]: nfnetlink encoders/decoders (NFQUEUE, nftables set elements, ctnetlink).
//! - [`config`]: UCI configuration loading and validation.
//! - [`relay`]: the transparent TCP relay for SIP over TCP.
//! - [`sys`]: the raw socket-call helpers the edges share.
//! - [`logging`]: syslog that survives log daemon restarts.
//! - [`cli`]: the `sipalgd` subcommands.

pub mod alg;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod logging;
pub mod netlink;
pub mod relay;
pub mod state;
pub mod sys;
pub mod wire;

#[cfg(test)]
mod platform_check;
