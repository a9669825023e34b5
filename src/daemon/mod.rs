//! The daemon: thin edges around the pure core (NFQUEUE, netlink, nft, the control
//! socket, config loading, signals).
//!
//! Threads: the main thread receives queued packets and gives verdicts; a housekeeping
//! thread handles signals (reload, stop), follows the WAN address and expires state;
//! the control thread answers `sipalgd status`. They share [`Shared`] behind a mutex.

pub mod control;
pub mod firewall;
pub mod helper_guard;
mod json;
pub mod kernel;
pub mod packet;
pub mod ruleset;
pub mod signals;
pub mod status;
pub mod wan;

use crate::config::{self, Config};
use packet::{Hook, Processor, Verdict};
use ruleset::{Backend, Input, SnatElement};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// netfilter hook numbers as NFQUEUE reports them.
const NF_INET_PRE_ROUTING: u8 = 0;

pub struct Shared {
    pub config: Config,
    pub processor: Processor,
    pub kernel: kernel::NetlinkKernel,
    pub backend: Backend,
    pub wan: wan::Wan,
    pub started: Instant,
    pub warnings: Vec<String>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn snat_elements(&self) -> Vec<SnatElement> {
        let Some(wan_ip) = self.wan.address else {
            return Vec::new();
        };
        self.processor
            .mappings
            .iter()
            .map(|m| SnatElement {
                private: m.private,
                public: ruleset::snat_public(wan_ip, m.public_port),
                timeout_s: self.config.timeouts.signaling,
            })
            .collect()
    }

    /// Installs (atomically replaces) our firewall state for the current config/WAN.
    fn install_firewall(&mut self) -> Result<(), String> {
        if self.wan.devices.is_empty() {
            return Err("no WAN device: set wan_device or add a default route".into());
        }
        let snat = self.snat_elements();
        let input = Input {
            wan_devices: &self.wan.devices,
            ports: &self.config.ports,
            backend: Backend::Nft,
            snat: &snat,
        };
        self.backend = firewall::install(&input, self.backend)?;
        Ok(())
    }

    fn apply_config(&mut self) {
        self.processor.alg = self.config.alg;
        self.processor.signaling_timeout = self.config.timeouts.signaling;
        self.processor.external_ip = self.config.external_address;
        self.processor.wan_ip = self.wan.address;
    }

    pub fn status(&self) -> status::Status {
        let wan_ip = self.wan.address;
        status::Status {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            uptime: self.now(),
            alg: self.config.alg,
            queue_backend: self.backend.name(),
            wan_device: self.wan.devices.first().cloned(),
            wan_address: wan_ip,
            external_address: self.config.external_address,
            kernel_helper_loaded: helper_guard::loaded(),
            kernel_helper_attached: helper_guard::attached(),
            kernel_helper_guard: !self.config.kernel_helper,
            counters: self.processor.counters,
            warnings: self.warnings.clone(),
            mappings: self
                .processor
                .mappings
                .iter()
                .map(|m| {
                    let public = self
                        .config
                        .external_address
                        .or(wan_ip)
                        .map_or("-".into(), |ip| format!("{ip}:{}", m.public_port));
                    (m.private.to_string(), public)
                })
                .collect(),
        }
    }
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
    if !cfg.enabled {
        log::info!("disabled in the configuration (enabled=0); exiting");
        return 0;
    }
    let wan = wan::detect(&cfg.wan_devices);
    let mut shared = Shared {
        processor: Processor::new(cfg.alg, cfg.timeouts.signaling),
        config: cfg,
        kernel: kernel::NetlinkKernel::default(),
        backend: Backend::Nft,
        wan,
        started: Instant::now(),
        warnings: Vec::new(),
    };
    shared.apply_config();
    if let Err(e) = shared.install_firewall() {
        log::error!("cannot install the firewall rules: {e}");
        firewall::remove_all();
        return 1;
    }
    log::info!(
        "started: alg {}, queue backend {}, WAN {:?} {}",
        if shared.config.alg { "on" } else { "off" },
        shared.backend.name(),
        shared.wan.devices,
        shared
            .wan
            .address
            .map_or("without an IPv4 address".into(), |a| a.to_string())
    );
    let mut queue = match open_queue() {
        Ok(q) => q,
        Err(e) => {
            log::error!("cannot bind NFQUEUE {}: {e}", ruleset::QUEUE_NUM);
            firewall::remove_all();
            return 1;
        }
    };
    signals::install();
    let shared = Arc::new(Mutex::new(shared));
    let socket = control::socket_path(opts.socket.as_deref());
    {
        let s = Arc::clone(&shared);
        if let Err(e) = control::serve(&socket, move |req| {
            let st = s.lock().unwrap_or_else(|p| p.into_inner()).status();
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
    {
        let s = Arc::clone(&shared);
        let dir = opts.config_dir.clone();
        let sock = socket.clone();
        std::thread::Builder::new()
            .name("housekeeping".into())
            .spawn(move || housekeeping(s, dir, sock))
            .expect("spawn housekeeping thread");
    }
    receive_loop(&mut queue, &shared)
}

fn open_queue() -> std::io::Result<nfq::Queue> {
    let mut q = nfq::Queue::open()?;
    q.bind(ruleset::QUEUE_NUM)?;
    q.set_fail_open(ruleset::QUEUE_NUM, true)?;
    q.set_queue_max_len(ruleset::QUEUE_NUM, 4096)?;
    q.set_recv_gso(ruleset::QUEUE_NUM, false)?;
    Ok(q)
}

fn receive_loop(queue: &mut nfq::Queue, shared: &Arc<Mutex<Shared>>) -> i32 {
    loop {
        let mut msg = match queue.recv() {
            Ok(m) => m,
            Err(e) => {
                // Verdict errors surface here; none of them is fatal.
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::debug!("nfqueue: {e}");
                    shared
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .processor
                        .counters
                        .verdict_errors += 1;
                }
                continue;
            }
        };
        let hook = if msg.get_hook() == NF_INET_PRE_ROUTING {
            Hook::Inbound
        } else {
            Hook::Outbound
        };
        let verdict = {
            let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
            let now = guard.now();
            let Shared {
                processor, kernel, ..
            } = &mut *guard;
            processor.handle(hook, msg.get_payload(), now, kernel)
        };
        if let Verdict::Replace(packet) = verdict {
            msg.set_payload(packet);
        }
        msg.set_verdict(nfq::Verdict::Accept);
        if let Err(e) = queue.verdict(msg) {
            log::debug!("nfqueue verdict: {e}");
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .processor
                .counters
                .verdict_errors += 1;
        }
    }
}

fn reload(shared: &Arc<Mutex<Shared>>, dir: &Path) {
    let cfg = match load_config(dir) {
        Ok(c) => c,
        Err(e) => {
            log::error!("reload refused, keeping the running configuration:\n{e}");
            return;
        }
    };
    crate::logging::set_level(cfg.log_level);
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let devices_before = s.wan.devices.clone();
    s.config = cfg;
    s.wan = wan::detect(&s.config.wan_devices);
    if s.wan.devices != devices_before {
        s.processor.mappings.clear();
    }
    s.apply_config();
    match s.install_firewall() {
        Ok(()) => log::info!(
            "reloaded: alg {}, queue backend {}",
            if s.config.alg { "on" } else { "off" },
            s.backend.name()
        ),
        Err(e) => log::error!("reload: cannot install the firewall rules: {e}"),
    }
}

fn follow_wan(shared: &Arc<Mutex<Shared>>) {
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let now = wan::detect(&s.config.wan_devices);
    if now == s.wan {
        return;
    }
    log::info!(
        "WAN changed: {:?} {:?} -> {:?} {:?}",
        s.wan.devices,
        s.wan.address,
        now.devices,
        now.address
    );
    s.wan = now;
    // Mappings to the old address are useless now.
    s.processor.mappings.clear();
    s.apply_config();
    if let Err(e) = s.install_firewall() {
        log::error!("cannot update the firewall rules after the WAN change: {e}");
    }
}

fn housekeeping(shared: Arc<Mutex<Shared>>, dir: PathBuf, socket: PathBuf) {
    let mut tick: u64 = 0;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        if signals::stop_requested() {
            log::info!(
                "stopping: removing table inet {} and the queue rules",
                ruleset::TABLE
            );
            firewall::remove_all();
            let _ = std::fs::remove_file(&socket);
            // Let packets already queued get their verdicts before the socket closes.
            std::thread::sleep(Duration::from_millis(200));
            std::process::exit(0);
        }
        if signals::take_reload() {
            reload(&shared, &dir);
        }
        tick += 1;
        if tick % 20 == 0 {
            follow_wan(&shared);
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            let now = s.now();
            let idle = u64::from(s.config.timeouts.signaling);
            s.processor.mappings.expire(now, idle);
        }
    }
}
