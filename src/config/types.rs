//! The validated configuration's types: [`Config`] and its parts and the limits of its
//! numbers. Their defaults come from [`super::SCHEMA`] (schema.rs), their parsers from
//! values.rs.

use std::fmt;
use std::net::Ipv4Addr;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Service on/off (`main.enabled`).
    pub enabled: bool,
    /// The ALG switch (`main.alg`).
    pub alg: bool,
    /// Leave Linux's SIP helper attached (`main.kernel_helper`).
    pub kernel_helper: bool,
    /// WAN devices (`main.wan_device`, space separated); empty: the default route's device.
    pub wan_devices: Vec<String>,
    /// Address to advertise instead of the WAN address (`main.external_address`).
    pub external_address: Option<Ipv4Addr>,
    /// SIP ports (`list port`), deduplicated, in file order; default `[5060]`.
    pub ports: Vec<u16>,
    /// Relay and rewrite SIP over TCP too, with `alg` (`main.tcp`; see [`crate::relay`]).
    pub tcp: bool,
    /// Extra addresses allowed to reach registered phones (`list trusted_source`).
    pub trusted_sources: Vec<Cidr>,
    /// Which peers a media pinhole accepts (`main.media_source`).
    pub media_source: MediaSource,
    /// Log level (`main.log_level`).
    pub log_level: log::LevelFilter,
    /// Idle timeouts (`config timeouts`).
    pub timeouts: Timeouts,
    /// DSCP marking (`config qos`).
    pub qos: Qos,
}

/// An IPv4 prefix. `addr` has its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length 0..=32.
    pub prefix: u8,
}

impl Cidr {
    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        }
    }

    /// Builds a prefix, clearing the host bits of `addr`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Cidr {
        let prefix = prefix.min(32);
        Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & Self::mask(prefix)),
            prefix,
        }
    }

    /// True if `ip` lies inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = Self::mask(self.prefix);
        u32::from(ip) & m == u32::from(self.addr) & m
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `main.media_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSource {
    /// A media pinhole accepts only the address the peer's SDP announced.
    Sdp,
    /// A media pinhole accepts any source.
    Any,
}

impl fmt::Display for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaSource::Sdp => "sdp",
            MediaSource::Any => "any",
        })
    }
}

/// `config timeouts`: idle timeouts in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// SIP flows; 120..=604800, default 3600.
    pub signaling: u32,
    /// RTP/RTCP flows; 60..=604800, default 300.
    pub media: u32,
}

/// `config qos`: DSCP marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos {
    /// Mark at all.
    pub enabled: bool,
    /// DSCP of SIP, 0..=63; default CS5 (40).
    pub signaling_dscp: u8,
    /// DSCP of media, 0..=63; default EF (46).
    pub media_dscp: u8,
}

/// Minimum signalling timeout (s).
pub const MIN_SIGNALING_TIMEOUT: u32 = 120;
/// Minimum media timeout (s).
pub const MIN_MEDIA_TIMEOUT: u32 = 60;
/// Maximum of both timeouts (s): 7 days.
pub const MAX_TIMEOUT: u32 = 86400 * 7;
