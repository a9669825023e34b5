//! Least privilege, in the namespace lab: sipalgd runs as its own user with
//! CAP_NET_ADMIN only (the identity procd gives it on a router, see
//! `lab::daemon_privileges`), and that identity cannot do what sipalgd does not need.
//! Who may read the control socket: root and the daemon's user only.
//!
//! Needs root (it builds the lab and switches users); SKIP otherwise.

#[path = "common/lab.rs"]
mod lab;

use lab::{Lab, DAEMON_GID, DAEMON_UID};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// CAP_NET_ADMIN (linux/capability.h: 12) as a /proc/PID/status capability mask.
const NET_ADMIN_ONLY: &str = "0000000000001000";

/// `/proc/PID/status` as key -> value.
fn proc_status(pid: u32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn start(lab: &mut Lab) {
    // ALG and TCP on: the daemon then also runs ip (policy route) and binds the
    // relay's transparent socket (IP_TRANSPARENT).
    lab.write_config("\toption alg '1'\n\toption tcp '1'");
    lab.start_daemon();
}

#[test]
fn the_daemon_runs_as_its_own_user_with_cap_net_admin_only() {
    let Some(mut lab) = Lab::new("privs") else {
        return;
    };
    start(&mut lab);
    let pid = lab.daemon_pid().expect("daemon pid");
    let ids = |v: u32| format!("{v}\t{v}\t{v}\t{v}");
    // Every thread: the packet path, housekeeping, control, the TCP relay.
    let tasks: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    assert!(tasks.len() >= 4, "threads of sipalgd: {tasks:?}");
    for tid in std::iter::once(pid).chain(tasks) {
        let st = proc_status(tid);
        assert_eq!(st["Uid"], ids(DAEMON_UID), "uid of {tid}: {st:?}");
        assert_eq!(st["Gid"], ids(DAEMON_GID), "gid of {tid}: {st:?}");
        assert_eq!(st["Groups"], DAEMON_GID.to_string(), "groups of {tid}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(st[set], NET_ADMIN_ONLY, "{set} of {tid}: {st:?}");
        }
        assert_eq!(st["NoNewPrivs"], "1", "NoNewPrivs of {tid}");
    }
    // What it installed with that: the table (nft), the relay's policy route (ip),
    // the relay's transparent socket (IP_TRANSPARENT), the queue (nfnetlink).
    let table = lab.exec("r", &["nft", "list", "table", "inet", "sipalg"]);
    assert!(table.contains("tproxy ip to 127.0.0.1:5059"), "{table}");
    let rules = lab.exec("r", &["ip", "-4", "rule"]);
    assert!(
        rules.contains("fwmark 0x8000000/0x8000000 lookup 5060"),
        "{rules}"
    );
    let route = lab.exec("r", &["ip", "-4", "route", "show", "table", "5060"]);
    assert!(route.contains("local default dev lo"), "{route}");
    let listening = lab.exec("r", &["ss", "-ltnp"]);
    assert!(
        listening.contains("127.0.0.1:5059") && listening.contains(&format!("pid={pid}")),
        "{listening}"
    );
    let st = lab.status_json().expect("status");
    assert!(st.contains("\"warnings\":[]"), "no warning: {st}");
    // The control socket and the lock are the daemon's, owner only, in its state
    // directory.
    use std::os::unix::fs::MetadataExt;
    for p in [lab.socket(), lab.run_dir().join("sipalgd.sock.lock")] {
        let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            (m.uid(), m.mode() & 0o777),
            (DAEMON_UID, 0o600),
            "{}",
            p.display()
        );
    }
}

/// The outcome of each probe, run with the daemon's identity: 0 or the errno.
fn probe_as_daemon(lab: &Lab) -> BTreeMap<String, i32> {
    let exe = lab.runnable(&std::env::current_exe().unwrap());
    let out = lab
        .as_daemon_user(&exe)
        .args([
            "--exact",
            "privilege_probe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SIPALG_PRIVILEGE_PROBE", &lab.dir)
        .env("SIPALG_PRIVILEGE_PROBE_RUN", lab.run_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        // libtest prints "test privilege_probe ... " on the line the first one starts.
        .filter_map(|l| l.find("probe: ").map(|i| &l[i + 7..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn errno_of(r: libc::c_long) -> i32 {
    if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// Not a test of its own: the entry point `probe_as_daemon` runs (this test binary,
/// re-executed with the daemon's identity and SIPALG_PRIVILEGE_PROBE set). Run
/// directly, it does nothing.
#[test]
fn privilege_probe() {
    let (Some(dir), Some(run)) = (
        std::env::var_os("SIPALG_PRIVILEGE_PROBE"),
        std::env::var_os("SIPALG_PRIVILEGE_PROBE_RUN"),
    ) else {
        return;
    };
    let (dir, run) = (Path::new(&dir), Path::new(&run));
    let cstr = |p: &Path| {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
    };
    let report = |name: &str, r: libc::c_long| println!("probe: {name}={}", errno_of(r));
    let open = |p: &Path, flags: libc::c_int| -> libc::c_long {
        // SAFETY: open(2) with a valid C string; the fd is closed right away.
        let fd = unsafe { libc::open(cstr(p).as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
        if fd >= 0 {
            unsafe { libc::close(fd) };
        }
        fd as libc::c_long
    };
    let socket = |domain, kind, proto| -> libc::c_long {
        // SAFETY: plain socket(2); closed right away.
        let fd = unsafe { libc::socket(domain, kind, proto) };
        if fd >= 0 {
            unsafe { libc::close(fd) };
        }
        fd as libc::c_long
    };
    // Raw and packet sockets: CAP_NET_RAW.
    report(
        "raw_socket",
        socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP),
    );
    report("packet_socket", socket(libc::AF_PACKET, libc::SOCK_RAW, 0));
    // Loading a module: CAP_SYS_MODULE.
    let null = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: finit_module with a valid fd and an empty parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, null.as_raw_fd(), c"".as_ptr(), 0) };
    report("finit_module", r);
    // Files: the daemon may write its state directory only.
    let create = libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL;
    report("write_state_dir", open(&run.join("probe"), create));
    report("write_config_dir", open(&dir.join("probe"), create));
    report(
        "write_config",
        open(&dir.join("sipalg"), libc::O_WRONLY | libc::O_APPEND),
    );
    report("write_etc", open(Path::new("/etc/sipalg-probe"), create));
    report(
        "write_usr",
        open(Path::new("/usr/sbin/sipalg-probe"), create),
    );
    report(
        "read_shadow",
        open(Path::new("/etc/shadow"), libc::O_RDONLY),
    );
    report(
        "write_kernel_sysctl",
        open(Path::new("/proc/sys/kernel/hostname"), libc::O_WRONLY),
    );
    // SAFETY: chown of the file just created, to root: CAP_CHOWN.
    report("chown", unsafe {
        libc::chown(cstr(&run.join("probe")).as_ptr(), 0, 0) as libc::c_long
    });
    // Identity and other processes: CAP_SETUID, CAP_KILL.
    // SAFETY: setuid(2) only fails or changes this process, which exits soon.
    report("setuid_root", unsafe { libc::setuid(0) as libc::c_long });
    // SAFETY: signal 0 only checks permission.
    report("kill_init", unsafe { libc::kill(1, 0) as libc::c_long });
    // Ports below 1024: CAP_NET_BIND_SERVICE (the relay falls back to another port).
    let bind = std::net::TcpListener::bind("127.0.0.1:999");
    println!(
        "probe: bind_port_999={}",
        bind.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1))
    );
    // What it needs: CAP_NET_ADMIN reaches the programs it runs (ambient).
    let nft = Command::new("nft")
        .args(["list", "tables"])
        .status()
        .unwrap();
    println!("probe: nft_list={}", nft.code().unwrap_or(-1));
    let _ = std::fs::remove_file(run.join("probe"));
}

#[test]
fn the_daemons_identity_cannot_do_what_it_does_not_need() {
    let Some(mut lab) = Lab::new("nopriv") else {
        return;
    };
    start(&mut lab);
    let got = probe_as_daemon(&lab);
    let (eperm, eacces) = (libc::EPERM, libc::EACCES);
    let mut want: BTreeMap<&str, Vec<i32>> = BTreeMap::from([
        ("raw_socket", vec![eperm]),
        ("packet_socket", vec![eperm]),
        ("write_state_dir", vec![0]),
        ("write_config_dir", vec![eacces]),
        ("write_config", vec![eacces]),
        ("write_etc", vec![eacces]),
        ("write_usr", vec![eacces]),
        ("read_shadow", vec![eacces]),
        ("write_kernel_sysctl", vec![eacces]),
        ("chown", vec![eperm]),
        ("setuid_root", vec![eperm]),
        ("kill_init", vec![eperm]),
        ("bind_port_999", vec![eacces]),
        ("nft_list", vec![0]),
    ]);
    // A kernel built without module support (this lab's 6.18 host: no /proc/modules)
    // answers ENOSYS to anyone; a modular one (Debian's 6.1, OpenWrt's) EPERM without
    // CAP_SYS_MODULE, which the bounding set above has dropped for good.
    want.insert(
        "finit_module",
        if Path::new("/proc/modules").exists() {
            vec![eperm]
        } else {
            vec![libc::ENOSYS]
        },
    );
    let got_names: Vec<&String> = got.keys().collect();
    let want_names: Vec<&&str> = want.keys().collect();
    assert_eq!(
        got_names.len(),
        want_names.len(),
        "probes run: {got:?}, expected {want:?}"
    );
    for (name, ok) in &want {
        let g = got
            .get(*name)
            .unwrap_or_else(|| panic!("probe {name} did not run: {got:?}"));
        assert!(
            ok.contains(g),
            "{name}: got {g} ({}), want one of {ok:?}",
            std::io::Error::from_raw_os_error(*g)
        );
    }
}

/// Runs `sipalgd status --json` as an unprivileged user (nobody), no capabilities.
fn status_as_nobody(lab: &Lab) -> (bool, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ])
        .arg(lab.runnable(&lab::bin()))
        .args(["status", "--json", "--socket"])
        .arg(lab.socket())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn only_root_and_the_daemon_user_read_the_control_socket() {
    let Some(mut lab) = Lab::new("sockperm") else {
        return;
    };
    start(&mut lab);
    let root = lab.status_json().expect("root reads the status");
    assert!(root.contains("\"pid\":"), "{root}");
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    // As installed: the state directory (0700) keeps others out.
    let (ok, out) = status_as_nobody(&lab);
    assert!(!ok && !out.contains("\"pid\""), "{out}");
    assert!(out.contains("Permission denied"), "EACCES: {out}");
    // The socket's own mode (0600) keeps them out too.
    mode(&lab.run_dir(), 0o755);
    let (ok, out) = status_as_nobody(&lab);
    assert!(!ok && !out.contains("\"pid\""), "{out}");
    assert!(out.contains("Permission denied"), "EACCES: {out}");
    // And the daemon answers nobody but root and its own user (SO_PEERCRED).
    mode(&lab.socket(), 0o666);
    let (ok, out) = status_as_nobody(&lab);
    assert!(!ok && !out.contains("\"pid\""), "{out}");
    assert!(out.contains("without answering"), "{out}");
    mode(&lab.socket(), 0o600);
    mode(&lab.run_dir(), 0o700);
    // The daemon's own user may ask.
    let out = lab
        .as_daemon_user(&lab.runnable(&lab::bin()))
        .args(["status", "--json", "--socket"])
        .arg(lab.socket())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"pid\":"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nobody can reconfigure it: no signal (its reload is SIGHUP), no config write.
    let pid = lab.daemon_pid().unwrap();
    let kill = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["kill", "-HUP", &pid.to_string()])
        .output()
        .unwrap();
    assert!(!kill.status.success(), "nobody signalled sipalgd");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !lab.log().contains("reloaded"),
        "a SIGHUP got through: {}",
        lab.log()
    );
}

/// ujail gives the daemon an environment of `container=ujail` and what the init script
/// names (openwrt/procd jail/jail.c build_envp()). The init names PATH; should it ever
/// not, libc's default search path misses /usr/sbin/nft and /sbin/ip, so the daemon
/// falls back to OpenWrt's PATH itself.
#[test]
fn without_a_path_the_daemon_still_runs_nft_and_ip() {
    let Some(mut lab) = Lab::new("nopath") else {
        return;
    };
    lab.write_config("\toption alg '1'\n\toption tcp '1'");
    let mut without_path = lab.daemon_command();
    without_path.env_remove("PATH");
    lab.start_daemon_as(without_path);
    let table = lab.exec("r", &["nft", "list", "table", "inet", "sipalg"]);
    assert!(table.contains("tproxy"), "{table}\n{}", lab.log());
    let rules = lab.exec("r", &["ip", "-4", "rule"]);
    assert!(rules.contains("lookup 5060"), "{rules}\n{}", lab.log());
    let pid = lab.daemon_pid().unwrap();
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !env.split(|b| *b == 0).any(|v| v.starts_with(b"PATH=")),
        "it was started without a PATH"
    );
}
