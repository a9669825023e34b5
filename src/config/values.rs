//! The value parsers: one UCI value (or one list item) to a typed value, or a message
//! saying what is wrong with it. Decimal digits only, as `validate_data`'s
//! expressions in [`super::SCHEMA`] accept.

use super::types::{Cidr, MediaSource, MAX_TIMEOUT};
use std::net::Ipv4Addr;

/// Parses a DSCP: a name (`CS0`..`CS7`, `AF11`..`AF43`, `EF`, `VA`, `LE`; any
/// case) or a number 0..=63.
pub fn parse_dscp(s: &str) -> Result<u8, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match parse_decimal(s) {
            Some(n) if n <= 63 => Ok(n as u8),
            _ => Err(format!("DSCP {s} is out of range 0-63")),
        };
    }
    let u = s.to_ascii_uppercase();
    let b = u.as_bytes();
    let value = match b {
        b"EF" => Some(46),
        b"VA" => Some(44),
        b"LE" => Some(1),
        [b'C', b'S', d @ b'0'..=b'7'] => Some((d - b'0') * 8),
        [b'A', b'F', x @ b'1'..=b'4', y @ b'1'..=b'3'] => Some((x - b'0') * 8 + (y - b'0') * 2),
        _ => None,
    };
    value.ok_or_else(|| {
        format!("'{s}' is not a DSCP: use a number 0-63 or a name (CS0-CS7, AF11-AF43, EF, VA, LE)")
    })
}

/// The name of a DSCP value if it has one (`40` → `CS5`), else the number.
pub fn dscp_name(v: u8) -> String {
    match v {
        46 => "EF".into(),
        44 => "VA".into(),
        1 => "LE".into(),
        v if v % 8 == 0 && v <= 56 => format!("CS{}", v / 8),
        v if v % 2 == 0 && (10..=38).contains(&v) && (1..=3).contains(&((v % 8) / 2)) => {
            format!("AF{}{}", v / 8, (v % 8) / 2)
        }
        v => v.to_string(),
    }
}

/// Digits only (no sign, no spaces), saturating at u64::MAX.
pub(super) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
        "0" | "off" | "false" | "no" | "disabled" => Ok(false),
        _ => Err(format!(
            "'{s}' is not a boolean: use 1/0, on/off, true/false, yes/no or enabled/disabled"
        )),
    }
}

pub(super) fn parse_timeout(s: &str, min: u32) -> Result<u32, String> {
    let n = parse_decimal(s).ok_or_else(|| format!("'{s}' is not a whole number of seconds"))?;
    if n < u64::from(min) {
        Err(format!("{n} is below the minimum {min}"))
    } else if n > u64::from(MAX_TIMEOUT) {
        Err(format!("{n} is above the maximum {MAX_TIMEOUT} (7 days)"))
    } else {
        Ok(n as u32)
    }
}

pub(super) fn parse_port(s: &str) -> Result<u16, String> {
    match parse_decimal(s) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Some(_) => Err(format!("port {s} is out of range 1-65535")),
        None => Err(format!("'{s}' is not a port number")),
    }
}

pub(super) fn parse_device(s: &str) -> Result<String, String> {
    if s.len() > 15 {
        Err(format!(
            "'{s}' is not a network device name: longer than 15 characters"
        ))
    } else if s.contains('/') || s == "." || s == ".." {
        Err(format!("'{s}' is not a network device name"))
    } else {
        Ok(s.to_string())
    }
}

pub(super) fn parse_external(s: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an IPv4 address"))?;
    if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
        return Err(format!(
            "{a} cannot be advertised: give the public IPv4 address of the outer router"
        ));
    }
    Ok(a)
}

pub(super) fn parse_log_level(s: &str) -> Result<log::LevelFilter, String> {
    match s {
        "error" => Ok(log::LevelFilter::Error),
        "warning" => Ok(log::LevelFilter::Warn),
        "info" => Ok(log::LevelFilter::Info),
        "debug" => Ok(log::LevelFilter::Debug),
        _ => Err(format!(
            "'{s}' is not a log level: use error, warning, info or debug"
        )),
    }
}

pub(super) fn parse_media_source(s: &str) -> Result<MediaSource, String> {
    match s {
        "sdp" => Ok(MediaSource::Sdp),
        "any" => Ok(MediaSource::Any),
        _ => Err(format!("'{s}' is not a media source: use 'sdp' or 'any'")),
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
