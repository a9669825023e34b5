//! Linux's own SIP helper (nf_conntrack_sip / nf_nat_sip): is it loaded, and is any
//! firewall rule attaching it to traffic? (fw4 attaches it to the LAN zone as soon as
//! the module is loaded: `ct helper sip { type "sip" ... }` + `ct helper set "sip"`.)
//! And is the package's guard against it in fw4's ruleset?

use super::ruleset::MARK_NO_KERNEL_HELPER;

/// Whether the kernel has the SIP conntrack helper (module loaded or built in).
pub fn loaded() -> bool {
    std::path::Path::new("/sys/module/nf_conntrack_sip").exists()
}

/// Names of `ct helper` objects of type "sip" in an `nft list ruleset` text, and whether
/// a rule sets one of them.
pub fn attached_in(ruleset: &str) -> bool {
    let mut names: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in ruleset.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ct helper ") {
            if let Some(name) = rest.strip_suffix('{').map(str::trim) {
                current = Some(name.trim_matches('"').to_string());
                continue;
            }
        }
        if let Some(name) = &current {
            if line.starts_with("type \"sip\"") {
                names.push(name.clone());
            }
            if line == "}" {
                current = None;
            }
        }
    }
    ruleset.lines().any(|l| {
        l.split("ct helper set ").nth(1).is_some_and(|rest| {
            let n = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches('"');
            names.iter().any(|x| x == n)
        })
    })
}

/// What the live ruleset says about Linux's SIP helper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// A rule sets a `ct helper` of type "sip" (fw4's helper_<zone> chain).
    pub attached: bool,
    /// fw4's `chain prerouting` has the package's guard (the ruleset-post include
    /// files/nftables.d/ruleset-post/30-sipalg.nft) before anything else, so flows
    /// sipalgd marks skip fw4's helper assignment.
    pub guard_in_fw4: bool,
    /// fw4's flow offloading, and whether sipalg's flows are kept out of it (read from
    /// the same listing).
    pub offload: super::offload::Seen,
}

/// Whether `table inet fw4`'s `chain prerouting` starts with the guard rule.
pub fn guard_in(ruleset: &str) -> bool {
    let guard =
        format!("ct mark & {MARK_NO_KERNEL_HELPER:#010x} == {MARK_NO_KERNEL_HELPER:#010x} return");
    let mut table = "";
    let mut chain = "";
    for line in ruleset.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("table ") {
            table = t.trim_end_matches('{').trim();
            chain = "";
        } else if let Some(c) = line.strip_prefix("chain ") {
            chain = c.trim_end_matches('{').trim();
        } else if table == "inet fw4" && chain == "prerouting" {
            if line.starts_with("type ") || line.is_empty() {
                continue;
            }
            // The first rule of the chain.
            return line.starts_with(&guard);
        }
    }
    false
}

pub fn seen_in(ruleset: &str) -> Seen {
    Seen {
        attached: attached_in(ruleset),
        guard_in_fw4: guard_in(ruleset),
        offload: super::offload::seen_in(ruleset),
    }
}

/// Reads the live ruleset (`nft list ruleset`).
pub fn seen() -> Seen {
    std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .map(|o| seen_in(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fw4_style_helper_assignment() {
        let fw4 = "table inet fw4 {\n\tct helper sip {\n\t\ttype \"sip\" protocol udp\n\t\tl3proto inet\n\t}\n\tchain helper_lan {\n\t\tmeta l4proto udp udp dport 5060 ct helper set \"sip\" comment \"!fw4: SIP\"\n\t}\n}\n";
        assert!(attached_in(fw4));
        let ftp_only = "table inet fw4 {\n\tct helper ftp {\n\t\ttype \"ftp\" protocol tcp\n\t}\n\tchain helper_lan {\n\t\ttcp dport 21 ct helper set \"ftp\"\n\t}\n}\n";
        assert!(!attached_in(ftp_only));
        let declared_only =
            "table inet fw4 {\n\tct helper sip {\n\t\ttype \"sip\" protocol udp\n\t}\n}\n";
        assert!(!attached_in(declared_only));
    }

    #[test]
    fn finds_the_guard_only_first_in_fw4_prerouting() {
        let guard = "\t\tct mark & 0x20000000 == 0x20000000 return comment \"sipalg: keep the kernel SIP helper off SIP\"\n";
        let jump = "\t\tiifname \"br-lan\" jump helper_lan\n";
        let fw4 = |body: &str| {
            format!("table inet fw4 {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n{guard}\t}}\n\tchain prerouting {{\n\t\ttype filter hook prerouting priority filter; policy accept;\n{body}\t}}\n}}\n")
        };
        assert!(guard_in(&fw4(&format!("{guard}{jump}"))));
        assert!(!guard_in(&fw4(&format!("{jump}{guard}"))), "after the jump");
        assert!(
            !guard_in(&fw4(jump)),
            "missing (input's copy does not count)"
        );
        assert!(!guard_in(&fw4("")));
        let other_table = fw4(jump).replace("inet fw4", "inet other")
            + &fw4(jump).replace(jump, guard).replace("inet fw4", "inet x");
        assert!(!guard_in(&other_table));
        let s = seen_in(&fw4(&format!("{guard}{jump}")));
        assert!(s.guard_in_fw4 && !s.attached);
    }
}
