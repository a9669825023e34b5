//! The UCI configuration `/etc/config/sipalg`: parsing, validation, defaults.
//!
//! # Why our own UCI parser
//!
//! The `uci_rs` crate (0.1.2, measured in `docs/dependencies.md`) fails on
//! `option x 'it'\''s'`, which is exactly the quoting `uci set`/`uci commit`
//! write for a value holding an apostrophe, fails on multi-line quoted values
//! and keeps the backslashes of `"a \"b\""`. `rust-uci` needs bindgen, libclang
//! and a bundled libuci build. UCI's syntax is small, so [`uci`] implements it
//! (read-only) in under 350 lines with its docs, following libuci's rules.
//!
//! # Sections and options
//!
//! sipalg reads three sections, each by name, or else the first anonymous
//! section of the type (what `uci add` creates):
//!
//! | type | name | options |
//! |---|---|---|
//! | `sipalg` | `main` | enabled, alg, kernel_helper, wan_device, external_address, port (list), tcp, trusted_source (list), media_source, log_level |
//! | `timeouts` | `timeouts` | signaling, media |
//! | `qos` | `qos` | enabled, signaling_dscp, media_dscp |
//!
//! A missing section or option takes its default ([`SCHEMA`], the SPEC's
//! defaults). An empty value (`option external_address ''`) also means the
//! default, and empty list items are skipped, as `validate_data` does.
//!
//! # What is an error and what is a warning
//!
//! * **Errors** (the daemon refuses the config: it will not start, or keeps the
//!   previous one on reload): syntax errors, bad values, and **unknown options
//!   inside our three sections**, so a typo such as `option media_sorce 'any'`
//!   is caught instead of silently ignored (the message suggests the closest
//!   known name).
//! * **Warnings** (reported by `sipalgd check` and logged, config accepted):
//!   sections of an unknown type, and further sections of our types that are
//!   ignored. Other tools may add their own sections, and a config written by
//!   a newer sipalg should not stop an older one from starting; a warning for
//!   a near-miss type (`config timeout`) still says what was probably meant.
//!
//! Every message names the file, line, section and option, for example
//! `/etc/config/sipalg:12: section 'timeouts' option 'media': 30 is below the minimum 60`.
//!
//! The datatypes in [`SCHEMA`] are OpenWrt `validate_data` expressions used by
//! the init script (`files/sipalg.init`; a test checks they agree). The daemon
//! checks a little more than `validate_data` can (e.g. a multicast
//! `external_address` is refused).

pub mod uci;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

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

/// One error (or warning) about the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path as given.
    pub file: String,
    /// 1-based line, if the problem is on a line.
    pub line: Option<usize>,
    /// Section name, or `@type[n]` for an anonymous section.
    pub section: Option<String>,
    /// Option name.
    pub option: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(":")?;
        if let Some(s) = &self.section {
            write!(f, " section '{s}'")?;
        }
        if let Some(o) = &self.option {
            write!(f, " option '{o}'")?;
        }
        if self.section.is_some() || self.option.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// All the errors of one config file; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads one value (one item of a list) into the config: parses it and sets
/// the field (a list item is appended unless already there).
pub type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One option of the configuration: the single source of its name, section,
/// default, validation and the datatypes the init script (`validate_data`)
/// and LuCI use, printed by `sipalgd schema`; tests hold files/sipalg.init,
/// files/sipalg.config and the LuCI view to it.
#[derive(Clone, Copy)]
pub struct OptionSpec {
    /// Section name (`main`, `timeouts`, `qos`).
    pub section: &'static str,
    /// Section type (`sipalg`, `timeouts`, `qos`).
    pub section_type: &'static str,
    /// Option name.
    pub option: &'static str,
    /// True for a `list` option.
    pub list: bool,
    /// The OpenWrt `validate_data` datatype expression (ubox validate.c);
    /// procd.sh eval's it inside double quotes, so string literals use '.
    pub uci_datatype: &'static str,
    /// The LuCI datatype (validation.js) of the settings page's input, or ""
    /// when the widget only offers valid values (a checkbox, a choice list,
    /// the device picker) or a rule says it all. A list item may hold several
    /// values separated by spaces (the daemon splits them, as validate_data
    /// does), hence `list(...)`. The page adds what a datatype cannot say
    /// (see [`OptionSpec::luci_rules`]).
    pub luci_datatype: &'static str,
    /// The default as written in UCI (`""`: unset).
    pub default: &'static str,
    /// Smallest and largest number accepted, for numbers.
    pub min: Option<u32>,
    /// See `min`.
    pub max: Option<u32>,
    /// The accepted words, for an option that takes one of a few.
    pub values: &'static [&'static str],
    /// What the daemon checks beyond the LuCI datatype, by name, for the
    /// page's validate function (luci-app settings.js implements each).
    pub luci_rules: &'static [&'static str],
    /// Reads a value.
    pub set: Setter,
}

impl fmt::Debug for OptionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.section, self.option)
    }
}

const fn opt(
    section: &'static str,
    option: &'static str,
    uci_datatype: &'static str,
    default: &'static str,
    set: Setter,
) -> OptionSpec {
    let section_type = match section.as_bytes() {
        b"main" => "sipalg",
        _ => section,
    };
    OptionSpec {
        section,
        section_type,
        option,
        list: false,
        uci_datatype,
        luci_datatype: "",
        default,
        min: None,
        max: None,
        values: &[],
        luci_rules: &[],
        set,
    }
}

impl OptionSpec {
    const fn list(mut self) -> Self {
        self.list = true;
        self
    }
    const fn luci(mut self, datatype: &'static str, rules: &'static [&'static str]) -> Self {
        self.luci_datatype = datatype;
        self.luci_rules = rules;
        self
    }
    const fn range(mut self, min: u32, max: u32) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    const fn values(mut self, values: &'static [&'static str]) -> Self {
        self.values = values;
        self
    }
}

/// `validate_data` expression for a DSCP: a number 0-63 or a name, any case.
/// (`regex()` anchors the pattern; no ',' or ':' may appear in it, since
/// `validate_data` splits on them.)
const DSCP_DATATYPE: &str = "regex('(0*([0-9]|[1-5][0-9]|6[0-3])|[Cc][Ss][0-7]|[Aa][Ff][1-4][1-3]|[Ee][Ff]|[Vv][Aa]|[Ll][Ee])')";

/// `validate_data` expression for network device names (not `.` or `..` either).
/// ubox puts `^`/`$` around a regex without grouping it: alternatives go in ().
const DEVICE_DATATYPE: &str = "list(and(rangelength(1,15),not(regex('(.*/.*|[.][.]?)'))))";

// The `validate_data` expressions below accept exactly what the daemon does. ubox's
// number datatypes do not: `uinteger`, `range`, `min` and `max` read C's strtoul/strtol
// with base 0 (0x100 is 256, 0150 is octal 104, 08 is refused), `port` wraps a
// negative number, cidr4 takes an empty or signed prefix (ubox validate/validate.c),
// whereas sipalgd reads decimal digits (leading zeros allowed). So the numbers are
// regexes (decimal ranges with any leading zeros). No ',' ':' '"' '\' '$' or '`':
// validate_data splits on the first two, procd.sh eval's the rest (tests/package.rs).

/// A dotted-quad IPv4 address as Rust's parser reads it (no leading zeros).
macro_rules! ipv4_re {
    () => {
        "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}

/// `validate_data` expression for the signalling timeout: 120-604800 (decimal).
const SIGNALING_TIMEOUT_DATATYPE: &str = "regex('0*(12[0-9]|1[3-9][0-9]|[2-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|[1-5][0-9]{5}|60[0-3][0-9]{3}|604[0-7][0-9]{2}|604800)')";
/// `validate_data` expression for the media timeout: 60-604800 (decimal).
const MEDIA_TIMEOUT_DATATYPE: &str = "regex('0*([6-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-9][0-9]{4}|[1-5][0-9]{5}|60[0-3][0-9]{3}|604[0-7][0-9]{2}|604800)')";
/// `validate_data` expression for SIP ports: 1-65535 (decimal).
const PORT_DATATYPE: &str = "list(regex('0*([1-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])'))";
/// `validate_data` expression for the external address: an IPv4 address that is not
/// unspecified, loopback, multicast or broadcast.
const EXTERNAL_DATATYPE: &str = "and(ip4addr,not(regex('(0[.]0[.]0[.]0|127[.].*|22[4-9][.].*|23[0-9][.].*|255[.]255[.]255[.]255)')))";
/// `validate_data` expression for trusted sources: addresses or address/prefix.
const TRUSTED_DATATYPE: &str = concat!(
    "list(regex('",
    ipv4_re!(),
    "(/0*([0-9]|[12][0-9]|3[0-2]))?'))"
);

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Every option sipalg reads, in file order.
pub const SCHEMA: &[OptionSpec] = &[
    opt("main", "enabled", "bool", "1", |c, v| {
        c.enabled = parse_bool(v)?;
        Ok(())
    }),
    opt("main", "alg", "bool", "0", |c, v| {
        c.alg = parse_bool(v)?;
        Ok(())
    }),
    opt("main", "kernel_helper", "bool", "0", |c, v| {
        c.kernel_helper = parse_bool(v)?;
        Ok(())
    }),
    opt("main", "wan_device", DEVICE_DATATYPE, "", |c, v| {
        push_new(&mut c.wan_devices, parse_device(v)?);
        Ok(())
    }),
    opt("main", "external_address", EXTERNAL_DATATYPE, "", |c, v| {
        c.external_address = Some(parse_external(v)?);
        Ok(())
    })
    .luci(
        "ip4addr(\"nomask\")",
        &["ip4_no_leading_zero", "ip4_public_unicast"],
    ),
    opt("main", "port", PORT_DATATYPE, "5060", |c, v| {
        push_new(&mut c.ports, parse_port(v)?);
        Ok(())
    })
    .list()
    .luci("list(and(port,min(1)))", &[])
    .range(1, 65535),
    opt("main", "tcp", "bool", "1", |c, v| {
        c.tcp = parse_bool(v)?;
        Ok(())
    }),
    opt("main", "trusted_source", TRUSTED_DATATYPE, "", |c, v| {
        push_new(&mut c.trusted_sources, v.parse::<Cidr>()?);
        Ok(())
    })
    .list()
    .luci(
        "list(or(ip4addr(\"nomask\"),cidr4))",
        &["ip4_no_leading_zero"],
    ),
    opt("main", "media_source", "or('sdp','any')", "sdp", |c, v| {
        c.media_source = parse_media_source(v)?;
        Ok(())
    })
    .values(&["sdp", "any"]),
    opt(
        "main",
        "log_level",
        "or('error','warning','info','debug')",
        "info",
        |c, v| {
            c.log_level = parse_log_level(v)?;
            Ok(())
        },
    )
    .values(&["error", "warning", "info", "debug"]),
    opt(
        "timeouts",
        "signaling",
        SIGNALING_TIMEOUT_DATATYPE,
        "3600",
        |c, v| {
            c.timeouts.signaling = parse_timeout(v, MIN_SIGNALING_TIMEOUT)?;
            Ok(())
        },
    )
    .luci("and(uinteger,range(120,604800))", &[])
    .range(MIN_SIGNALING_TIMEOUT, MAX_TIMEOUT),
    opt(
        "timeouts",
        "media",
        MEDIA_TIMEOUT_DATATYPE,
        "300",
        |c, v| {
            c.timeouts.media = parse_timeout(v, MIN_MEDIA_TIMEOUT)?;
            Ok(())
        },
    )
    .luci("and(uinteger,range(60,604800))", &[])
    .range(MIN_MEDIA_TIMEOUT, MAX_TIMEOUT),
    opt("qos", "enabled", "bool", "1", |c, v| {
        c.qos.enabled = parse_bool(v)?;
        Ok(())
    }),
    opt("qos", "signaling_dscp", DSCP_DATATYPE, "CS5", |c, v| {
        c.qos.signaling_dscp = parse_dscp(v)?;
        Ok(())
    })
    .luci("", &["dscp"])
    .range(0, 63),
    opt("qos", "media_dscp", DSCP_DATATYPE, "EF", |c, v| {
        c.qos.media_dscp = parse_dscp(v)?;
        Ok(())
    })
    .luci("", &["dscp"])
    .range(0, 63),
];

/// The sections sipalg reads: (type, name).
const SECTIONS: &[(&str, &str)] = &[("sipalg", "main"), ("timeouts", "timeouts"), ("qos", "qos")];

/// Reads and validates `DIR/sipalg`.
pub fn load(config_dir: &Path) -> Result<Config, ConfigErrors> {
    load_with_warnings(config_dir).map(|(c, _)| c)
}

/// Like [`load`], also returning the warnings (unknown or ignored sections).
pub fn load_with_warnings(config_dir: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let path = config_dir.join("sipalg");
    let file = path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => parse_with_warnings(&file, &text),
            Err(_) => Err(ConfigErrors(vec![whole_file(
                &file,
                "is not valid UTF-8 text".into(),
            )])),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigErrors(vec![whole_file(
            &file,
            "the file does not exist (reinstall the sipalg package to get the default, \
             or give another directory with --config-dir)"
                .into(),
        )])),
        Err(e) => Err(ConfigErrors(vec![whole_file(
            &file,
            format!("cannot read the file: {e}"),
        )])),
    }
}

fn whole_file(file: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: None,
        section: None,
        option: None,
        message,
    }
}

/// Parses and validates the text of a config file; `file_name` is used in messages.
pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigErrors> {
    parse_with_warnings(file_name, text).map(|(c, _)| c)
}

/// Like [`parse`], also returning the warnings (unknown or ignored sections).
pub fn parse_with_warnings(
    file_name: &str,
    text: &str,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let file = uci::parse(text).map_err(|errs| {
        ConfigErrors(
            errs.into_iter()
                .map(|e| ConfigError {
                    file: file_name.to_string(),
                    line: Some(e.line),
                    section: None,
                    option: None,
                    message: e.message,
                })
                .collect(),
        )
    })?;
    let mut v = Validator {
        file: file_name,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let config = v.config(&file);
    if v.errors.is_empty() {
        Ok((config, v.warnings))
    } else {
        Err(ConfigErrors(v.errors))
    }
}

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
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
        "0" | "off" | "false" | "no" | "disabled" => Ok(false),
        _ => Err(format!(
            "'{s}' is not a boolean: use 1/0, on/off, true/false, yes/no or enabled/disabled"
        )),
    }
}

fn parse_timeout(s: &str, min: u32) -> Result<u32, String> {
    let n = parse_decimal(s).ok_or_else(|| format!("'{s}' is not a whole number of seconds"))?;
    if n < u64::from(min) {
        Err(format!("{n} is below the minimum {min}"))
    } else if n > u64::from(MAX_TIMEOUT) {
        Err(format!("{n} is above the maximum {MAX_TIMEOUT} (7 days)"))
    } else {
        Ok(n as u32)
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match parse_decimal(s) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Some(_) => Err(format!("port {s} is out of range 1-65535")),
        None => Err(format!("'{s}' is not a port number")),
    }
}

fn parse_device(s: &str) -> Result<String, String> {
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

fn parse_external(s: &str) -> Result<Ipv4Addr, String> {
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

fn parse_log_level(s: &str) -> Result<log::LevelFilter, String> {
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

fn parse_media_source(s: &str) -> Result<MediaSource, String> {
    match s {
        "sdp" => Ok(MediaSource::Sdp),
        "any" => Ok(MediaSource::Any),
        _ => Err(format!("'{s}' is not a media source: use 'sdp' or 'any'")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Validator<'f> {
    file: &'f str,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

/// A chosen section: its label for messages and its entries (merged when a
/// named section appears several times, as libuci merges them).
struct Chosen<'a> {
    label: String,
    entries: Vec<&'a uci::Entry>,
}

impl<'f> Validator<'f> {
    fn at(
        &self,
        line: Option<usize>,
        section: Option<&str>,
        option: Option<&str>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line,
            section: section.map(str::to_string),
            option: option.map(str::to_string),
            message,
        }
    }

    fn config(&mut self, file: &uci::UciFile) -> Config {
        let mut chosen: Vec<Option<Chosen<'_>>> = Vec::new();
        let mut used = vec![false; file.sections.len()];
        for (stype, name) in SECTIONS {
            let named: Vec<usize> = (0..file.sections.len())
                .filter(|&i| {
                    file.sections[i].stype == *stype
                        && file.sections[i].name.as_deref() == Some(*name)
                })
                .collect();
            let pick: Vec<usize> = if named.is_empty() {
                (0..file.sections.len())
                    .find(|&i| file.sections[i].stype == *stype && file.sections[i].name.is_none())
                    .into_iter()
                    .collect()
            } else {
                named
            };
            let label = match pick.first() {
                Some(&i) if file.sections[i].name.is_none() => format!("@{stype}[0]"),
                _ => name.to_string(),
            };
            for &i in &pick {
                used[i] = true;
            }
            chosen.push(if pick.is_empty() {
                None
            } else {
                Some(Chosen {
                    label,
                    entries: pick
                        .iter()
                        .flat_map(|&i| file.sections[i].entries.iter())
                        .collect(),
                })
            });
        }
        self.warn_unused(file, &used);

        let mut c = Config::default();
        for ((_, name), chosen) in SECTIONS.iter().zip(chosen) {
            let Some(s) = chosen else {
                continue;
            };
            self.check_unknown(&s, name);
            for o in SCHEMA.iter().filter(|o| o.section == *name) {
                if o.list || o.uci_datatype.starts_with("list(") {
                    self.list(&s, o, &mut c);
                } else {
                    self.single(&s, o, &mut c);
                }
            }
        }
        c
    }

    fn warn_unused(&mut self, file: &uci::UciFile, used: &[bool]) {
        let mut seen_anonymous = std::collections::HashMap::<&str, usize>::new();
        for (i, s) in file.sections.iter().enumerate() {
            let label = match &s.name {
                Some(n) => n.clone(),
                None => {
                    let n = seen_anonymous.entry(s.stype.as_str()).or_default();
                    *n += 1;
                    format!("@{}[{}]", s.stype, *n - 1)
                }
            };
            if used[i] {
                continue;
            }
            let message = match SECTIONS.iter().find(|(t, _)| *t == s.stype) {
                Some((t, n)) => format!(
                    "ignored: sipalg reads only the '{t}' section named '{n}' \
                     (or, without it, the first anonymous '{t}' section)"
                ),
                None => {
                    let hint = closest(&s.stype, SECTIONS.iter().map(|(t, _)| *t))
                        .map(|t| format!("; did you mean 'config {t}'?"))
                        .unwrap_or_default();
                    format!(
                        "unknown section type '{}' is ignored (sipalg reads 'sipalg', \
                         'timeouts' and 'qos'){hint}",
                        s.stype
                    )
                }
            };
            let w = self.at(Some(s.line), Some(&label), None, message);
            self.warnings.push(w);
        }
    }

    fn check_unknown(&mut self, s: &Chosen<'_>, section: &str) {
        let known = || {
            SCHEMA
                .iter()
                .filter(move |o| o.section == section)
                .map(|o| o.option)
        };
        for e in &s.entries {
            if known().any(|k| k == e.key) {
                continue;
            }
            let hint = closest(&e.key, known())
                .map(|k| format!("; did you mean '{k}'?"))
                .unwrap_or_default();
            let all: Vec<&str> = known().collect();
            let err = self.at(
                Some(e.line),
                Some(&s.label),
                Some(&e.key),
                format!("unknown option{hint} (known: {})", all.join(", ")),
            );
            self.errors.push(err);
        }
    }

    /// The value of a single-valued option: the last `option` line wins (as in
    /// libuci); a `list` line is an error; an empty value means the default.
    fn single(&mut self, s: &Chosen<'_>, o: &OptionSpec, c: &mut Config) {
        let key = o.option;
        let mut last = None;
        for e in s.entries.iter().filter(|e| e.key == key) {
            if e.list {
                let err = self.at(
                    Some(e.line),
                    Some(&s.label),
                    Some(key),
                    format!("takes a single value: write 'option {key}', not 'list {key}'"),
                );
                self.errors.push(err);
                return;
            }
            last = Some(*e);
        }
        let Some(e) = last else {
            return;
        };
        if e.value.is_empty() {
            return;
        }
        if let Err(m) = (o.set)(c, &e.value) {
            let err = self.at(Some(e.line), Some(&s.label), Some(key), m);
            self.errors.push(err);
        }
    }

    /// The items of a list option: `list` lines append, an `option` line
    /// replaces what came before (as in libuci); every value is split on
    /// whitespace and empty items are skipped, as `validate_data` does.
    /// Without items (or on error) the default stays.
    fn list(&mut self, s: &Chosen<'_>, o: &OptionSpec, c: &mut Config) {
        let key = o.option;
        let mut lines: Vec<&uci::Entry> = Vec::new();
        for e in s.entries.iter().filter(|e| e.key == key) {
            if !e.list {
                lines.clear();
            }
            lines.push(e);
        }
        // The items go into a config whose list is empty, then replace the
        // default's.
        let mut fresh = c.clone();
        clear_list(&mut fresh, key);
        let mut any = false;
        let mut ok = true;
        for e in lines {
            for item in e.value.split_whitespace() {
                any = true;
                if let Err(m) = (o.set)(&mut fresh, item) {
                    ok = false;
                    let err = self.at(Some(e.line), Some(&s.label), Some(key), m);
                    self.errors.push(err);
                }
            }
        }
        if ok && any {
            *c = fresh;
        }
    }
}

/// Empties the list field of option `key` (the list options of [`SCHEMA`]).
fn clear_list(c: &mut Config, key: &str) {
    match key {
        "wan_device" => c.wan_devices.clear(),
        "port" => c.ports.clear(),
        "trusted_source" => c.trusted_sources.clear(),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
