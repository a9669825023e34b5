//! `sipalgd check [--config-dir DIR]`: validate the configuration.
//!
//! Prints a one-line summary and exits 0 when the config is good; prints
//! every error (and warning) to stderr and exits 1 when it is not; exits 2 on
//! a usage error.

use crate::config::{self, dscp_name, Config};
use std::path::PathBuf;

/// The default configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/config";

const USAGE: &str = "usage: sipalgd check [--config-dir DIR]";

/// Parses `[--config-dir DIR]` (also `--config-dir=DIR`).
pub fn config_dir(args: &[String]) -> Result<PathBuf, String> {
    let mut dir = PathBuf::from(DEFAULT_CONFIG_DIR);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config-dir" {
            match it.next() {
                Some(d) => dir = PathBuf::from(d),
                None => return Err("--config-dir needs a directory".into()),
            }
        } else if let Some(d) = a.strip_prefix("--config-dir=") {
            dir = PathBuf::from(d);
        } else if a == "-h" || a == "--help" {
            return Err(String::new());
        } else {
            return Err(format!("unknown argument '{a}'"));
        }
    }
    Ok(dir)
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The one-line summary printed on success.
pub fn summary(c: &Config) -> String {
    let ports: Vec<String> = c.ports.iter().map(u16::to_string).collect();
    let wan = if c.wan_devices.is_empty() {
        "default route".to_string()
    } else {
        c.wan_devices.join(" ")
    };
    let mut s = format!(
        "config OK: {}, alg {}, kernel helper {}, ports {}, tcp {}, wan {}",
        if c.enabled { "enabled" } else { "disabled" },
        on_off(c.alg),
        on_off(c.kernel_helper),
        ports.join(" "),
        on_off(c.tcp),
        wan,
    );
    if let Some(a) = c.external_address {
        s += &format!(", external address {a}");
    }
    if !c.trusted_sources.is_empty() {
        let t: Vec<String> = c.trusted_sources.iter().map(|c| c.to_string()).collect();
        s += &format!(", trusted {}", t.join(" "));
    }
    s += &format!(
        ", media source {}, timeouts signaling {} s media {} s, qos ",
        c.media_source, c.timeouts.signaling, c.timeouts.media
    );
    if c.qos.enabled {
        s += &format!(
            "signaling {} media {}",
            dscp_name(c.qos.signaling_dscp),
            dscp_name(c.qos.media_dscp)
        );
    } else {
        s += "off";
    }
    let level = match c.log_level {
        log::LevelFilter::Warn => "warning".to_string(),
        l => l.as_str().to_ascii_lowercase(),
    };
    s + &format!(", log {level}")
}

/// Runs `sipalgd check`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let dir = match config_dir(args) {
        Ok(d) => d,
        Err(m) if m.is_empty() => {
            println!("{USAGE}");
            return 0;
        }
        Err(m) => {
            eprintln!("sipalgd check: {m}\n{USAGE}");
            return 2;
        }
    };
    match config::load_with_warnings(&dir) {
        Ok((c, warnings)) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!("{}", summary(&c));
            0
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            let n = errors.0.len();
            eprintln!(
                "sipalgd check: {n} error{} in the configuration",
                if n == 1 { "" } else { "s" }
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(config_dir(&[]).unwrap(), PathBuf::from("/etc/config"));
        assert_eq!(
            config_dir(&args(&["--config-dir", "/tmp/x"])).unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(
            config_dir(&args(&["--config-dir=/tmp/y"])).unwrap(),
            PathBuf::from("/tmp/y")
        );
        assert!(config_dir(&args(&["--config-dir"])).is_err());
        assert!(config_dir(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn default_summary() {
        assert_eq!(
            summary(&Config::default()),
            "config OK: enabled, alg off, kernel helper off, ports 5060, tcp on, wan default route, \
             media source sdp, timeouts signaling 3600 s media 300 s, qos signaling CS5 media EF, log info"
        );
    }
}
