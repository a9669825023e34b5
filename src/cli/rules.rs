//! `sipalgd rules [--config-dir DIR] [--backend nft|iptables-nft]`: print the nft
//! ruleset the daemon would install for the current configuration and WAN (without the
//! per-flow SNAT elements, which only exist while it runs). The queue backend is the
//! one this kernel would get (nft's `queue` when `nft_queue` is loaded), unless
//! `--backend` names one.

use crate::config;
use crate::daemon::ruleset::{describe, Backend, Input};
use crate::daemon::{policy, ruleset_input, trusted_sources, wan};

const USAGE: &str = "usage: sipalgd rules [--config-dir DIR] [--backend nft|iptables-nft]";

pub fn run(args: &[String]) -> i32 {
    // --backend is ours; the rest is check's --config-dir.
    let mut backend = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--backend" {
            backend = match it.next().map(String::as_str) {
                Some("nft") => Some(Backend::Nft),
                Some("iptables-nft") => Some(Backend::IptablesNft),
                other => {
                    eprintln!("sipalgd rules: unknown backend {other:?}\n{USAGE}");
                    return 2;
                }
            };
        } else {
            rest.push(a.clone());
        }
    }
    let dir = match super::check::config_dir(&rest) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sipalgd rules: {e}\n{USAGE}");
            return 2;
        }
    };
    let cfg = match config::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let w = wan::detect(&cfg.wan_devices);
    if w.devices.is_empty() {
        eprintln!("sipalgd rules: no WAN device (set wan_device, or add a default route)");
        return 1;
    }
    // Without nft_queue in the kernel the daemon queues through iptables-nft; show both.
    let backend = backend.unwrap_or(if std::path::Path::new("/sys/module/nft_queue").exists() {
        Backend::Nft
    } else {
        Backend::IptablesNft
    });
    let trusted = trusted_sources(&cfg);
    let policy = policy(&cfg);
    let input = Input {
        backend,
        maps_as_sets: crate::daemon::capabilities::map_lookup(),
        ..ruleset_input(&cfg, &policy, &w, &[], &trusted)
    };
    print!("{}", describe(&input));
    if backend == Backend::IptablesNft {
        println!("# with kmod-nft-queue the same queue rules live in table inet sipalg:");
        for line in crate::daemon::ruleset::nft(&Input {
            backend: Backend::Nft,
            ..input
        })
        .lines()
        .filter(|l| l.contains("queue"))
        {
            println!("# {}", line.trim());
        }
    }
    0
}
