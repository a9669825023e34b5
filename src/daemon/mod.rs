//! The daemon: thin edges around the pure core (NFQUEUE, netlink, nft, the control
//! socket, config loading, signals).
//!
//! Threads: the main thread receives queued packets in bursts and gives verdicts; a
//! housekeeping thread handles signals (reload, stop), follows the WAN address and
//! expires state; the control thread answers `sipalgd status`. They share [`Shared`]
//! behind a mutex, which the packet path holds only while deciding, never across
//! netlink IO.

pub mod capabilities;
pub mod control;
pub mod firewall;
pub mod helper_guard;
pub(crate) mod json;
pub mod kernel;
pub mod offload;
pub mod ruleset;
pub mod signals;
pub mod status;
pub mod tcp;
pub mod wan;

use crate::alg::{Hook, Processor, Resume, Step, Verdict};
use crate::config::{self, Config};
use crate::netlink::nfqueue::{self, Queue};
use crate::state::actions::Action;
use ruleset::{Backend, Input, SnatElement};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// netfilter hook numbers as NFQUEUE reports them.
const NF_INET_PRE_ROUTING: u8 = 0;

pub struct Shared {
    pub config: Config,
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
    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn snat_elements(&self) -> Vec<SnatElement> {
        let Some(wan_ip) = self.wan.address else {
            return Vec::new();
        };
        if !self.config.alg {
            return Vec::new();
        }
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

    /// Installs (atomically replaces) our firewall state for the current config/WAN,
    /// then puts back the per-call and per-registration elements.
    fn install_firewall(&mut self) -> Result<(), String> {
        self.installed = false;
        if self.wan.devices.is_empty() {
            return Err("no WAN device: set wan_device or add a default route".into());
        }
        let snat = self.snat_elements();
        let trusted = trusted_sources(&self.config);
        let mut input = ruleset_input(&self.config, &self.wan, &snat, &trusted);
        self.relay_off = None;
        if input.tcp_relay.is_some() {
            if self.relay.is_none() {
                self.relay_off =
                    Some("the TCP relay is not listening: SIP over TCP passes unmodified".into());
            } else if bridge_calls_iptables() {
                // br_netfilter runs the prerouting hooks inside the bridge, before IP
                // input orphans the packet: the socket tproxy assigned is lost and the
                // connection is reset. Not diverting keeps TCP SIP working, unmodified.
                self.relay_off = Some("br_netfilter is loaded with net.bridge.bridge-nf-call-iptables=1, which breaks transparent proxying on bridged LANs: SIP over TCP passes unmodified".into());
            }
            if self.relay_off.is_some() {
                input.tcp_relay = None;
            }
        }
        input.maps_as_sets = self.processor.maps_mark_media;
        self.ct_timeouts = capabilities::ct_timeout();
        if !self.ct_timeouts {
            log::warn!("conntrack timeout policies are not available; SIP and media flows keep the global UDP timeouts, registered phones' flows are still extended");
            input.timeouts = None;
        }
        let backend = firewall::install(&input, self.backend)?;
        self.backend = backend;
        self.installed = true;
        self.replay_state();
        Ok(())
    }

    /// Re-adds the elements of live calls and registrations (a new table starts empty).
    fn replay_state(&mut self) {
        let Some(wan_ip) = self.wan.address else {
            return;
        };
        let actions = self.processor.replay(self.now());
        let failed = self.kernel.apply(&actions, wan_ip);
        self.processor.counters.program_errors += failed as u64;
    }

    fn apply_config(&mut self) {
        self.processor.configure(&self.config, self.wan.address);
    }

    /// The status report; `helper` is [`helper_guard::seen`] and `queue` our line of
    /// `/proc/net/netfilter/nfnetlink_queue`, both read by the caller without holding
    /// the state lock.
    pub fn status(
        &self,
        helper: helper_guard::Seen,
        queue: Option<nfqueue::QueueStats>,
    ) -> status::Status {
        let wan_ip = self.wan.address;
        let now = self.now();
        let advertised = self.config.external_address.or(wan_ip);
        let public = |port: u16| advertised.map_or("-".into(), |ip| format!("{ip}:{port}"));
        let mut warnings = self.warnings.clone();
        let helper_loaded = helper_guard::loaded();
        let guard = !self.config.kernel_helper && helper.guard_in_fw4;
        if helper.attached && self.config.kernel_helper {
            warnings.push("the kernel SIP helper (nf_conntrack_sip) is attached to SIP traffic (kernel_helper=1)".into());
        } else if helper.attached && guard {
            warnings.push("fw4 attaches the kernel SIP helper to SIP traffic; sipalg keeps it off (kernel_helper=0)".into());
        } else if helper.attached {
            warnings.push("fw4 attaches the kernel SIP helper to SIP traffic and sipalg's guard is not in fw4's prerouting chain (auto_includes off in /etc/config/firewall? run 'fw4 reload'): Linux's helper rewrites SIP too".into());
        }
        if let Some(why) = &self.relay_off {
            warnings.push(why.clone());
        }
        warnings.extend(offload::warning(helper.offload));
        warnings.extend(offload::offloaded_warning(self.offloaded));
        if !self.ct_timeouts {
            warnings.push("this kernel has no conntrack timeout policies: SIP and media flows use the global UDP timeouts".into());
        }
        let mut registrations: Vec<status::RegistrationStatus> = self
            .processor
            .registrations
            .iter()
            .map(|r| status::RegistrationStatus {
                aor: r.aor.clone(),
                private: r.private.to_string(),
                public: public(r.public_port),
                registrar: r.registrar.to_string(),
                expires_in: r.expires_at.saturating_sub(now),
            })
            .collect();
        registrations.sort_by(|a, b| a.private.cmp(&b.private));
        let mut calls: Vec<status::CallStatus> = self
            .processor
            .calls
            .iter()
            .map(|c| status::CallStatus {
                call_id: c.call_id.clone(),
                state: c.state.name(),
                outbound: c.outbound,
                age: now.saturating_sub(c.created),
                phone: c.phone.to_string(),
                peer: c.peer.to_string(),
                one_way: c.one_way(now, crate::alg::ONE_WAY_AFTER),
                streams: c
                    .streams
                    .iter()
                    .filter(|s| s.private.is_some() || s.remote.is_some())
                    .map(|s| status::StreamStatus {
                        kind: s.kind.name(),
                        private: s.private.map(|p| p.to_string()),
                        public: s.private.map(|_| public(s.public_port)),
                        remote: s.remote.map(|r| r.to_string()),
                        packets_out: s.packets_out,
                        packets_in: s.packets_in,
                        one_way: s.one_way(now, crate::alg::ONE_WAY_AFTER),
                    })
                    .collect(),
            })
            .collect();
        calls.sort_by_key(|c| std::cmp::Reverse(c.age));
        status::Status {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            uptime: now,
            alg: self.config.alg,
            queue_backend: self.backend.name(),
            wan_device: self.wan.devices.first().cloned(),
            wan_address: wan_ip,
            external_address: self.config.external_address,
            kernel_helper_loaded: helper_loaded,
            kernel_helper_attached: helper.attached && !guard,
            kernel_helper_guard: guard,
            flow_offload: status::FlowOffload {
                offloading: helper.offload.offloading,
                hardware: helper.offload.hardware,
                kept_out: helper.offload.kept_out,
                offloaded: self.offloaded,
            },
            counters: crate::alg::Counters {
                // The kernel's own count where its file is readable (root only: the
                // daemon runs as its own user on a router), else the packet ids that
                // never arrived (a drop after the last packet shows with the next one).
                queue_dropped: queue.map_or(self.processor.counters.queue_dropped, |q| {
                    (q.dropped + q.user_dropped).max(self.processor.counters.queue_dropped)
                }),
                ..self.processor.counters
            },
            warnings,
            mappings: self
                .processor
                .mappings
                .iter()
                .map(|m| (m.private.to_string(), public(m.public_port)))
                .collect(),
            registrations,
            calls,
            limits: self.limits(),
            tcp_relay: self.relay.as_ref().map(|r| r.counts()),
            tcp_connections: self
                .relay
                .as_ref()
                .map(|r| r.connections())
                .unwrap_or_default()
                .into_iter()
                .map(|(c, since)| status::TcpConnectionStatus {
                    phone: c.phone.to_string(),
                    source: c.source.to_string(),
                    peer: c.peer.to_string(),
                    public: c.public.to_string(),
                    age: now.saturating_sub(since),
                })
                .collect(),
        }
    }
}

impl Shared {
    /// Every cap of the state, how full it is and what happened at it.
    fn limits(&self) -> Vec<status::LimitStatus> {
        use crate::state::{calls, registrations, restore::Restore};
        let p = &self.processor;
        let limit = |name, now: usize, max: usize, at_cap, count| status::LimitStatus {
            name,
            now: now as u64,
            max: max as u64,
            at_cap,
            count,
        };
        let spare = p.pool.spare.len();
        vec![
            limit(
                "calls",
                p.calls.len(),
                calls::MAX_CALLS,
                "evicted",
                p.calls.evicted,
            ),
            limit(
                "registrations",
                p.registrations.len(),
                registrations::MAX_REGISTRATIONS,
                "refused",
                p.registrations.refused,
            ),
            limit(
                "pending_registers",
                p.registrations.pending(),
                registrations::MAX_PENDING,
                "evicted",
                p.registrations.pending_evicted,
            ),
            limit(
                "transactions",
                p.restore.transactions(),
                Restore::MAX_TRANSACTIONS,
                "evicted",
                p.restore.transactions_evicted,
            ),
            limit(
                "contacts",
                p.restore.contacts(),
                Restore::MAX_CONTACTS,
                "evicted",
                p.restore.contacts_evicted,
            ),
            limit(
                "spare_ports",
                p.pool.spare_owned(),
                spare,
                "refused",
                p.pool.exhausted,
            ),
        ]
    }
}

/// Whether br_netfilter passes bridged IPv4 through the IP hooks (in this namespace).
fn bridge_calls_iptables() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

/// Starts the TCP relay's transparent listener (it relays only what the ruleset
/// diverts to it: nothing with `tcp 0` or `alg 0`).
fn start_relay(shared: &Arc<Mutex<Shared>>) -> Option<Arc<crate::relay::Stats>> {
    let listener = match crate::relay::listen(crate::relay::RELAY_PORT) {
        Ok(l) => l,
        Err(e) => {
            log::warn!(
                "TCP relay: cannot listen on 127.0.0.1:{} ({e}); SIP over TCP passes unmodified",
                crate::relay::RELAY_PORT
            );
            return None;
        }
    };
    let established =
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")
            .ok()
            .and_then(|v| v.trim().parse().ok());
    let signaling = shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .config
        .timeouts
        .signaling;
    let limits = crate::relay::conn::Limits {
        idle: u64::from(signaling),
        ..Default::default()
    };
    let stats = Arc::new(crate::relay::Stats::default());
    let handler = Arc::new(tcp::Relay::new(Arc::clone(shared)));
    let keepalive = crate::relay::conn::keepalive_idle(established, 600);
    match crate::relay::start(listener, handler, Arc::clone(&stats), limits, keepalive) {
        Ok(()) => Some(stats),
        Err(e) => {
            log::warn!("TCP relay: cannot start ({e}); SIP over TCP passes unmodified");
            None
        }
    }
}

/// The configured trusted sources as nft set elements.
pub fn trusted_sources(c: &Config) -> Vec<String> {
    c.trusted_sources.iter().map(|t| t.to_string()).collect()
}

/// What goes into our table for this configuration and WAN.
pub fn ruleset_input<'a>(
    c: &'a Config,
    wan: &'a wan::Wan,
    snat: &'a [SnatElement],
    trusted: &'a [String],
) -> Input<'a> {
    Input {
        wan_devices: &wan.devices,
        wan_address: wan.address,
        ports: &c.ports,
        backend: Backend::Nft,
        snat,
        alg: c.alg,
        media_any: c.media_source == config::MediaSource::Any,
        trusted,
        kernel_helper_guard: !c.kernel_helper,
        timeouts: Some((c.timeouts.signaling, c.timeouts.media)),
        dscp: c
            .qos
            .enabled
            .then_some((c.qos.signaling_dscp, c.qos.media_dscp)),
        tcp_relay: (c.tcp && c.alg).then_some(crate::relay::RELAY_PORT),
        maps_as_sets: true,
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
    default_path();
    if !cfg.enabled {
        log::info!("disabled in the configuration (enabled=0); exiting");
        return 0;
    }
    // One daemon per socket path, and never while an earlier one is still tearing
    // down or `sipalgd cleanup` is removing the firewall state: both hold this lock.
    let socket = control::socket_path(opts.socket.as_deref());
    let lock_file = control::lock_path(&socket);
    let _lock = match control::DaemonLock::acquire(&lock_file, LOCK_WAIT) {
        Ok(control::Lock::Held(l)) => l,
        Ok(_) => {
            log::error!(
                "another sipalgd runs, or a cleanup is in progress, with {} (still locked after {}s); not starting",
                lock_file.display(),
                LOCK_WAIT.as_secs()
            );
            return 1;
        }
        Err(e) => {
            log::error!("cannot lock {}: {e}; not starting", lock_file.display());
            return 1;
        }
    };
    let wan = wan::detect(&cfg.wan_devices);
    let mut shared = Shared {
        processor: Processor::new(cfg.alg, cfg.timeouts.signaling),
        config: cfg,
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
    };
    // The kernel's answers, asked at once (each probe runs nft; several seconds under
    // emulation, so not one after the other). The core decides from the map lookup
    // which set elements a call needs.
    capabilities::probe_all();
    shared.processor.maps_mark_media = capabilities::map_lookup();
    if !shared.processor.maps_mark_media {
        log::info!("this kernel cannot look a map up as a set (Linux before 6.5): media flows are marked through the media endpoint set, one more set element per media port");
    }
    shared.apply_config();
    signals::install();
    let shared = Arc::new(Mutex::new(shared));
    // The relay listens before the firewall is installed, so one install diverts TCP.
    if let Some(stats) = start_relay(&shared) {
        shared.lock().unwrap_or_else(|p| p.into_inner()).relay = Some(stats);
    }
    {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = s.install_firewall() {
            log::error!("cannot install the firewall rules: {e}");
            firewall::remove_all();
            return 1;
        }
        log::info!(
            "started: alg {}, queue backend {}, WAN {:?} {}",
            if s.config.alg { "on" } else { "off" },
            s.backend.name(),
            s.wan.devices,
            s.wan
                .address
                .map_or("without an IPv4 address".into(), |a| a.to_string())
        );
    }
    let mut queue = match open_queue() {
        Ok(q) => q,
        Err(e) => {
            log::error!("cannot bind NFQUEUE {}: {e}", ruleset::QUEUE_NUM);
            firewall::remove_all();
            return 1;
        }
    };
    {
        let s = Arc::clone(&shared);
        if let Err(e) = control::serve(&socket, move |req| {
            // Reading the ruleset spawns nft: do it before taking the lock.
            let helper = helper_guard::seen();
            let queue = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue")
                .ok()
                .and_then(|t| nfqueue::queue_stats(&t, ruleset::QUEUE_NUM));
            let st = s
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .status(helper, queue);
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

/// Packets the kernel holds for a verdict (in our socket or held by us) before it drops
/// new ones: more than the socket below holds even of the smallest messages, so the
/// socket fills first and the kernel's drops show as gaps in the packet ids.
const QUEUE_MAX_LEN: u32 = 8192;
/// Receive buffer asked for (the kernel doubles it for its own bookkeeping): room for
/// thousands of queued SIP messages (~0.8-2.5 KB of kernel memory each), enough to ride
/// out a scheduling gap of a slow or busy CPU during a registration storm.
const QUEUE_RCVBUF: usize = 2 << 20;
/// The overload policy (issue #22): no `NFQA_CFG_F_FAIL_OPEN`. When sipalgd cannot keep
/// up, what does not fit is DROPPED by the kernel, never passed unrewritten: a REGISTER
/// that left with the phone's private Contact would bind an unreachable address at the
/// registrar until the next refresh, whereas a dropped one is retransmitted by the
/// phone (RFC 3261 timers A/E) and rewritten then. With no daemon at all, the rules'
/// `bypass` lets SIP through unmodified (the kernel finds no listener: -ESRCH).
const QUEUE_FLAGS: u32 = 0;
/// Datagrams taken in one burst (their verdicts go out together).
const BURST: usize = 64;
/// Burst buffer: what one burst may hold (at least one largest message more).
const BURST_BYTES: usize = 256 << 10;
/// Verdicts are sent in datagrams of about this size.
const VERDICT_DATAGRAM: usize = 32 << 10;

fn open_queue() -> std::io::Result<Queue> {
    let (q, granted) = Queue::open(
        &nfqueue::Config {
            queue: ruleset::QUEUE_NUM,
            max_len: QUEUE_MAX_LEN,
            flags: QUEUE_FLAGS,
        },
        QUEUE_RCVBUF,
        BURST_BYTES,
    )?;
    if granted < QUEUE_RCVBUF {
        log::warn!("the queue's receive buffer is {granted} bytes, not {QUEUE_RCVBUF}: under load the kernel drops more SIP (senders retransmit); see `sipalgd status`");
    }
    Ok(q)
}

/// The packet path: receive a burst, decide every packet under the lock, then (lock
/// released) commit in ONE nft batch what must precede these verdicts plus what
/// trailed the previous ones, then send the drops (what cannot leave rewritten) and all
/// verdicts in arrival order. What may trail waits for the next burst, or is committed
/// as soon as the queue is quiet. Under overload the queue's socket fills and the kernel
/// drops what does not fit (`QUEUE_FLAGS`).
fn receive_loop(queue: &mut Queue, shared: &Arc<Mutex<Shared>>) -> i32 {
    // Our own netlink sockets for the datapath writes, used without the lock.
    let mut datapath = kernel::NetlinkKernel::default();
    let mut trailing: Vec<Action> = Vec::new();
    let mut due: Vec<Action> = Vec::new();
    let mut verdicts: Vec<(u32, Verdict)> = Vec::with_capacity(BURST);
    // Packets that cannot leave rewritten (no public port free): dropped.
    let mut drops: Vec<u32> = Vec::new();
    let mut wan_ip = None;
    loop {
        let got = match queue.recv_burst(trailing.is_empty(), BURST) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("nfqueue: {e}");
                0
            }
        };
        if got == 0 {
            // The queue is quiet: what trailed the last verdicts goes now.
            commit(&mut datapath, &trailing, wan_ip, shared);
            trailing.clear();
            continue;
        }
        {
            let (packets, events) = queue.packets();
            let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
            let mut guard = Some(lock());
            if let Some(g) = guard.as_mut() {
                g.processor.counters.verdict_errors += events.verdict_errors;
                // Packets the kernel numbered but could not put into our full socket:
                // dropped (QUEUE_MAX_LEN is above what the socket holds, so the
                // queue's own limit, reached before numbering, is not hit first).
                g.processor.counters.queue_dropped += events.missed;
                // The last burst's verdicts are sent: their packet buffers serve this one.
                for (_, v) in verdicts.drain(..) {
                    if let Verdict::Replace(b) = v {
                        g.processor.recycle(b);
                    }
                }
            }
            for p in &packets {
                let hook = if p.hook == NF_INET_PRE_ROUTING {
                    Hook::Inbound
                } else {
                    Hook::Outbound
                };
                let mut resume = None;
                loop {
                    let g = guard.get_or_insert_with(lock);
                    let now = g.now();
                    match g.processor.handle(hook, p.payload, now, resume.as_ref()) {
                        Step::Verdict(Verdict::Drop) => {
                            drops.push(p.id);
                            break;
                        }
                        Step::Verdict(v) => {
                            verdicts.push((p.id, v));
                            break;
                        }
                        Step::Lookup(request) => {
                            // A flow that predates us: conntrack, without the lock.
                            guard = None;
                            let answer = datapath.lookup(&request);
                            resume = Some(Resume { request, answer });
                        }
                    }
                }
            }
            let g = guard.get_or_insert_with(lock);
            wan_ip = g.processor.wan_ip;
            // Due now: what trailed the last verdicts, then what precedes these.
            due.clear();
            due.append(&mut trailing);
            g.processor.append_actions(&mut due, &mut trailing);
        }
        commit(&mut datapath, &due, wan_ip, shared);
        send_verdicts(queue, &drops, &verdicts, shared);
        drops.clear();
    }
}

/// Sends the drops and the verdicts (errors are counted).
fn send_verdicts(
    queue: &mut Queue,
    drops: &[u32],
    verdicts: &[(u32, Verdict)],
    shared: &Arc<Mutex<Shared>>,
) {
    if drops.is_empty() && verdicts.is_empty() {
        return;
    }
    let sent = queue.send_verdicts(
        drops,
        verdicts.iter().filter_map(|(id, v)| match v {
            Verdict::Replace(p) => Some((*id, Some(&p[..]))),
            Verdict::Accept => Some((*id, None)),
            Verdict::Drop => None,
        }),
        VERDICT_DATAGRAM,
    );
    if let Err(e) = sent {
        log::debug!("nfqueue verdicts: {e}");
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        g.processor.counters.verdict_errors += 1;
    }
}

/// Carries out actions (no lock held); failures are counted.
fn commit(
    datapath: &mut kernel::NetlinkKernel,
    actions: &[Action],
    wan_ip: Option<std::net::Ipv4Addr>,
    shared: &Arc<Mutex<Shared>>,
) {
    let Some(wan_ip) = wan_ip.filter(|_| !actions.is_empty()) else {
        return;
    };
    let failed = datapath.apply(actions, wan_ip);
    if failed > 0 {
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        g.processor.counters.program_errors += failed as u64;
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
        forget_flows(&mut s);
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
    forget_flows(&mut s);
    s.apply_config();
    if let Err(e) = s.install_firewall() {
        log::error!("cannot update the firewall rules after the WAN change: {e}");
    }
}

/// Puts our table back after something else deleted it (`fw4 flush`, run by
/// `/etc/init.d/firewall stop`, deletes every table; `fw4 restart` and `reload` leave it):
/// the rules, then every live call's and registration's elements.
fn reinstall_lost_table(shared: &Arc<Mutex<Shared>>) {
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    if !s.installed {
        return;
    }
    log::warn!(
        "table inet {} was deleted by something else (fw4 flush?): installing it again",
        ruleset::TABLE
    );
    if let Err(e) = s.install_firewall() {
        log::error!("cannot install the firewall rules again: {e}");
    }
}

/// Says at start what fw4's flow offloading means for sipalg (fw4 may also load later:
/// `sipalgd status` reads it live).
fn log_offloading(seen: offload::Seen) {
    match offload::warning(seen) {
        Some(w) => log::warn!("{w}"),
        None if seen.offloading => log::info!(
            "fw4's {} flow offloading is on: sipalg's flows are kept out of the flowtable, all others are offloaded",
            if seen.hardware { "hardware" } else { "software" }
        ),
        None => log::info!("fw4 has no flowtable (flow offloading off): nothing to keep out of it"),
    }
}

/// Counts sipalg's flows found in fw4's flowtable anyway (conntrack's offload bits on
/// flows with our mark), and logs when that starts and stops.
fn check_offloaded(shared: &Arc<Mutex<Shared>>, kernel: &mut kernel::NetlinkKernel) {
    let Some(now) = kernel.offloaded_flows() else {
        return;
    };
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    if now > 0 && s.offloaded == 0 {
        if let Some(w) = offload::offloaded_warning(now) {
            log::warn!("{w}");
        }
    } else if now == 0 && s.offloaded > 0 {
        log::info!("no flow that sipalg handles is offloaded any more");
    }
    s.offloaded = now;
}

/// Forgets every mapping, call and registration (the WAN changed under them).
fn forget_flows(s: &mut Shared) {
    s.processor.forget();
}

fn housekeeping(shared: Arc<Mutex<Shared>>, dir: PathBuf, socket: PathBuf) {
    // fw4's flow offloading, said once at start (reading the ruleset runs nft: not on
    // the way to answering the queue).
    log_offloading(helper_guard::seen().offload);
    let mut tick: u64 = 0;
    // Its own netlink sockets, for the media counters and expiry.
    let mut counters = kernel::NetlinkKernel::default();
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
        if tick % 4 == 0 {
            // The conntrack dump runs without the lock: packets keep flowing meanwhile.
            let has_calls = !shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .processor
                .calls
                .is_empty();
            let counts = if has_calls {
                counters
                    .dump_udp()
                    .ok()
                    .map(|e| crate::alg::media_counts(&e))
            } else {
                None
            };
            let (expired, wan_ip) = {
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                let now = s.now();
                if let Some(counts) = counts {
                    s.processor
                        .calls
                        .update_counters(now, |p| counts.get(&p).copied());
                }
                let media = s.config.timeouts.media;
                (s.processor.housekeeping(now, media), s.processor.wan_ip)
            };
            commit(&mut counters, &expired, wan_ip, &shared);
        }
        if tick % 20 == 0 {
            check_offloaded(&shared, &mut counters);
            follow_wan(&shared);
            if counters.table_present() == Some(false) {
                reinstall_lost_table(&shared);
            }
        }
    }
}
