//! The namespace lab for tests: builds tests/lab/lab.sh's network (two LAN phones, a
//! router with an fw4-shaped firewall, a WAN side), runs sipalgd in the router, opens
//! UDP sockets inside the namespaces, and always tears everything down (on drop, on
//! panic, and from a watchdog if a test hangs).
//!
//! Lab tests need root. Without it they print SKIP and pass, unless
//! `SIPALG_REQUIRE_ROOT` is set (as in CI), where they fail.
//!
//! sipalgd itself does not run as root here: [`Lab::daemon_command`] starts it with the
//! identity the package gives it on a router (user and group 5060, CAP_NET_ADMIN only,
//! no_new_privs), as procd's ujail applies it.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub const PHONE1: &str = "192.168.1.20";
pub const PHONE2: &str = "192.168.1.21";
pub const ROUTER_WAN: &str = "198.51.100.1";
pub const SERVER: &str = "198.51.100.10";
pub const MEDIA_GW: &str = "198.51.100.20";
pub const TRUSTED: &str = "198.51.100.30";
pub const STRANGER: &str = "198.51.100.66";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sipalgd binary: cargo tells integration tests; an example finds it beside
/// itself (target/<profile>/examples/../sipalgd).
pub fn bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_sipalgd") {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().expect("current exe");
            exe.parent()
                .and_then(Path::parent)
                .expect("target dir")
                .join("sipalgd")
        }
    }
}

/// The uid and gid sipalgd runs with: the package's `USERID:=sipalg=5060:sipalg=5060`
/// (openwrt/Makefile). Numeric, so the lab needs no account in /etc/passwd.
pub const DAEMON_UID: u32 = 5060;
pub const DAEMON_GID: u32 = 5060;

/// `setpriv` arguments giving the command that follows them the identity procd gives
/// sipalgd (files/sipalg.init: `procd_add_jail sipalg requirejail`, `user`/`group`
/// sipalg, `capabilities /etc/capabilities/sipalg.json`, `no_new_privs 1`). What ujail
/// does with those (openwrt/procd jail/jail.c `post_start_hook`, jail/capabilities.c
/// `applyOCIcapabilities`): bounding set cut to the JSON's `bounding`; `initgroups`,
/// `setregid`, `setreuid` with SECBIT_NO_SETUID_FIXUP (capabilities survive the uid
/// change); securebits then locked (KEEP_CAPS, NO_SETUID_FIXUP, NOROOT locked off);
/// effective/permitted/inheritable set to the JSON's; ambient raised for the JSON's
/// `ambient`; PR_SET_NO_NEW_PRIVS; exec. The JSON lists CAP_NET_ADMIN in all five
/// sets, so after exec: CapInh = CapPrm = CapEff = CapBnd = CapAmb = CAP_NET_ADMIN,
/// NoNewPrivs 1, and the programs sipalgd runs (nft, ip, iptables-nft) get the same
/// through the ambient set. `--groups` gives the supplementary groups `initgroups`
/// gives a user that is in no other group.
pub fn daemon_privileges() -> Vec<String> {
    vec![
        "setpriv".into(),
        format!("--reuid={DAEMON_UID}"),
        format!("--regid={DAEMON_GID}"),
        format!("--groups={DAEMON_GID}"),
        "--inh-caps=-all,+net_admin".into(),
        "--ambient-caps=-all,+net_admin".into(),
        "--bounding-set=-all,+net_admin".into(),
        "--securebits=+noroot_locked,+no_setuid_fixup_locked,+keep_caps_locked".into(),
        "--no-new-privs".into(),
    ]
}

/// The environment procd's ujail gives the daemon (openwrt/procd jail/jail.c
/// build_envp()): `container=ujail` and the init script's `procd_set_param env`, PATH.
pub const DAEMON_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether every user may run `path` (o+x on it and on each directory above it).
fn world_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode());
    matches!(mode(path), Ok(m) if m & 0o005 == 0o005)
        && path
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .all(|a| matches!(mode(a), Ok(m) if m & 0o001 != 0))
}

/// Makes `dir` the daemon user's (mode 0700), as files/sipalg.init does with
/// /var/run/sipalg.
fn give_to_daemon(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: chown on a path we just created.
    assert_eq!(
        unsafe { libc::chown(c.as_ptr(), DAEMON_UID, DAEMON_GID) },
        0,
        "chown {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// How the lab's router is set up (tests/lab/lab.sh's options).
#[derive(Debug, Clone, Copy, Default)]
pub struct Router {
    /// fw4 attaches Linux's SIP helper to LAN SIP (as with nf_conntrack_sip loaded).
    pub kernel_helper: bool,
    /// fw4's software flow offloading is on (its `ft` flowtable and `flow offload`).
    pub flowtable: bool,
}

impl Router {
    fn env(&self, cmd: &mut Command) {
        let flag = |on: bool| if on { "1" } else { "0" };
        cmd.env("SIPALG_LAB_KERNEL_HELPER", flag(self.kernel_helper))
            .env("SIPALG_LAB_FLOWTABLE", flag(self.flowtable));
    }
}

/// Whether this kernel has nf_tables flowtables (`nft --check`, nothing is created).
/// The CI host's 6.18 has none; the VM stage's 6.1 has them.
pub fn flowtable_supported() -> bool {
    let probe = "table inet sipalg_ftprobe {\n\tflowtable f { hook ingress priority 0; devices = { lo }; }\n\tchain c { type filter hook forward priority 0; meta l4proto udp flow offload @f; }\n}\n";
    sipalg::daemon::capabilities::accepted(probe)
}

pub struct Lab {
    pub prefix: String,
    router_setup: Router,
    pub dir: PathBuf,
    daemon: Option<Child>,
    alive: Arc<AtomicBool>,
    _serial: MutexGuard<'static, ()>,
}

impl Lab {
    /// Builds a fresh lab, or returns None (after printing SKIP) when not root.
    pub fn new(test: &str) -> Option<Lab> {
        Self::build(test, Router::default())
    }

    /// A lab whose fw4 attaches the kernel SIP helper, like a router with
    /// kmod-nf-nathelper-extra installed.
    pub fn with_kernel_helper(test: &str) -> Option<Lab> {
        Self::build(
            test,
            Router {
                kernel_helper: true,
                ..Router::default()
            },
        )
    }

    /// A lab whose router has fw4's software flow offloading on. On a kernel without
    /// flowtables this prints SKIP and returns None, unless `SIPALG_REQUIRE_FLOWTABLE`
    /// is set (the VM stage), where it fails.
    pub fn with_flowtable(test: &str) -> Option<Lab> {
        if std::env::var_os("SIPALG_SKIP_LAB").is_none() && is_root() && !flowtable_supported() {
            assert!(
                std::env::var_os("SIPALG_REQUIRE_FLOWTABLE").is_none(),
                "{test}: this kernel has no flowtables (SIPALG_REQUIRE_FLOWTABLE is set)"
            );
            println!("SKIP {test}: this kernel has no flowtables (the VM stage runs it)");
            return None;
        }
        Self::build(
            test,
            Router {
                flowtable: true,
                ..Router::default()
            },
        )
    }

    fn build(test: &str, router_setup: Router) -> Option<Lab> {
        if std::env::var_os("SIPALG_SKIP_LAB").is_some() {
            println!("SKIP {test}: SIPALG_SKIP_LAB is set (the lab stage runs it)");
            return None;
        }
        if !is_root() {
            assert!(
                std::env::var_os("SIPALG_REQUIRE_ROOT").is_none(),
                "{test}: lab tests need root (SIPALG_REQUIRE_ROOT is set)"
            );
            println!("SKIP {test}: lab tests need root and network namespaces");
            return None;
        }
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("s{:x}", (std::process::id() as usize * 16 + n) & 0xfffff);
        let dir = std::env::temp_dir().join(format!("sipalg-lab-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let lab = Lab {
            prefix,
            router_setup,
            dir,
            daemon: None,
            alive,
            _serial: serial,
        };
        give_to_daemon(&lab.run_dir());
        lab.script("up");
        // Offloading tests idle past the flowtable's timeout several times.
        lab.watchdog(Duration::from_secs(if router_setup.flowtable {
            420
        } else {
            180
        }));
        Some(lab)
    }

    fn script(&self, what: &str) {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("tests/lab/lab.sh"))
            .args([what, &self.prefix]);
        self.router_setup.env(&mut cmd);
        let st = cmd.status().expect("run tests/lab/lab.sh");
        assert!(st.success(), "lab.sh {what} {} failed", self.prefix);
    }

    /// Loads the router's fw4 table again, as `fw4 reload` does (OpenWrt runs it on
    /// interface events too): `flush table inet fw4`, the table, and the package's
    /// includes unless `with_includes` is false (as with fw4's `auto_includes 0`).
    pub fn reload_fw4(&self, with_includes: bool) {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("tests/lab/lab.sh"))
            .args(["reload-fw4", &self.prefix]);
        self.router_setup.env(&mut cmd);
        if !with_includes {
            cmd.env("SIPALG_NFT_INCLUDES", self.dir.join("no-includes"));
        }
        let st = cmd.status().expect("run tests/lab/lab.sh");
        assert!(st.success(), "lab.sh reload-fw4 {} failed", self.prefix);
    }

    /// One real sipp call (`-sn uac` in lan1 at PHONE1 to `-sn uas` at SERVER, both
    /// port 5060, both bounded to 60 s) with the extra sipp `transport` arguments (none
    /// for UDP, `-t t1` for TCP). Panics with sipp's output and the daemon's log if the
    /// call fails.
    pub fn sipp_call(&self, transport: &[&str]) {
        let wan = self.ns("wan");
        let mut uas_args = vec!["netns", "exec", &wan, "timeout", "60", "sipp", "-sn", "uas"];
        uas_args.extend_from_slice(transport);
        uas_args.extend_from_slice(&["-i", SERVER, "-p", "5060", "-m", "1", "-nostdin"]);
        let mut uas = Command::new("ip")
            .args(&uas_args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sipp (apt-get install sip-tester)");
        // Until the UAS listens (readiness: under emulation sipp takes seconds to start).
        let (ss, what) = if transport.is_empty() {
            ("-Hlun", "UDP")
        } else {
            ("-Hltn", "TCP")
        };
        let start = Instant::now();
        while !self
            .exec("wan", &["ss", ss, "sport = :5060"])
            .contains(":5060")
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "sipp's UAS never listened on {what} 5060"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let server = format!("{SERVER}:5060");
        let mut uac_args = vec!["timeout", "60", "sipp", "-sn", "uac"];
        uac_args.extend_from_slice(transport);
        uac_args.extend_from_slice(&[
            &server, "-i", PHONE1, "-p", "5060", "-m", "1", "-timeout", "50", "-nostdin",
        ]);
        let uac = self.try_exec("lan1", &uac_args);
        let _ = uas.wait();
        assert!(
            uac.status.success(),
            "sipp uac failed: {}\n{}",
            String::from_utf8_lossy(&uac.stdout),
            self.log()
        );
    }

    /// Tears the lab down if the test is still running after `limit`.
    fn watchdog(&self, limit: Duration) {
        let alive = Arc::clone(&self.alive);
        let prefix = self.prefix.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(500));
                if !alive.load(Ordering::SeqCst) {
                    return;
                }
            }
            eprintln!("watchdog: lab {prefix} exceeded {limit:?}; tearing it down");
            let _ = Command::new("bash")
                .arg(repo().join("tests/lab/lab.sh"))
                .args(["down", &prefix])
                .status();
        });
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    pub fn router(&self) -> String {
        self.ns("r")
    }

    /// Runs a command in a namespace and returns its stdout (panics on failure).
    pub fn exec(&self, host: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(args)
            .output()
            .expect("ip netns exec");
        assert!(
            out.status.success(),
            "{args:?} in {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_exec(&self, host: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// The remaining timeout (s) of the router's UDP flow from `src_ip:src_port`.
    pub fn flow_timeout(&self, src_ip: &str, src_port: u16) -> u32 {
        let port = src_port.to_string();
        let ct = self.exec(
            "r",
            &[
                "conntrack",
                "-L",
                "-p",
                "udp",
                "--orig-src",
                src_ip,
                "--orig-port-src",
                &port,
            ],
        );
        ct.split_whitespace()
            .nth(2)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no flow from {src_ip}:{src_port}: {ct}"))
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("sipalg")
    }

    /// Writes the daemon's UCI config (main section options as given).
    pub fn write_config(&self, main_options: &str) {
        let text = format!("config sipalg 'main'\n\toption enabled '1'\n{main_options}\n");
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// The daemon's state directory (its /var/run/sipalg): owned by its user, mode 0700.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("sipalgd.sock")
    }

    /// `program` as a path every user can run: itself when every user may, else a
    /// copy in the lab directory (a checkout under /root is not).
    pub fn runnable(&self, program: &Path) -> PathBuf {
        if world_executable(program) {
            return program.to_path_buf();
        }
        let copy = self.dir.join(program.file_name().expect("a program file"));
        if !copy.exists() {
            std::fs::copy(program, &copy)
                .unwrap_or_else(|e| panic!("copy {} into the lab: {e}", program.display()));
        }
        copy
    }

    fn daemon_binary(&self) -> PathBuf {
        self.runnable(&bin())
    }

    /// The command that runs `program args...` in the router namespace with the
    /// daemon's identity ([`daemon_privileges`]).
    pub fn as_daemon_user(&self, program: &Path) -> Command {
        let privileges = daemon_privileges();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.router()])
            .args(&privileges)
            .arg(program)
            .env_clear()
            .env("container", "ujail")
            .env("PATH", DAEMON_PATH);
        cmd
    }

    /// The command that starts sipalgd in the router, as the package runs it on a
    /// router: its own user, CAP_NET_ADMIN only ([`daemon_privileges`]).
    pub fn daemon_command(&self) -> Command {
        let mut cmd = self.as_daemon_user(&self.daemon_binary());
        cmd.arg("--config-dir")
            .arg(&self.dir)
            .arg("--socket")
            .arg(self.socket());
        cmd
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("sipalgd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts sipalgd in the router and waits until it answers on its control socket.
    pub fn start_daemon(&mut self) {
        let nowhere = self.dir.join("no-syslog-here");
        self.start_daemon_logging_to(&nowhere);
    }

    /// Like [`Lab::start_daemon`], with syslog at `log_socket` (used when it exists).
    pub fn start_daemon_logging_to(&mut self, log_socket: &Path) {
        let mut cmd = self.daemon_command();
        cmd.env("SIPALG_LOG_SOCKET", log_socket);
        self.start_daemon_as(cmd);
    }

    /// Starts `cmd` (a [`Lab::daemon_command`] the test changed), its stderr in
    /// [`Lab::log`], and waits until it answers on its control socket.
    pub fn start_daemon_as(&mut self, mut cmd: Command) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sipalgd");
        self.daemon = Some(child);
        let start = Instant::now();
        // Readiness, not a fixed time: under emulation (the VM stage) it starts slower.
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(st) = self.status_json() {
                expect_queue_backend(&st);
                return;
            }
            if let Some(Ok(Some(st))) = self.daemon.as_mut().map(Child::try_wait) {
                panic!("sipalgd exited with {st} during start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sipalgd did not answer within 60 s ({:?}):\n{}",
            start.elapsed(),
            self.log()
        );
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        let json = self.status_json()?;
        let i = json.find("\"pid\":")? + 6;
        json[i..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.daemon_pid().expect("daemon pid");
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the daemon process to exit and returns its exit code.
    pub fn wait_daemon(&mut self, limit: Duration) -> Option<i32> {
        let child = self.daemon.as_mut()?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = child.try_wait() {
                self.daemon = None;
                return st.code().or(Some(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The running daemon's process, which the lab then no longer stops.
    pub fn take_daemon(&mut self) -> Option<Child> {
        self.daemon.take()
    }

    /// Makes `child` (started with [`Lab::daemon_command`]) the lab's daemon.
    pub fn adopt_daemon(&mut self, child: Child) {
        self.kill_daemon();
        self.daemon = Some(child);
    }

    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            // `ip netns exec` execs setpriv, which execs the daemon: the child pid is
            // the daemon's.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What `sipalgd status --json` prints, asked on the control socket from this
    /// process (no process per poll: under emulation each costs most of a second).
    pub fn status_json(&self) -> Option<String> {
        sipalg::daemon::control::request(&self.socket(), "status").ok()
    }

    /// Polls status until `pred` holds (or panics after `limit`).
    pub fn wait_status(&self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(s) = self.status_json() {
                if pred(&s) {
                    return s;
                }
                if start.elapsed() > limit {
                    panic!("status never showed {what}: {s}\nlog:\n{}", self.log());
                }
            } else if start.elapsed() > limit {
                panic!("no status while waiting for {what}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A UDP socket bound to `addr` inside namespace `host`.
    pub fn udp(&self, host: &str, addr: &str) -> UdpSocket {
        let ns = self.ns(host);
        let addr: SocketAddr = addr.parse().unwrap();
        let sock = in_netns(&ns, move || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("bind {addr} in {ns}: {e}"));
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        sock
    }

    pub fn stop(&mut self) {
        self.kill_daemon();
        if self.alive.swap(false, Ordering::SeqCst) {
            self.script("down");
        }
    }
}

/// The queue backend a run must use (`SIPALG_EXPECT_QUEUE_BACKEND`, set by the VM stage:
/// its kernel has nft_queue, so every lab test there runs on the nft backend).
fn expect_queue_backend(status: &str) {
    if let Ok(want) = std::env::var("SIPALG_EXPECT_QUEUE_BACKEND") {
        assert!(
            status.contains(&format!("\"queue_backend\":\"{want}\"")),
            "SIPALG_EXPECT_QUEUE_BACKEND={want}, but: {status}"
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.kill_daemon();
        if self.alive.swap(false, Ordering::SeqCst) {
            let _ = Command::new("bash")
                .arg(repo().join("tests/lab/lab.sh"))
                .args(["down", &self.prefix])
                .status();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab files kept in {}", self.dir.display());
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`; sockets it creates
/// stay in that namespace.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = Path::new("/var/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = File::open(&path)?;
        // SAFETY: setns on this thread only; the fd is valid for the call.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// Receives one datagram (with a timeout set on the socket).
pub fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("nothing arrived at {:?}: {e}", sock.local_addr()));
    buf.truncate(n);
    (buf, from)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Receives one datagram and the TOS byte it arrived with (the socket must have had
/// [`enable_tos`] called).
pub fn recv_tos(sock: &UdpSocket) -> (Vec<u8>, SocketAddr, u8) {
    let mut buf = vec![0u8; 65536];
    let mut cmsg = [0u8; 64];
    let mut from: libc::sockaddr_in = unsafe { core::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all pointers refer to live local buffers of the stated lengths.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = core::mem::size_of::<libc::sockaddr_in>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len() as _;
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(
        n >= 0,
        "nothing arrived at {:?}: {}",
        sock.local_addr(),
        std::io::Error::last_os_error()
    );
    buf.truncate(n as usize);
    let mut tos = None;
    // SAFETY: walking the control messages the kernel wrote into `cmsg`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_TOS {
                tos = Some(*libc::CMSG_DATA(c));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr));
    let addr = SocketAddr::from((ip, u16::from_be(from.sin_port)));
    (buf, addr, tos.expect("IP_RECVTOS enabled"))
}

/// Makes `recv_tos` report the TOS byte of datagrams.
pub fn enable_tos(sock: &UdpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option value.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_RECVTOS,
            (&one as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as u32,
        )
    };
    assert_eq!(r, 0);
}

/// Whether a datagram arrives at `sock` within `wait`.
pub fn arrives(sock: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 65536];
    let r = sock.recv_from(&mut buf).ok().map(|(n, a)| {
        buf.truncate(n);
        (buf, a)
    });
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    r
}
