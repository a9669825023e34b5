//! `/etc/init.d/sipalg stop` against a real sipalgd, in the namespace lab, under
//! BusyBox ash with tests/package/init-harness.sh standing in for rc.common and
//! procd.sh. The harness does what procd does on `ubus call service delete`
//! (openwrt/procd service/instance.c instance_stop(), ujail's jail_handle_signal()):
//! SIGTERM, return at once, SIGKILL after term_timeout (5 s). service_stopped then
//! runs the real `sipalgd cleanup --wait`, in the router's namespace.
//!
//! Stop must leave no table, no policy route and no rule behind, and the cleanup must
//! not run while the daemon is still there (tearing down, or stuck): a daemon slow to
//! exit, one procd has to SIGKILL, and cleanups and a new daemon racing the stop.
//!
//! Needs root and busybox; SKIP otherwise.

#[path = "common/lab.rs"]
mod lab;

use lab::Lab;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A simulated router root for the init harness: files/sipalg.init as
/// /etc/init.d/sipalg, and /usr/sbin/sipalgd a wrapper that logs its arguments, runs
/// the real sipalgd, and after a `cleanup` logs whether the daemon still ran.
fn sim_root(lab: &Lab) -> PathBuf {
    let r = lab.dir.join("sim");
    for d in ["etc/config", "etc/init.d", "usr/sbin"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy(
        root().join("files/sipalg.init"),
        r.join("etc/init.d/sipalg"),
    )
    .unwrap();
    let wrapper = r.join("usr/sbin/sipalgd");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
echo "sipalgd $*" >>"$SIM_LOG"
'{real}' "$@"
rc=$?
if [ "$1" = cleanup ]; then
	state=$(sed 's/.*) //' "/proc/$SIM_DAEMON_PID/stat" 2>/dev/null)
	case $state in
	Z* | X* | '') echo "sipalgd cleanup finished after the daemon exited (rc $rc)" >>"$SIM_LOG" ;;
	*) echo "sipalgd cleanup finished while the daemon ran (rc $rc)" >>"$SIM_LOG" ;;
	esac
fi
exit $rc
"#,
            real = lab::bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    r
}

/// `/etc/init.d/sipalg stop` in the router's namespace, procd stopping `daemon_pid`.
fn init_stop(lab: &Lab, sim: &Path, daemon_pid: u32) -> String {
    let log = sim.join("log");
    std::fs::write(&log, "").unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.router(), "busybox", "ash"])
        .arg(root().join("tests/package/init-harness.sh"))
        .arg(sim.join("etc/init.d/sipalg"))
        .arg("stop")
        .env("SIM_ROOT", sim)
        .env("SIM_LOG", &log)
        .env("SIM_RUNNING", "1")
        .env("SIM_DAEMON_PID", daemon_pid.to_string())
        .env("SIPALGD_SOCKET", lab.socket())
        .output()
        .expect("busybox ash (apt-get install busybox)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with("rc=0\n"),
        "stop: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The watcher (procd's timer) may still be writing its last line.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(&log)
        .unwrap()
        .replace(&sim.display().to_string(), "")
}

/// What sipalg installs in the router, as `nft`/`ip`/`iptables` show it; empty when
/// nothing is left.
fn leftovers(lab: &Lab) -> Vec<String> {
    let mut left = Vec::new();
    let tables = lab.exec("r", &["nft", "list", "tables"]);
    if tables.contains("inet sipalg") {
        left.push("table inet sipalg".into());
    }
    let rules = lab.exec("r", &["ip", "-4", "rule"]);
    if rules.contains("fwmark 0x8000000/0x8000000") {
        left.push(format!("ip rule: {rules}"));
    }
    let route = lab.exec("r", &["ip", "-4", "route", "show", "table", "5060"]);
    if !route.trim().is_empty() {
        left.push(format!("route table 5060: {route}"));
    }
    let mangle = lab.try_exec("r", &["iptables-nft", "-t", "mangle", "-S"]);
    let mangle = String::from_utf8_lossy(&mangle.stdout);
    if mangle.contains("SIPALG_") {
        left.push(format!("iptables: {mangle}"));
    }
    left
}

fn start(lab: &mut Lab) -> u32 {
    // ALG and TCP on: a table, queue rules (iptables-nft on a kernel without
    // nft_queue), and the relay's policy route.
    lab.write_config("\toption alg '1'\n\toption tcp '1'");
    lab.start_daemon();
    let pid = lab.daemon_pid().expect("daemon pid");
    assert!(leftovers(lab).len() >= 3, "installed: {:?}", leftovers(lab));
    pid
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn stop_waits_for_a_daemon_slow_to_exit_then_nothing_is_left() {
    let Some(mut lab) = Lab::new("stopslow") else {
        return;
    };
    let pid = start(&mut lab);
    let sim = sim_root(&lab);
    // Stuck for 1.5 s: the SIGTERM procd sends waits until then.
    signal(pid, "STOP");
    let cont = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        signal(pid, "CONT");
    });
    let log = init_stop(&lab, &sim, pid);
    cont.join().unwrap();
    assert!(log.contains(&format!("procd: SIGTERM {pid}\n")), "{log}");
    assert!(
        !log.contains("SIGKILL"),
        "it exited by itself within term_timeout: {log}"
    );
    assert!(
        log.contains("sipalgd cleanup --wait 10\n")
            && log.contains("sipalgd cleanup finished after the daemon exited (rc 0)"),
        "cleanup must not run beside the daemon's own teardown:\n{log}"
    );
    assert_eq!(lab.wait_daemon(Duration::from_secs(5)), Some(0), "{log}");
    assert!(
        lab.log().contains("stopping: removing table inet sipalg"),
        "{}",
        lab.log()
    );
    assert_eq!(leftovers(&lab), Vec::<String>::new(), "{log}");
}

#[test]
fn stop_cleans_up_after_a_daemon_procd_had_to_kill() {
    let Some(mut lab) = Lab::new("stopkill") else {
        return;
    };
    let pid = start(&mut lab);
    let sim = sim_root(&lab);
    // Never answers its SIGTERM: procd (ujail) kills it after term_timeout, and what
    // it installed is left to the cleanup.
    signal(pid, "STOP");
    let log = init_stop(&lab, &sim, pid);
    assert!(log.contains(&format!("procd: SIGKILL {pid}\n")), "{log}");
    assert!(
        log.contains("sipalgd cleanup finished after the daemon exited (rc 0)"),
        "{log}"
    );
    assert_eq!(lab.wait_daemon(Duration::from_secs(5)), Some(-1), "killed");
    assert!(
        !lab.log().contains("stopping: removing"),
        "it never ran its teardown: {}",
        lab.log()
    );
    assert_eq!(leftovers(&lab), Vec::<String>::new(), "{log}");
}

/// `sipalgd cleanup --wait 10` started beside the stop (the init script's `cleanup`,
/// the package's prerm), in the router's namespace.
fn spawn_cleanup(lab: &Lab) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &lab.router()])
        .arg(lab::bin())
        .args(["cleanup", "--wait", "10", "--socket"])
        .arg(lab.socket())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_cleanups_wait_for_the_stopping_daemon() {
    let Some(mut lab) = Lab::new("stoprace") else {
        return;
    };
    let pid = start(&mut lab);
    let sim = sim_root(&lab);
    signal(pid, "STOP");
    let cont = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        signal(pid, "CONT");
    });
    let others: Vec<Child> = (0..2).map(|_| spawn_cleanup(&lab)).collect();
    let log = init_stop(&lab, &sim, pid);
    cont.join().unwrap();
    assert!(
        log.contains("sipalgd cleanup finished after the daemon exited (rc 0)"),
        "{log}"
    );
    for c in others {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent cleanup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(lab.wait_daemon(Duration::from_secs(5)), Some(0));
    assert_eq!(leftovers(&lab), Vec::<String>::new(), "{log}");
}

/// A restart whose new daemon starts while the old one is still stuck in its stop
/// and a cleanup waits for it: the new daemon waits for both (or the cleanup, finding
/// the new daemon running, removes nothing), and what the new daemon installs stays.
#[test]
fn a_new_daemon_waits_for_the_old_ones_teardown_and_a_cleanup() {
    let Some(mut lab) = Lab::new("restart") else {
        return;
    };
    let pid = start(&mut lab);
    signal(pid, "STOP");
    signal(pid, "TERM");
    let cleanup = Command::new("ip")
        .args(["netns", "exec", &lab.router()])
        .arg(lab::bin())
        .args(["cleanup", "--wait", "3", "--socket"])
        .arg(lab.socket())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut old = lab.take_daemon().expect("the old daemon");
    let log = std::fs::File::options()
        .append(true)
        .open(lab.log_path())
        .unwrap();
    let new = lab
        .daemon_command()
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    lab.adopt_daemon(new);
    std::thread::sleep(Duration::from_millis(1000));
    signal(pid, "CONT");
    assert!(old.wait().unwrap().success(), "the old daemon's teardown");
    let out = cleanup.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    // Either it got the lock between the two daemons, or it found the new one running.
    assert!(
        out.status.success() || said.contains("sipalgd is running"),
        "{said}"
    );
    let st = lab.wait_status(Duration::from_secs(20), "the new daemon", |s| {
        !s.contains(&format!("\"pid\":{pid},"))
    });
    assert!(st.contains("\"warnings\":[]"), "{st}");
    std::thread::sleep(Duration::from_millis(500));
    let left = leftovers(&lab);
    assert!(
        left.len() >= 3,
        "the new daemon's table, rule and route stay: {left:?}\n{}",
        lab.log()
    );
}
