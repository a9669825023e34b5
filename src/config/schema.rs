//! The schema: every option sipalg reads ([`SCHEMA`]), with its section, default,
//! `validate_data` and LuCI datatypes and the setter that reads its value. `sipalgd
//! schema` prints it; the init script, the default config and the LuCI page are held
//! to it by tests.

use super::types::{
    Cidr, Config, MediaSource, Qos, Timeouts, MAX_TIMEOUT, MIN_MEDIA_TIMEOUT, MIN_SIGNALING_TIMEOUT,
};
use super::values::{
    parse_bool, parse_device, parse_dscp, parse_external, parse_log_level, parse_media_source,
    parse_port, parse_timeout,
};
use std::fmt;

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
pub(super) const DSCP_DATATYPE: &str = "regex('(0*([0-9]|[1-5][0-9]|6[0-3])|[Cc][Ss][0-7]|[Aa][Ff][1-4][1-3]|[Ee][Ff]|[Vv][Aa]|[Ll][Ee])')";

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
pub(super) const SECTIONS: &[(&str, &str)] =
    &[("sipalg", "main"), ("timeouts", "timeouts"), ("qos", "qos")];

/// Empties the list field of option `key` (the list options of [`SCHEMA`]).
pub(super) fn clear_list(c: &mut Config, key: &str) {
    match key {
        "wan_device" => c.wan_devices.clear(),
        "port" => c.ports.clear(),
        "trusted_source" => c.trusted_sources.clear(),
        _ => {}
    }
}

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
