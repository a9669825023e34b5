//! Linux's own SIP helper (nf_conntrack_sip / nf_nat_sip): is it loaded, and is any
//! firewall rule attaching it to traffic? (fw4 attaches it to the LAN zone as soon as
//! the module is loaded: `ct helper sip { type "sip" ... }` + `ct helper set "sip"`.)

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

/// Reads the live ruleset and checks for an attached SIP helper.
pub fn attached() -> bool {
    std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .map(|o| attached_in(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(false)
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
}
