//! Installing and removing what sipalg owns in the firewall, through the `nft` and
//! `iptables-nft-restore` programs. This happens once at start, on reload and at exit;
//! per-flow updates go over netlink (see [`crate::netlink`]).

use super::ruleset::{self, Backend, Input, TABLE, TPROXY_MARK, TPROXY_TABLE, XT_POST, XT_PRE};
use std::io::Write;
use std::process::{Command, Stdio};

fn run_with_stdin(program: &str, args: &[&str], stdin: &str) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_with_stdin(program, args, "")
}

/// The iptables-nft restore program: `iptables-nft-restore` where it exists (OpenWrt,
/// Debian), else `iptables-restore`.
fn iptables_program(suffix: &str) -> String {
    for candidate in [format!("iptables-nft{suffix}"), format!("iptables{suffix}")] {
        if Command::new(&candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return candidate;
        }
    }
    format!("iptables{suffix}")
}

/// Installs the table (and, for the fallback, the iptables rules). With `preferred`
/// `Nft`, a kernel without nft's `queue` ([`super::capabilities::nft_queue`]) makes it
/// fall back to iptables-nft; the backend actually in use is returned. The relay's
/// policy route ([`install_tproxy_route`]) is the caller's, and goes in first.
pub fn install(input: &Input, preferred: Backend) -> Result<Backend, String> {
    let backend = install_tables(input, preferred)?;
    if input.tcp_relay.is_none() {
        remove_tproxy_route();
    }
    Ok(backend)
}

/// The policy route `tproxy` needs: packets it marked are delivered locally (to the
/// relay's socket) instead of being forwarded. Added before the rule that marks them,
/// so that no diverted connection is ever forwarded without its socket.
pub fn install_tproxy_route() -> Result<(), String> {
    let mark = format!("{TPROXY_MARK:#x}/{TPROXY_MARK:#x}");
    let table = TPROXY_TABLE.to_string();
    remove_tproxy_route();
    run(
        "ip",
        &["-4", "rule", "add", "fwmark", &mark, "lookup", &table],
    )?;
    run(
        "ip",
        &[
            "-4",
            "route",
            "replace",
            "local",
            "0.0.0.0/0",
            "dev",
            "lo",
            "table",
            &table,
        ],
    )
}

/// Removes the relay's policy route (ignores what is not there).
pub fn remove_tproxy_route() {
    let mark = format!("{TPROXY_MARK:#x}/{TPROXY_MARK:#x}");
    let table = TPROXY_TABLE.to_string();
    for _ in 0..8 {
        if run(
            "ip",
            &["-4", "rule", "del", "fwmark", &mark, "lookup", &table],
        )
        .is_err()
        {
            break;
        }
    }
    let _ = run("ip", &["-4", "route", "flush", "table", &table]);
}

fn install_tables(input: &Input, preferred: Backend) -> Result<Backend, String> {
    if preferred == Backend::Nft {
        if super::capabilities::nft_queue() {
            run_with_stdin("nft", &["-f", "-"], &ruleset::nft(input))?;
            remove_iptables();
            return Ok(Backend::Nft);
        }
        log::info!("this kernel has no nft queue support (nft_queue); queueing SIP with iptables-nft NFQUEUE instead");
    }
    let fallback = Input {
        backend: Backend::IptablesNft,
        ..*input
    };
    // The queue first: from then on SIP waits in the queue for the daemon, which holds
    // its lock until the table and every element are in, so nothing leaves unrewritten
    // while a table deleted by `fw4 flush` is put back. (The nft backend's queue rules
    // are in the table's own transaction.)
    install_iptables(&fallback)?;
    run_with_stdin("nft", &["-f", "-"], &ruleset::nft(&fallback))?;
    Ok(Backend::IptablesNft)
}

fn install_iptables(input: &Input) -> Result<(), String> {
    let restore = iptables_program("-restore");
    run_with_stdin(&restore, &["--noflush"], &ruleset::iptables(input))?;
    let ipt = iptables_program("");
    for (chain, jump) in [("PREROUTING", XT_PRE), ("POSTROUTING", XT_POST)] {
        if run(&ipt, &["-t", "mangle", "-C", chain, "-j", jump]).is_err() {
            run(&ipt, &["-t", "mangle", "-I", chain, "1", "-j", jump])?;
        }
    }
    Ok(())
}

/// Removes the iptables fallback rules, if any (ignores what is not there).
pub fn remove_iptables() {
    let ipt = iptables_program("");
    for (chain, jump) in [("PREROUTING", XT_PRE), ("POSTROUTING", XT_POST)] {
        for _ in 0..8 {
            if run(&ipt, &["-t", "mangle", "-D", chain, "-j", jump]).is_err() {
                break;
            }
        }
        let _ = run(&ipt, &["-t", "mangle", "-F", jump]);
        let _ = run(&ipt, &["-t", "mangle", "-X", jump]);
    }
}

/// Removes everything sipalg installed. Missing pieces are not errors.
pub fn remove_all() {
    let _ = run("nft", &["delete", "table", "inet", TABLE]);
    remove_iptables();
    remove_tproxy_route();
}
