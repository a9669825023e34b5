//! The housekeeping thread: signals (reload, stop) every 250 ms, and the periodic work
//! the core schedules ([`crate::alg::Processor::poll_timeout`]): housekeeping with the
//! media counters sampled from conntrack, and the check of the datapath's surroundings
//! (flows offloaded anyway, the WAN address, our table still there).

use super::datapath::commit_unlocked;
use super::kernel::NetlinkKernel;
use super::{firewall, helper_guard, load_config, lock, offload, ruleset, signals, wan, Shared};
use crate::alg::{media_counts, FlowSample};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often signals are looked at (and the longest the thread sleeps).
const SIGNALS_EVERY: Duration = Duration::from_millis(250);

pub(super) fn run(shared: Arc<Mutex<Shared>>, dir: PathBuf, socket: PathBuf) {
    // fw4's flow offloading, said once at start (reading the ruleset runs nft: not on
    // the way to answering the queue).
    log_offloading(helper_guard::seen().offload);
    // Its own netlink sockets, for the media counters and expiry.
    let mut kernel = NetlinkKernel::default();
    loop {
        let wait = {
            let s = lock(&shared);
            s.processor.poll_timeout().saturating_sub(s.now_ms())
        };
        std::thread::sleep(SIGNALS_EVERY.min(Duration::from_millis(wait)));
        if signals::stop_requested() {
            stop(&socket);
        }
        if signals::take_reload() {
            reload(&shared, &dir);
        }
        let due = {
            let mut s = lock(&shared);
            let now = s.now_ms();
            s.processor.handle_timeout(now)
        };
        if due.housekeeping {
            housekeeping(&shared, &mut kernel);
        }
        if due.check {
            check_offloaded(&shared, &mut kernel);
            follow_wan(&shared);
            if kernel.table_present() == Some(false) {
                reinstall_lost_table(&shared);
            }
        }
    }
}

fn stop(socket: &Path) -> ! {
    log::info!(
        "stopping: removing table inet {} and the queue rules",
        ruleset::TABLE
    );
    firewall::remove_all();
    let _ = std::fs::remove_file(socket);
    // Let packets already queued get their verdicts before the socket closes.
    std::thread::sleep(Duration::from_millis(200));
    std::process::exit(0);
}

/// Samples the media counters if the core wants them (the conntrack dump and the
/// counting run without the lock: packets keep flowing meanwhile), then lets the core
/// expire what is idle and commits what withdraws it.
fn housekeeping(shared: &Mutex<Shared>, kernel: &mut NetlinkKernel) {
    let wants = lock(shared).processor.wants_media_sample();
    let counts = if wants {
        kernel.dump_udp().ok().map(|entries| {
            let flows: Vec<FlowSample> = entries.iter().map(sample).collect();
            media_counts(&flows)
        })
    } else {
        None
    };
    let (expired, wan_ip) = {
        let mut s = lock(shared);
        let now = s.now();
        let expired = s.processor.housekeeping(now, counts.as_ref());
        (expired, s.processor.wan_ip())
    };
    commit_unlocked(kernel, &expired, wan_ip, shared);
}

/// A conntrack entry as the core's media counters take it.
fn sample(e: &crate::netlink::Entry) -> FlowSample {
    FlowSample {
        orig_src: e.orig.src,
        orig_dst: e.orig.dst,
        reply_src: e.reply.src,
        packets_orig: e.packets_orig.unwrap_or(0),
        packets_reply: e.packets_reply.unwrap_or(0),
    }
}

fn reload(shared: &Mutex<Shared>, dir: &Path) {
    let cfg = match load_config(dir) {
        Ok(c) => c,
        Err(e) => {
            log::error!("reload refused, keeping the running configuration:\n{e}");
            return;
        }
    };
    crate::logging::set_level(cfg.log_level);
    let mut s = lock(shared);
    s.config = cfg;
    s.wan = wan::detect(&s.config.wan_devices);
    s.apply_config();
    match s.install_firewall() {
        Ok(()) => log::info!(
            "reloaded: alg {}, queue backend {}",
            on_off(s.processor.policy().alg),
            s.backend.name()
        ),
        Err(e) => log::error!("reload: cannot install the firewall rules: {e}"),
    }
}

pub(super) fn on_off(yes: bool) -> &'static str {
    if yes {
        "on"
    } else {
        "off"
    }
}

fn follow_wan(shared: &Mutex<Shared>) {
    let mut s = lock(shared);
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
    s.apply_config();
    if let Err(e) = s.install_firewall() {
        log::error!("cannot update the firewall rules after the WAN change: {e}");
    }
}

/// Puts our table back after something else deleted it (`fw4 flush`, run by
/// `/etc/init.d/firewall stop`, deletes every table; `fw4 restart` and `reload` leave it):
/// the rules, then every live call's and registration's elements.
fn reinstall_lost_table(shared: &Mutex<Shared>) {
    let mut s = lock(shared);
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
fn check_offloaded(shared: &Mutex<Shared>, kernel: &mut NetlinkKernel) {
    let Some(now) = kernel.offloaded_flows() else {
        return;
    };
    let mut s = lock(shared);
    if now > 0 && s.offloaded == 0 {
        if let Some(w) = offload::offloaded_warning(now) {
            log::warn!("{w}");
        }
    } else if now == 0 && s.offloaded > 0 {
        log::info!("no flow that sipalg handles is offloaded any more");
    }
    s.offloaded = now;
}
