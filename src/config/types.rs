//! The validated configuration's types: [`Config`] and its parts, the limits of its
//! numbers, and the defaults (which come from [`super::SCHEMA`]).

use super::schema::SCHEMA;
use super::values::parse_decimal;
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

impl std::str::FromStr for Cidr {
    type Err = String;

    /// `a.b.c.d` (a /32) or `a.b.c.d/n`.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an IPv4 address or address/prefix"))?;
        let prefix = match p {
            None => 32,
            Some(p) => match parse_decimal(p) {
                Some(n) if n <= 32 => n as u8,
                _ => return Err(format!("'{s}': the prefix length must be 0 to 32")),
            },
        };
        Ok(Cidr::new(addr, prefix))
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

impl Default for Config {
    /// The defaults of [`SCHEMA`] (the SPEC's), applied to an empty config.
    fn default() -> Self {
        let mut c = Config {
            enabled: false,
            alg: false,
            kernel_helper: false,
            wan_devices: Vec::new(),
            external_address: None,
            ports: Vec::new(),
            tcp: false,
            trusted_sources: Vec::new(),
            media_source: MediaSource::Sdp,
            log_level: log::LevelFilter::Info,
            timeouts: Timeouts {
                signaling: 0,
                media: 0,
            },
            qos: Qos {
                enabled: false,
                signaling_dscp: 0,
                media_dscp: 0,
            },
        };
        for o in SCHEMA {
            for item in o.default.split_whitespace() {
                (o.set)(&mut c, item).expect("the schema's defaults are valid");
            }
        }
        c
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Config::default().timeouts
    }
}

impl Default for Qos {
    fn default() -> Self {
        Config::default().qos
    }
}
