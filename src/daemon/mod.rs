//! The daemon: thin edges around the pure core (NFQUEUE, netlink, nft, the control
//! socket, config loading, signals). This file boots it; the packet path and the one
//! commit of actions are in [`datapath`], the periodic work in [`housekeeping`], our
//! firewall state in [`install`], the status report in [`status`].
//!
//! Threads: the main thread receives queued packets in bursts and gives verdicts; a
//! housekeeping thread handles signals (reload, stop), follows the WAN address and
//! expires state when the core says it is due; the control thread answers `sipalgd
//! status`. They share [`Shared`] behind a mutex, which the packet path holds only while
//! deciding, never across netlink IO.

pub mod capabilities;
pub mod control;
mod datapath;
pub mod firewall;
pub mod helper_guard;
mod housekeeping;
mod install;
pub(crate) mod json;
pub mod kernel;
pub mod offload;
pub mod ruleset;
pub mod signals;
pub mod status;
pub mod tcp;
pub mod wan;

use crate::alg::Processor;
use crate::config::{self, Config};
use crate::netlink::nfqueue;
use housekeeping::on_off;
pub use install::{policy, ruleset_input, trusted_sources};
use ruleset::Backend;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Shared {
    pub config: Config,
    /// The core: it holds the policy (built from `config` by [`install::policy`]) and
    /// decides; the daemon asks it.
    pub processor: Processor,
    /// Replays after a reload (the packet path has its own sockets).
    pub kernel: kernel::NetlinkKernel,
    pub backend: Backend,
    pub wan: wan::Wan,
    pub started: Instant,
    pub warnings: Vec<String>,
    /// The kernel accepted `ct timeout` policies (OpenWrt's small-flash targets lack them).
    pub ct_timeouts: bool,
    /// The TCP relay's counters, once it listens.
    pub relay: Option<Arc<crate::relay::Stats>>,
    /// Why SIP over TCP is not diverted to the relay although `tcp` and `alg` are on.
    pub relay_off: Option<String>,
    /// The last install of our firewall state succeeded (a table missing later was
    /// deleted by someone else).
    pub installed: bool,
    /// sipalg's flows found in fw4's flowtable at the last check (conntrack).
    pub offloaded: usize,
}

impl Shared {
    /// The state of a daemon starting now with `config` and `wan`, before any IO: the
    /// core with the policy built from the configuration.
    fn new(config: Config, wan: wan::Wan) -> Self {
        Shared {
            processor: Processor::new(policy(&config)),
            config,
            kernel: kernel::NetlinkKernel::default(),
            backend: Backend::Nft,
            wan,
            started: Instant::now(),
            warnings: Vec::new(),
            ct_timeouts: true,
            relay: None,
            relay_off: None,
            installed: false,
            offloaded: 0,
        }
    }

    /// Seconds since the start: the core's `now`.
    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Milliseconds since the start: the core's timers' `now`.
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// The shared state, locked (a thread that panicked holding it leaves it usable).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

struct Options {
    config_dir: PathBuf,
    socket: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        config_dir: PathBuf::from("/etc/config"),
        socket: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config-dir" => {
                o.config_dir = PathBuf::from(it.next().ok_or("--config-dir needs DIR")?)
            }
            "--socket" => o.socket = Some(it.next().ok_or("--socket needs PATH")?.clone()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(o)
}

fn load_config(dir: &Path) -> Result<Config, String> {
    config::load(dir).map_err(|e| e.to_string())
}

/// `sipalgd [--config-dir DIR] [--socket PATH]`: runs in the foreground until SIGTERM.
pub fn run(args: &[String]) -> i32 {
    let opts = match parse_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sipalgd: {e}");
            return 2;
        }
    };
    let cfg = match load_config(&opts.config_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sipalgd: refusing to start, the configuration is invalid:\n{e}");
            return 1;
        }
    };
    crate::logging::init(cfg.log_level);
    default_path();
    if !cfg.enabled {
        log::info!("disabled in the configuration (enabled=0); exiting");
        return 0;
    }
    // One daemon per socket path, and never while an earlier one is still tearing
    // down or `sipalgd cleanup` is removing the firewall state: both hold this lock.
    let socket = control::socket_path(opts.socket.as_deref());
    let Some(_lock) = acquire_lock(&socket) else {
        return 1;
    };
    let shared = Arc::new(Mutex::new(boot(cfg)));
    // The relay listens before the firewall is installed, so one install diverts TCP.
    if let Some(stats) = install::start_relay(&shared) {
        lock(&shared).relay = Some(stats);
    }
    // The queue is bound before the rules send SIP to it: what arrives before the
    // receive loop runs waits in the queue instead of passing unrewritten (`bypass`).
    let mut queue = match datapath::open_queue() {
        Ok(q) => q,
        Err(e) => {
            log::error!("cannot bind NFQUEUE {}: {e}", ruleset::QUEUE_NUM);
            return 1;
        }
    };
    if !install_at_start(&shared) {
        return 1;
    }
    serve_control(&shared, &socket);
    {
        let s = Arc::clone(&shared);
        let dir = opts.config_dir.clone();
        let sock = socket.clone();
        std::thread::Builder::new()
            .name("housekeeping".into())
            .spawn(move || housekeeping::run(s, dir, sock))
            .expect("spawn housekeeping thread");
    }
    datapath::receive_loop(&mut queue, &shared)
}

/// The daemon's lock (see `run`), or None (logged) when another holds it.
fn acquire_lock(socket: &Path) -> Option<control::DaemonLock> {
    let lock_file = control::lock_path(socket);
    match control::DaemonLock::acquire(&lock_file, LOCK_WAIT) {
        Ok(control::Lock::Held(l)) => Some(l),
        Ok(_) => {
            log::error!(
                "another sipalgd runs, or a cleanup is in progress, with {} (still locked after {}s); not starting",
                lock_file.display(),
                LOCK_WAIT.as_secs()
            );
            None
        }
        Err(e) => {
            log::error!("cannot lock {}: {e}; not starting", lock_file.display());
            None
        }
    }
}

/// The shared state for `cfg`: the core with the policy built from it, the WAN, and
/// what the kernel can do (probed); signal handlers installed.
fn boot(cfg: Config) -> Shared {
    let wan = wan::detect(&cfg.wan_devices);
    let mut shared = Shared::new(cfg, wan);
    // The kernel's answers, asked at once (each probe runs nft; several seconds under
    // emulation, so not one after the other). The core decides from the map lookup
    // which set elements a call needs.
    capabilities::probe_all();
    shared
        .processor
        .set_maps_mark_media(capabilities::map_lookup());
    if !shared.processor.maps_mark_media() {
        log::info!("this kernel cannot look a map up as a set (Linux before 6.5): media flows are marked through the media endpoint set, one more set element per media port");
    }
    shared.apply_config();
    signals::install();
    shared
}

/// Installs our firewall state at start and says so; false (logged, state removed)
/// when it cannot.
fn install_at_start(shared: &Mutex<Shared>) -> bool {
    let mut s = lock(shared);
    if let Err(e) = s.install_firewall() {
        log::error!("cannot install the firewall rules: {e}");
        firewall::remove_all();
        return false;
    }
    log::info!(
        "started: alg {}, queue backend {}, WAN {:?} {}",
        on_off(s.processor.policy().alg),
        s.backend.name(),
        s.wan.devices,
        s.wan
            .address
            .map_or("without an IPv4 address".into(), |a| a.to_string())
    );
    true
}

/// Answers `sipalgd status` on the control socket (a thread of its own).
fn serve_control(shared: &Arc<Mutex<Shared>>, socket: &Path) {
    let s = Arc::clone(shared);
    if let Err(e) = control::serve(socket, move |req| {
        // Reading the ruleset spawns nft: do it before taking the lock.
        let helper = helper_guard::seen();
        let queue = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue")
            .ok()
            .and_then(|t| nfqueue::queue_stats(&t, ruleset::QUEUE_NUM));
        let st = lock(&s).status(helper, queue);
        match req {
            "status-text" => st.to_text(),
            _ => st.to_json(),
        }
    }) {
        log::warn!(
            "control socket {}: {e}; `sipalgd status` will not work",
            socket.display()
        );
    }
}

/// Where nft, ip and iptables-nft live on OpenWrt (procd's own PATH).
pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// procd's ujail starts the daemon with an environment of `container=ujail` and the
/// variables the init script names (openwrt/procd jail/jail.c build_envp()): without a
/// PATH, libc's default search path (musl: /usr/local/bin:/bin:/usr/bin) misses
/// /usr/sbin/nft and /sbin/ip. The init script passes PATH; this is the fallback.
/// Called before any thread exists.
fn default_path() {
    if std::env::var_os("PATH").is_none_or(|p| p.is_empty()) {
        std::env::set_var("PATH", DEFAULT_PATH);
    }
}

/// How long a starting daemon waits for the lock (an earlier daemon's teardown takes
/// well under a second; procd kills one that hangs after its `term_timeout`, 5 s).
const LOCK_WAIT: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared state of a daemon with the default configuration, before any IO.
    pub(super) fn shared() -> Shared {
        Shared::new(Config::default(), wan::Wan::default())
    }
}
