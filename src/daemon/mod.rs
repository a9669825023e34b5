//! The daemon: thin edges around the pure core (NFQUEUE, netlink, nft, the control
//! socket, config loading, signals).

pub mod packet;
pub mod ruleset;
