//! fw4's flow offloading (LuCI: Network → Firewall → "Software flow offloading" and
//! "Hardware flow offloading"; `option flow_offloading`/`flow_offloading_hw`): does fw4
//! have a flowtable, and does the package's rule keep sipalg's flows out of it?
//!
//! fw4 emits `flowtable ft { … }` (with `flags offload` for hardware offloading) and
//! `meta l4proto { tcp, udp } flow offload @ft` as the first rule of `chain forward`
//! (openwrt/firewall4 root/usr/share/firewall4/templates/ruleset.uc). From a flow's first
//! confirmed packet on, the flowtable forwards it at ingress and it skips prerouting,
//! forward and postrouting: no queue, no DSCP, no timeouts. The package's ruleset-post
//! include (files/nftables.d/ruleset-post/30-sipalg.nft) puts an accept of confirmed
//! flows carrying [`MARK_NO_OFFLOAD`] before it. Hardware offloading is decided by the
//! same rule, so the same accept covers it.

use super::ruleset::MARK_NO_OFFLOAD;

/// What the live ruleset says about fw4's flow offloading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// `table inet fw4` has a flowtable and its `chain forward` a `flow offload` rule.
    pub offloading: bool,
    /// The flowtable has `flags offload` (hardware offloading).
    pub hardware: bool,
    /// The package's accept of sipalg's flows comes before the first `flow offload` rule
    /// (or there is none): sipalg's flows stay out of the flowtable.
    pub kept_out: bool,
}

/// The package's rule as the include file writes it.
pub fn keep_out_rule() -> String {
    format!("ct status confirmed ct mark & {MARK_NO_OFFLOAD:#010x} == {MARK_NO_OFFLOAD:#010x} accept comment \"{KEEP_OUT_COMMENT}\"")
}

/// The rule's comment, by which it is found in `nft list ruleset` (which prints the
/// match itself differently across nft versions: nft 1.0.6 lists the top bit as the
/// prefix `ct mark 0x80000000/1`).
pub const KEEP_OUT_COMMENT: &str = "sipalg: keep SIP and its media out of the flowtable";

/// Reads an `nft list ruleset` text.
pub fn seen_in(ruleset: &str) -> Seen {
    let ours = format!("comment \"{KEEP_OUT_COMMENT}\"");
    let mut seen = Seen::default();
    let mut flowtable = false;
    let (mut table, mut block) = ("", "");
    let mut ours_first = false;
    let mut offload_rule = false;
    for line in ruleset.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("table ") {
            table = t.trim_end_matches('{').trim();
            block = "";
            continue;
        }
        if table != "inet fw4" {
            continue;
        }
        if let Some(c) = line.strip_prefix("chain ") {
            block = c.trim_end_matches('{').trim();
            continue;
        }
        if line.starts_with("flowtable ") {
            block = "flowtable";
            flowtable = true;
            continue;
        }
        if block == "flowtable" && line.starts_with("flags ") && line.contains("offload") {
            seen.hardware = true;
        }
        if block == "forward" && !offload_rule {
            // nft lists `flow offload @ft` as `flow add @ft`.
            if line.contains("flow add @") || line.contains("flow offload @") {
                offload_rule = true;
            } else if line.starts_with("ct status confirmed ") && line.ends_with(&ours) {
                ours_first = true;
            }
        }
    }
    seen.offloading = flowtable && offload_rule;
    seen.kept_out = !seen.offloading || ours_first;
    seen
}

/// The warning for `sipalgd status` when fw4 offloads flows and sipalg's rule does not
/// come first, if so.
pub fn warning(seen: Seen) -> Option<String> {
    (seen.offloading && !seen.kept_out).then(|| {
        format!(
            "fw4's {} flow offloading is on and sipalg's rule that keeps SIP and its media out of the flowtable is not before fw4's `flow offload` (auto_includes off in /etc/config/firewall? run 'fw4 reload'): offloaded SIP is not rewritten, and DSCP and timeouts stop applying to it",
            if seen.hardware { "hardware" } else { "software" }
        )
    })
}

/// The warning when sipalg's flows were found in the flowtable anyway.
pub fn offloaded_warning(flows: usize) -> Option<String> {
    (flows > 0).then(|| {
        format!("{flows} SIP or media flows that sipalg handles are offloaded (fw4's flowtable): their SIP is not rewritten, and DSCP and timeouts do not apply until they leave it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fw4's table as `nft list ruleset` prints it with flow offloading on (the
    /// template's `flow offload @ft` listed as `flow add @ft`), with `first` as the
    /// first rules of chain forward.
    fn fw4(flags: &str, first: &str) -> String {
        format!("table inet fw4 {{\n\tflowtable ft {{\n\t\thook ingress priority filter\n\t\tdevices = {{ br-lan, wan }}\n\t\tcounter\n{flags}\t}}\n\n\tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct status confirmed ct mark 0x80000000/1 accept comment \"sipalg: keep SIP and its media out of the flowtable\"\n\t}}\n\n\tchain forward {{\n\t\ttype filter hook forward priority filter; policy drop;\n{first}\t\tct state vmap {{ established : accept, related : accept }} comment \"!fw4: Handle forwarded flows\"\n\t}}\n}}\n")
    }

    /// As nft 1.0.6 (Debian 12) lists it.
    const OURS: &str = "\t\tct status confirmed ct mark 0x80000000/1 accept comment \"sipalg: keep SIP and its media out of the flowtable\"\n";
    const OFFLOAD: &str = "\t\tmeta l4proto { tcp, udp } flow add @ft\n";

    #[test]
    fn our_rule_must_come_before_fws_flow_offload() {
        let s = seen_in(&fw4("", &format!("{OURS}{OFFLOAD}")));
        assert_eq!(
            s,
            Seen {
                offloading: true,
                hardware: false,
                kept_out: true
            }
        );
        assert_eq!(warning(s), None);
        let after = seen_in(&fw4("", &format!("{OFFLOAD}{OURS}")));
        assert!(
            after.offloading && !after.kept_out,
            "after the offload rule"
        );
        let missing = seen_in(&fw4("\t\tflags offload\n", OFFLOAD));
        assert!(missing.hardware && !missing.kept_out, "{missing:?}");
        assert!(warning(missing)
            .unwrap()
            .contains("hardware flow offloading is on"));
        // Without fw4's offload rule (offloading off) there is nothing to keep out of.
        let off = seen_in(&fw4("", ""));
        assert!(!off.offloading && off.kept_out && warning(off).is_none());
        let other_table = fw4("", OFFLOAD).replace("inet fw4", "inet other");
        assert_eq!(
            seen_in(&other_table),
            Seen {
                kept_out: true,
                ..Seen::default()
            }
        );
    }

    #[test]
    fn the_include_file_holds_the_rule_this_module_looks_for() {
        let include = include_str!("../../files/nftables.d/ruleset-post/30-sipalg.nft");
        let insert = format!("insert rule inet fw4 forward {}", keep_out_rule());
        assert!(
            include.lines().any(|l| l.starts_with(&insert)),
            "{insert:?} not in\n{include}"
        );
        assert!(offloaded_warning(0).is_none());
        assert!(offloaded_warning(2)
            .unwrap()
            .starts_with("2 SIP or media flows"));
    }
}
