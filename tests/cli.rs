//! The command line as a user meets it (no root needed): a bad configuration stops the
//! daemon before it touches the firewall, `rewrite` works on stdin and explains itself,
//! usage errors say what is wrong, and `status` without a daemon says so.

use std::io::Write;
use std::process::{Command, Stdio};

fn sipalgd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sipalgd"))
}

#[test]
fn the_daemon_refuses_to_start_on_a_bad_config() {
    let dir = std::env::temp_dir().join(format!("sipalgd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sipalg"), "config sipalg 'main'\n\toption alg 'maybe'\n\nconfig timeouts 'timeouts'\n\toption media '30'\n").unwrap();
    let out = sipalgd().arg("--config-dir").arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(
        err.contains("sipalg:2: section 'main' option 'alg'"),
        "{err}"
    );
    assert!(err.contains("section 'timeouts' option 'media'"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `sipalgd rewrite` for phone 192.168.1.20:5060 appearing as 203.0.113.7:5060,
/// with `extra` arguments and `input` on stdin.
fn rewrite(extra: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = sipalgd()
        .args([
            "rewrite",
            "--from",
            "192.168.1.20:5060",
            "--public",
            "203.0.113.7:5060",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn rewrite_reads_stdin_and_explains_each_edit() {
    let out = rewrite(
        &["--explain"],
        b"OPTIONS sip:x@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OPTIONS sip:x@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.7:5060;branch=z9\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Via sent-by: 192.168.1.20:5060 -> 203.0.113.7:5060"));

    // Something that is not SIP comes out unchanged, with a note.
    let out = rewrite(&[], b"\x00\x01 not sip");
    assert_eq!(out.stdout, b"\x00\x01 not sip");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unparsable"));
}

#[test]
fn usage_errors_and_a_missing_daemon_are_explained() {
    let out = sipalgd()
        .args(["rewrite", "--from", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nonsense' is not an IPv4 IP:PORT"));
    let out = sipalgd().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    let out = sipalgd()
        .args(["status", "--json", "--socket", "/nonexistent/sipalgd.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("{\"running\":false,\"error\":\"sipalgd is not running"));
    let out = sipalgd().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sipalgd {}", env!("CARGO_PKG_VERSION"))
    );
}
