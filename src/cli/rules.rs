//! `sipalgd rules [--config-dir DIR]`: print the nft ruleset the daemon would install
//! for the current configuration and WAN (without the per-flow SNAT elements, which
//! only exist while it runs).

use crate::config;
use crate::daemon::ruleset::{describe, Backend, Input};
use crate::daemon::{ruleset_input, trusted_sources, wan};

pub fn run(args: &[String]) -> i32 {
    let dir = match super::check::config_dir(args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sipalgd rules: {e}\nusage: sipalgd rules [--config-dir DIR]");
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
    let backend = if std::path::Path::new("/sys/module/nft_queue").exists() {
        Backend::Nft
    } else {
        Backend::IptablesNft
    };
    let trusted = trusted_sources(&cfg);
    let input = Input {
        backend,
        maps_as_sets: crate::daemon::capabilities::map_lookup(),
        ..ruleset_input(&cfg, &w, &[], &trusted)
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
