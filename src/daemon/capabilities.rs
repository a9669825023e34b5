//! What this kernel's nftables can do, found by asking it: each probe is a small
//! ruleset checked with `nft --check` (the kernel validates the whole transaction,
//! module lookups included, then discards it). Fallbacks are chosen from these
//! answers, never from the text of an error message. Each probe runs once per process.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `nft --check -f -` of `ruleset`: whether the kernel accepts it (also the lab's
/// probe for flowtables).
pub fn accepted(ruleset: &str) -> bool {
    let Ok(mut child) = Command::new("nft")
        .args(["--check", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut i) = child.stdin.take() {
        if i.write_all(ruleset.as_bytes()).is_err() {
            let _ = child.wait();
            return false;
        }
    }
    child.wait().is_ok_and(|s| s.success())
}

/// The probe rulesets (a throwaway table that is never committed).
pub const QUEUE_PROBE: &str = "table inet sipalg_probe {\n\tchain c { type filter hook postrouting priority 0; queue num 65535 bypass; }\n}\n";
pub const CT_TIMEOUT_PROBE: &str = "table inet sipalg_probe {\n\tct timeout t { protocol udp; l3proto ip; policy = { unreplied: 30, replied: 30 }; }\n\tchain c { type filter hook prerouting priority 0; ct timeout set \"t\"; }\n}\n";

/// A map looked up as a set (no data register), which Linux accepts from 6.5
/// (a4878eeae390 "netfilter: nf_tables: relax set/map validation checks"; before it
/// nft_lookup_init refuses the rule with EINVAL).
pub const MAP_LOOKUP_PROBE: &str = "table inet sipalg_probe {\n\tmap m { type inet_service : inet_service; }\n\tchain c { type filter hook prerouting priority 0; udp dport @m; }\n}\n";

/// Set to `1`, this makes the daemon use the rules it uses on kernels before 6.5 even
/// where the kernel accepts the newer ones (tests and benchmarks compare both forms).
pub const COMPAT_ENV: &str = "SIPALG_COMPAT_RULES";

/// Whether the kernel looks a map up as a set ([`MAP_LOOKUP_PROBE`]), unless
/// [`COMPAT_ENV`] asks for the older form.
pub fn map_lookup() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        std::env::var_os(COMPAT_ENV).is_none_or(|v| v != "1") && accepted(MAP_LOOKUP_PROBE)
    })
}

/// Asks every probe at once (each runs `nft`), so that the answers the daemon needs at
/// start cost the time of one.
pub fn probe_all() {
    std::thread::scope(|s| {
        s.spawn(nft_queue);
        s.spawn(ct_timeout);
        s.spawn(map_lookup);
    });
}

/// nft's `queue` statement (`nft_queue`, kmod-nft-queue).
pub fn nft_queue() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| accepted(QUEUE_PROBE))
}

/// Conntrack timeout policies (`ct timeout`, nft_ct with CONFIG_NF_CONNTRACK_TIMEOUT).
pub fn ct_timeout() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| accepted(CT_TIMEOUT_PROBE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_complete_rulesets_for_a_throwaway_table() {
        for p in [QUEUE_PROBE, CT_TIMEOUT_PROBE, MAP_LOOKUP_PROBE] {
            assert!(p.starts_with("table inet sipalg_probe {"), "{p}");
            assert_eq!(p.matches('{').count(), p.matches('}').count(), "{p}");
        }
    }
}
