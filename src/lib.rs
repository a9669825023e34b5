//! sipalg: SIP done right on OpenWrt routers.
//!
//! Layout:
//! - [`wire`]: zero-copy views over bytes (SIP, SDP, IPv4, UDP).
//! - [`engine`]: the pure rewrite core: SIP/SDP NAT rewriting as a plan of byte edits.
//! - [`config`]: UCI configuration loading and validation.
//! - [`cli`]: the `sipalgd` subcommands.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod logging;
pub mod netlink;
pub mod state;
pub mod wire;

#[cfg(test)]
mod platform_check;
