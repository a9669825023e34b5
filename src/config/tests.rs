//! Tests of the config module with literal config texts.

use super::*;

const F: &str = "/etc/config/sipalg";

/// The default config exactly as shipped (SPEC, files/sipalg.config).
const DEFAULT_FILE: &str = include_str!("../../files/sipalg.config");

fn ok(text: &str) -> Config {
    match parse(F, text) {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}\nfor:\n{text}"),
    }
}

fn err(text: &str) -> Vec<ConfigError> {
    match parse(F, text) {
        Ok(c) => panic!("expected an error, got {c:?}\nfor:\n{text}"),
        Err(e) => e.0,
    }
}

/// The single error's display line.
fn err1(text: &str) -> String {
    let e = err(text);
    assert_eq!(e.len(), 1, "expected one error, got: {e:?}");
    e[0].to_string()
}

fn main_opt(option: &str, value: &str) -> String {
    format!("config sipalg 'main'\n\toption {option} '{value}'\n")
}

fn main_list(option: &str, values: &[&str]) -> String {
    let mut s = "config sipalg 'main'\n".to_string();
    for v in values {
        s += &format!("\tlist {option} '{v}'\n");
    }
    s
}

#[test]
fn defaults() {
    let c = Config::default();
    assert!(c.enabled);
    assert!(!c.alg);
    assert!(!c.kernel_helper);
    assert!(c.wan_devices.is_empty());
    assert_eq!(c.external_address, None);
    assert_eq!(c.ports, vec![5060]);
    assert!(c.tcp);
    assert!(c.trusted_sources.is_empty());
    assert_eq!(c.media_source, MediaSource::Sdp);
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert_eq!(
        c.timeouts,
        Timeouts {
            signaling: 3600,
            media: 300
        }
    );
    assert_eq!(
        c.qos,
        Qos {
            enabled: true,
            signaling_dscp: 40,
            media_dscp: 46
        }
    );
}

#[test]
fn shipped_file_is_the_default() {
    let (c, warnings) = parse_with_warnings(F, DEFAULT_FILE).unwrap();
    assert_eq!(c, Config::default());
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn empty_file_and_missing_sections_take_defaults() {
    assert_eq!(ok(""), Config::default());
    assert_eq!(ok("# nothing\n\n"), Config::default());
    let c = ok("config timeouts 'timeouts'\n\toption media '90'\n");
    assert_eq!(c.timeouts.media, 90);
    assert_eq!(c.timeouts.signaling, 3600);
    assert_eq!(c.ports, vec![5060]);
}

#[test]
fn schema_defaults_parse_to_config_defaults() {
    let mut text = String::new();
    for (stype, name) in SECTIONS {
        text += &format!("config {stype} '{name}'\n");
        for o in SCHEMA.iter().filter(|o| o.section == *name) {
            assert_eq!(o.section_type, *stype);
            let kw = if o.list { "list" } else { "option" };
            text += &format!("\t{kw} {} '{}'\n", o.option, o.default);
        }
    }
    assert_eq!(ok(&text), Config::default());
}

#[test]
fn missing_file_is_an_error() {
    let dir = std::env::temp_dir().join(format!("sipalg-cfg-missing-{}", std::process::id()));
    let e = load(&dir).unwrap_err();
    assert_eq!(e.0.len(), 1);
    let s = e.to_string();
    assert!(s.contains("sipalg") && s.contains("does not exist"), "{s}");
}

#[test]
fn load_reads_dir_sipalg() {
    let dir = std::env::temp_dir().join(format!("sipalg-cfg-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sipalg"), main_opt("alg", "1")).unwrap();
    let c = load(&dir).unwrap();
    assert!(c.alg);
    std::fs::write(dir.join("sipalg"), main_opt("alg", "2")).unwrap();
    let e = load(&dir).unwrap_err().to_string();
    let path = dir.join("sipalg").display().to_string();
    assert!(
        e.starts_with(&format!("{path}:2: section 'main' option 'alg':")),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bools_accept_uci_forms() {
    for (v, want) in [
        ("1", true),
        ("on", true),
        ("true", true),
        ("yes", true),
        ("enabled", true),
        ("YES", true),
        ("0", false),
        ("off", false),
        ("false", false),
        ("no", false),
        ("disabled", false),
        ("Off", false),
    ] {
        assert_eq!(ok(&main_opt("alg", v)).alg, want, "alg={v}");
        assert_eq!(ok(&main_opt("enabled", v)).enabled, want, "enabled={v}");
        assert_eq!(ok(&main_opt("kernel_helper", v)).kernel_helper, want);
        assert_eq!(ok(&main_opt("tcp", v)).tcp, want);
    }
    let e = err1(&main_opt("alg", "maybe"));
    assert_eq!(
        e,
        "/etc/config/sipalg:2: section 'main' option 'alg': 'maybe' is not a boolean: \
         use 1/0, on/off, true/false, yes/no or enabled/disabled"
    );
    let e = err1("config qos 'qos'\n\toption enabled '2'\n");
    assert!(
        e.starts_with("/etc/config/sipalg:2: section 'qos' option 'enabled': '2'"),
        "{e}"
    );
}

#[test]
fn empty_value_means_default() {
    let c = ok(&main_opt("tcp", ""));
    assert!(c.tcp);
    let c = ok("config sipalg 'main'\n\toption tcp\n");
    assert!(c.tcp);
}

#[test]
fn wan_device() {
    assert_eq!(
        ok(&main_opt("wan_device", "")).wan_devices,
        Vec::<String>::new()
    );
    assert_eq!(
        ok(&main_opt("wan_device", "eth1")).wan_devices,
        vec!["eth1"]
    );
    assert_eq!(
        ok(&main_opt(
            "wan_device",
            " pppoe-wan  wwan0 eth1.2 pppoe-wan"
        ))
        .wan_devices,
        vec!["pppoe-wan", "wwan0", "eth1.2"]
    );
    let e = err1(&main_opt("wan_device", "averyveryverylongname"));
    assert!(
        e.contains("option 'wan_device'") && e.contains("longer than 15"),
        "{e}"
    );
    let e = err1(&main_opt("wan_device", "eth0 a/b"));
    assert!(e.contains("'a/b' is not a network device name"), "{e}");
}

#[test]
fn external_address() {
    assert_eq!(ok(&main_opt("external_address", "")).external_address, None);
    assert_eq!(
        ok(&main_opt("external_address", "203.0.113.7")).external_address,
        Some(Ipv4Addr::new(203, 0, 113, 7))
    );
    for bad in [
        "203.0.113",
        "example.com",
        "203.0.113.7/32",
        "::1",
        "256.1.1.1",
    ] {
        let e = err1(&main_opt("external_address", bad));
        assert!(
            e.contains("option 'external_address'") && e.contains("not an IPv4"),
            "{e}"
        );
    }
    for bad in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "127.0.0.1"] {
        let e = err1(&main_opt("external_address", bad));
        assert!(e.contains("cannot be advertised"), "{e}");
    }
}

#[test]
fn ports() {
    assert_eq!(ok(&main_list("port", &["5060"])).ports, vec![5060]);
    assert_eq!(
        ok(&main_list("port", &["5080", "5060", "5080", "65535", "1"])).ports,
        vec![5080, 5060, 65535, 1]
    );
    // An option instead of a list, space-separated, as validate_data reads it.
    assert_eq!(ok(&main_opt("port", "5060 5061")).ports, vec![5060, 5061]);
    // Only empty items: the default.
    assert_eq!(ok(&main_list("port", &[""])).ports, vec![5060]);
    // libuci semantics: an option line replaces earlier list items.
    let c = ok("config sipalg 'main'\n\tlist port '1'\n\toption port '2'\n\tlist port '3'\n");
    assert_eq!(c.ports, vec![2, 3]);
    let e = err(&main_list("port", &["0", "65536", "sip", "-1", "5060"]));
    let lines: Vec<String> = e.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "/etc/config/sipalg:2: section 'main' option 'port': port 0 is out of range 1-65535",
            "/etc/config/sipalg:3: section 'main' option 'port': port 65536 is out of range 1-65535",
            "/etc/config/sipalg:4: section 'main' option 'port': 'sip' is not a port number",
            "/etc/config/sipalg:5: section 'main' option 'port': '-1' is not a port number",
        ]
    );
}

#[test]
fn trusted_sources() {
    assert!(ok(&main_list("trusted_source", &[""]))
        .trusted_sources
        .is_empty());
    let c = ok(&main_list(
        "trusted_source",
        &[
            "198.51.100.7",
            "",
            "203.0.113.0/24",
            "10.1.2.3/8",
            "198.51.100.7/32",
        ],
    ));
    let shown: Vec<String> = c.trusted_sources.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        vec!["198.51.100.7/32", "203.0.113.0/24", "10.0.0.0/8"]
    );
    assert!(c.trusted_sources[1].contains(Ipv4Addr::new(203, 0, 113, 200)));
    assert!(!c.trusted_sources[1].contains(Ipv4Addr::new(203, 0, 114, 1)));
    assert!(c.trusted_sources[0].contains(Ipv4Addr::new(198, 51, 100, 7)));
    assert!(!c.trusted_sources[0].contains(Ipv4Addr::new(198, 51, 100, 8)));
    let any: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(any.contains(Ipv4Addr::new(1, 2, 3, 4)));
    for bad in [
        "1.2.3.4/33",
        "1.2.3.4/",
        "1.2.3/24",
        "host.example",
        "1.2.3.4/x",
    ] {
        let e = err1(&main_list("trusted_source", &[bad]));
        assert!(
            e.contains("option 'trusted_source'") && e.contains(bad),
            "{e}"
        );
    }
}

#[test]
fn media_source() {
    assert_eq!(
        ok(&main_opt("media_source", "sdp")).media_source,
        MediaSource::Sdp
    );
    assert_eq!(
        ok(&main_opt("media_source", "any")).media_source,
        MediaSource::Any
    );
    let e = err1(&main_opt("media_source", "SDP"));
    assert!(
        e.contains("option 'media_source'") && e.contains("'sdp' or 'any'"),
        "{e}"
    );
}

#[test]
fn log_level() {
    use log::LevelFilter::*;
    for (v, want) in [
        ("error", Error),
        ("warning", Warn),
        ("info", Info),
        ("debug", Debug),
    ] {
        assert_eq!(ok(&main_opt("log_level", v)).log_level, want);
    }
    let e = err1(&main_opt("log_level", "trace"));
    assert!(
        e.contains("option 'log_level'") && e.contains("'trace' is not a log level"),
        "{e}"
    );
}

#[test]
fn timeouts() {
    let c = ok("config timeouts 'timeouts'\n\toption signaling '120'\n\toption media '60'\n");
    assert_eq!(
        c.timeouts,
        Timeouts {
            signaling: 120,
            media: 60
        }
    );
    let c =
        ok("config timeouts 'timeouts'\n\toption signaling '604800'\n\toption media '604800'\n");
    assert_eq!(
        c.timeouts,
        Timeouts {
            signaling: 604800,
            media: 604800
        }
    );
    assert_eq!(
        err1("config timeouts 'timeouts'\n\toption media '30'\n"),
        "/etc/config/sipalg:2: section 'timeouts' option 'media': 30 is below the minimum 60"
    );
    assert_eq!(
        err1("config timeouts 'timeouts'\n\n\toption signaling '119'\n"),
        "/etc/config/sipalg:3: section 'timeouts' option 'signaling': 119 is below the minimum 120"
    );
    let e = err1("config timeouts 'timeouts'\n\toption signaling '604801'\n");
    assert!(
        e.ends_with("604801 is above the maximum 604800 (7 days)"),
        "{e}"
    );
    let e = err1("config timeouts 'timeouts'\n\toption media '99999999999999999999999'\n");
    assert!(e.contains("above the maximum"), "{e}");
    for bad in ["5m", "-60", "1e3", " 300"] {
        let e = err1(&format!(
            "config timeouts 'timeouts'\n\toption media '{bad}'\n"
        ));
        assert!(e.contains("is not a whole number of seconds"), "{e}");
    }
}

#[test]
fn qos() {
    let c = ok("config qos 'qos'\n\toption enabled '0'\n\toption signaling_dscp 'af31'\n\toption media_dscp '34'\n");
    assert_eq!(
        c.qos,
        Qos {
            enabled: false,
            signaling_dscp: 26,
            media_dscp: 34
        }
    );
    let e = err1("config qos 'qos'\n\toption media_dscp 'EF2'\n");
    assert!(
        e.starts_with(
            "/etc/config/sipalg:2: section 'qos' option 'media_dscp': 'EF2' is not a DSCP"
        ),
        "{e}"
    );
    let e = err1("config qos 'qos'\n\toption signaling_dscp '64'\n");
    assert!(e.contains("out of range 0-63"), "{e}");
}

#[test]
fn dscp_names() {
    for (s, v) in [
        ("CS0", 0),
        ("cs1", 8),
        ("CS5", 40),
        ("CS7", 56),
        ("AF11", 10),
        ("AF12", 12),
        ("AF13", 14),
        ("af21", 18),
        ("AF31", 26),
        ("AF41", 34),
        ("AF43", 38),
        ("EF", 46),
        ("ef", 46),
        ("VA", 44),
        ("LE", 1),
        ("0", 0),
        ("63", 63),
        ("046", 46),
    ] {
        assert_eq!(parse_dscp(s), Ok(v), "{s}");
    }
    for bad in ["", "CS8", "AF14", "AF51", "AF1", "64", "-1", "EF ", "x"] {
        assert!(parse_dscp(bad).is_err(), "{bad:?}");
    }
    for v in 0..=63u8 {
        assert_eq!(parse_dscp(&dscp_name(v)), Ok(v), "{v}");
    }
    assert_eq!(dscp_name(40), "CS5");
    assert_eq!(dscp_name(46), "EF");
    assert_eq!(dscp_name(26), "AF31");
    assert_eq!(dscp_name(3), "3");
}

#[test]
fn quoting_cases_reach_values() {
    // 'it'\''s' is how uci commit writes an apostrophe; here inside a value
    // that must then fail validation with the unquoted text in the message.
    let e = err1("config sipalg 'main'\n\toption log_level 'it'\\''s'\n");
    assert!(e.contains("'it's' is not a log level"), "{e}");
    let c = ok("config sipalg \"main\"\n\toption alg \"1\"\n\toption media_source any\n");
    assert!(c.alg);
    assert_eq!(c.media_source, MediaSource::Any);
    // A multi-line value, then an error on a later line: line numbers stay right.
    let e = err1("config sipalg 'main'\n\toption wan_device 'eth0\neth1'\n\toption tcp 'x'\n");
    assert!(
        e.starts_with("/etc/config/sipalg:4: section 'main' option 'tcp':"),
        "{e}"
    );
    let c = ok("config sipalg 'main'\n\toption wan_device 'eth0\neth1'\n");
    assert_eq!(c.wan_devices, vec!["eth0", "eth1"]);
    // Trailing comments, as in the SPEC's config.
    let c = ok("config sipalg 'main' # the main section\n\toption alg '1'  # on\n");
    assert!(c.alg);
}

#[test]
fn syntax_errors_have_lines() {
    let e = err("config sipalg 'main'\n\toption alg '1\n");
    assert_eq!(
        e[0].to_string(),
        "/etc/config/sipalg:2: unterminated single quote"
    );
    let e = err("config sipalg 'main'\n\toption alg '1' '2'\n\tfoo bar\n");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].line, Some(2));
    assert_eq!(e[1].line, Some(3));
}

#[test]
fn unknown_option_is_an_error_with_a_hint() {
    let e = err1("config sipalg 'main'\n\toption media_sorce 'any'\n");
    assert!(
        e.starts_with("/etc/config/sipalg:2: section 'main' option 'media_sorce': unknown option; did you mean 'media_source'?"),
        "{e}"
    );
    let e = err1("config timeouts 'timeouts'\n\toption rtp '60'\n");
    assert!(
        e.contains("option 'rtp': unknown option (known: signaling, media)"),
        "{e}"
    );
    // qos.enabled is known, main's options are not known in qos.
    let e = err1("config qos 'qos'\n\toption alg '1'\n");
    assert!(
        e.contains("section 'qos' option 'alg': unknown option"),
        "{e}"
    );
}

#[test]
fn list_for_single_option_is_an_error() {
    let e = err1("config sipalg 'main'\n\tlist alg '1'\n");
    assert!(e.contains("write 'option alg', not 'list alg'"), "{e}");
}

#[test]
fn last_option_wins_and_named_sections_merge() {
    let c = ok("config sipalg 'main'\n\toption alg '1'\n\toption alg '0'\nconfig sipalg 'main'\n\toption tcp '0'\n");
    assert!(!c.alg);
    assert!(!c.tcp);
}

#[test]
fn anonymous_sections() {
    let (c, w) = parse_with_warnings(
        F,
        "config sipalg\n\toption alg '1'\nconfig sipalg\n\toption alg '0'\nconfig timeouts\n\toption media '61'\n",
    )
    .unwrap();
    assert!(c.alg, "the first anonymous section is read");
    assert_eq!(c.timeouts.media, 61);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].to_string()
            .starts_with("/etc/config/sipalg:3: section '@sipalg[1]': ignored"),
        "{}",
        w[0]
    );
    // Errors in an anonymous section name it the UCI way.
    let e = err1("config timeouts\n\toption media '1'\n");
    assert!(e.contains("section '@timeouts[0]' option 'media'"), "{e}");
    // A named 'main' wins over an anonymous section.
    let (c, w) =
        parse_with_warnings(F, "config sipalg\n\toption alg '1'\nconfig sipalg 'main'\n").unwrap();
    assert!(!c.alg);
    assert_eq!(w.len(), 1);
}

#[test]
fn unknown_section_type_is_a_warning() {
    let (c, w) = parse_with_warnings(
        F,
        "config timeout 'timeouts'\n\toption media '1'\nconfig whatever 'x'\n\toption y 'z'\n",
    )
    .unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(w.len(), 2);
    assert_eq!(
        w[0].to_string(),
        "/etc/config/sipalg:1: section 'timeouts': unknown section type 'timeout' is ignored \
         (sipalg reads 'sipalg', 'timeouts' and 'qos'); did you mean 'config timeouts'?"
    );
    assert!(w[1].to_string().contains("unknown section type 'whatever'"));
    assert!(!w[1].to_string().contains("did you mean"));
}

#[test]
fn many_errors_are_all_reported() {
    let e = err(
        "config sipalg 'main'\n\toption alg 'x'\n\toption port '0'\nconfig timeouts 'timeouts'\n\toption media '1'\nconfig qos 'qos'\n\toption media_dscp 'zz'\n",
    );
    let lines: Vec<Option<usize>> = e.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(2), Some(3), Some(5), Some(7)]);
    let shown = ConfigErrors(e).to_string();
    assert_eq!(shown.lines().count(), 4, "{shown}");
}

#[test]
fn schema_is_consistent() {
    let mut seen = std::collections::HashSet::new();
    for o in SCHEMA {
        assert!(
            seen.insert((o.section, o.option)),
            "duplicate {}.{}",
            o.section,
            o.option
        );
        assert!(SECTIONS.contains(&(o.section_type, o.section)));
        assert!(!o.uci_datatype.contains(':'), "validate_data splits on ':'");
        for c in ['"', '\\', '$', '`'] {
            assert!(
                !o.uci_datatype.contains(c),
                "{o:?}: procd.sh eval's the datatype inside double quotes"
            );
        }
        assert_eq!(o.list, o.option == "port" || o.option == "trusted_source");
        // min/max are the bounds the datatypes state.
        if let (Some(min), Some(max)) = (o.min, o.max) {
            if o.uci_datatype.contains("range(") {
                assert!(
                    o.uci_datatype.contains(&format!("range({min},{max})")),
                    "{o:?}"
                );
                assert!(
                    o.luci_datatype.contains(&format!("range({min},{max})")),
                    "{o:?}"
                );
            }
            let below = (o.set)(
                &mut Config::default(),
                &(u64::from(min) - u64::from(min > 0)).to_string(),
            );
            assert_eq!(below.is_ok(), min == 0, "{o:?} below min");
            assert!(
                (o.set)(&mut Config::default(), &min.to_string()).is_ok(),
                "{o:?}"
            );
            assert!(
                (o.set)(&mut Config::default(), &max.to_string()).is_ok(),
                "{o:?}"
            );
            assert!(
                (o.set)(&mut Config::default(), &(u64::from(max) + 1).to_string()).is_err(),
                "{o:?}"
            );
        }
        for v in o.values {
            assert!((o.set)(&mut Config::default(), v).is_ok(), "{o:?} {v}");
            assert!(o.uci_datatype.contains(&format!("'{v}'")), "{o:?} {v}");
        }
        if !o.values.is_empty() {
            assert!((o.set)(&mut Config::default(), "x").is_err(), "{o:?}");
        }
    }
    assert!(
        !DSCP_DATATYPE[6..].contains(','),
        "validate_data splits on ','"
    );
    assert_eq!(SCHEMA.len(), 15);
}
