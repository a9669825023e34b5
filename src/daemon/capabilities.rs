//! What this kernel's nftables can do, found by asking it: each probe is a small
//! ruleset checked with `nft --check` (the kernel validates the whole transaction,
//! module lookups included, then discards it). Fallbacks are chosen from these
//! answers, never from the text of an error message. Each probe runs once per process.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `nft --check -f -` of `ruleset`: whether the kernel accepts it.
fn accepted(ruleset: &str) -> bool {
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
        for p in [QUEUE_PROBE, CT_TIMEOUT_PROBE] {
            assert!(p.starts_with("table inet sipalg_probe {"), "{p}");
            assert_eq!(p.matches('{').count(), p.matches('}').count(), "{p}");
        }
    }
}
