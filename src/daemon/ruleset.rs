//! The firewall state sipalg owns, as text: its `table inet sipalg` (installed with one
//! `nft -f` transaction that replaces the old table atomically, current SNAT elements
//! included) and, when the kernel has no `nft_queue`, the equivalent iptables-nft
//! NFQUEUE rules. Pure: the same inputs always give the same text.
//!
//! Both backends queue SIP at mangle priority, before NAT, in both directions:
//! LAN→WAN in postrouting (source still private) and WAN→LAN in prerouting
//! (destination still public). sipalg therefore owns the signalling NAT mapping: the
//! `sig_snat` map, consulted at `srcnat - 1` (before fw4's masquerade), gives each LAN
//! SIP endpoint the public port the daemon chose, before the flow's first packet leaves.

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddrV4};

pub const TABLE: &str = "sipalg";
pub const SNAT_MAP: &str = "sig_snat";
pub const QUEUE_NUM: u16 = 5060;
pub const XT_PRE: &str = "SIPALG_PRE";
pub const XT_POST: &str = "SIPALG_POST";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// nft's `queue` statement (`kmod-nft-queue`).
    Nft,
    /// iptables-nft `-j NFQUEUE` (xt_NFQUEUE) when nft_queue is missing.
    IptablesNft,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::IptablesNft => "iptables-nft",
        }
    }
}

/// A signalling SNAT element: `private` leaves the WAN as `public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnatElement {
    pub private: SocketAddrV4,
    pub public: SocketAddrV4,
    pub timeout_s: u32,
}

pub struct Input<'a> {
    pub wan_devices: &'a [String],
    pub ports: &'a [u16],
    pub backend: Backend,
    pub snat: &'a [SnatElement],
}

fn set_of<T: core::fmt::Display>(items: &[T], quote: bool) -> String {
    let q = if quote { "\"" } else { "" };
    let inner: Vec<String> = items.iter().map(|i| format!("{q}{i}{q}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

/// The nft script that (re)creates `table inet sipalg` in one transaction.
pub fn nft(input: &Input) -> String {
    let mut s = String::new();
    let wan = set_of(input.wan_devices, true);
    let ports = set_of(input.ports, false);
    let _ = writeln!(s, "table inet {TABLE} {{}}");
    let _ = writeln!(s, "delete table inet {TABLE}");
    let _ = writeln!(s, "table inet {TABLE} {{");
    let _ = writeln!(s, "\tmap {SNAT_MAP} {{");
    let _ = writeln!(
        s,
        "\t\ttype ipv4_addr . inet_service : ipv4_addr . inet_service"
    );
    let _ = writeln!(s, "\t\tflags timeout");
    if !input.snat.is_empty() {
        let elems: Vec<String> = input
            .snat
            .iter()
            .map(|e| {
                format!(
                    "{} . {} timeout {}s : {} . {}",
                    e.private.ip(),
                    e.private.port(),
                    e.timeout_s.max(1),
                    e.public.ip(),
                    e.public.port()
                )
            })
            .collect();
        let _ = writeln!(s, "\t\telements = {{ {} }}", elems.join(", "));
    }
    let _ = writeln!(s, "\t}}");
    if input.backend == Backend::Nft {
        let q = format!("queue num {QUEUE_NUM} bypass");
        let _ = writeln!(s, "\tchain queue_out {{");
        let _ = writeln!(
            s,
            "\t\ttype filter hook postrouting priority mangle; policy accept;"
        );
        let _ = writeln!(
            s,
            "\t\toifname {wan} meta nfproto ipv4 udp dport {ports} {q}"
        );
        let _ = writeln!(
            s,
            "\t\toifname {wan} meta nfproto ipv4 udp sport {ports} {q}"
        );
        let _ = writeln!(s, "\t}}");
        let _ = writeln!(s, "\tchain queue_in {{");
        let _ = writeln!(
            s,
            "\t\ttype filter hook prerouting priority mangle; policy accept;"
        );
        let _ = writeln!(
            s,
            "\t\tiifname {wan} meta nfproto ipv4 udp sport {ports} {q}"
        );
        let _ = writeln!(
            s,
            "\t\tiifname {wan} meta nfproto ipv4 udp dport {ports} {q}"
        );
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "\tchain srcnat_sip {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook postrouting priority srcnat - 1; policy accept;"
    );
    let _ = writeln!(s, "\t\toifname {wan} meta nfproto ipv4 meta l4proto udp snat ip to ip saddr . udp sport map @{SNAT_MAP}");
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "}}");
    s
}

/// The iptables-restore script (`--noflush`) for the xt NFQUEUE fallback: our own two
/// chains in the mangle table, rebuilt whole. The jumps into them are added separately
/// (and only once).
pub fn iptables(input: &Input) -> String {
    let mut s = String::new();
    let ports: Vec<String> = input.ports.iter().map(u16::to_string).collect();
    let ports = ports.join(",");
    let q = format!("-j NFQUEUE --queue-num {QUEUE_NUM} --queue-bypass");
    let _ = writeln!(s, "*mangle");
    let _ = writeln!(s, ":{XT_PRE} - [0:0]");
    let _ = writeln!(s, ":{XT_POST} - [0:0]");
    for dev in input.wan_devices {
        let _ = writeln!(
            s,
            "-A {XT_POST} -o {dev} -p udp -m multiport --dports {ports} {q}"
        );
        let _ = writeln!(
            s,
            "-A {XT_POST} -o {dev} -p udp -m multiport --sports {ports} {q}"
        );
        let _ = writeln!(
            s,
            "-A {XT_PRE} -i {dev} -p udp -m multiport --sports {ports} {q}"
        );
        let _ = writeln!(
            s,
            "-A {XT_PRE} -i {dev} -p udp -m multiport --dports {ports} {q}"
        );
    }
    let _ = writeln!(s, "COMMIT");
    s
}

/// For `sipalgd rules`: what would be installed, with a note on the fallback.
pub fn describe(input: &Input) -> String {
    let mut s = String::from(
        "# nft ruleset (installed with `nft -f`; replaces table inet sipalg atomically)\n",
    );
    s.push_str(&nft(input));
    if input.backend == Backend::IptablesNft {
        s.push_str("\n# this kernel has no nft queue support: SIP is queued by iptables-nft instead\n# (iptables-restore --noflush; jumps from mangle PREROUTING/POSTROUTING)\n");
        for line in iptables(input).lines() {
            let _ = writeln!(s, "# {line}");
        }
    }
    s
}

/// The public address SNAT targets use: the WAN interface's own address.
pub fn snat_public(wan_ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(wan_ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(wan: &'a [String], backend: Backend, snat: &'a [SnatElement]) -> Input<'a> {
        Input {
            wan_devices: wan,
            ports: &[5060, 5080],
            backend,
            snat,
        }
    }

    #[test]
    fn nft_table_with_queue_and_elements() {
        let wan = vec!["eth1".to_string()];
        let snat = [SnatElement {
            private: "192.168.1.20:5060".parse().unwrap(),
            public: "198.51.100.1:5060".parse().unwrap(),
            timeout_s: 3600,
        }];
        let t = nft(&input(&wan, Backend::Nft, &snat));
        assert!(
            t.starts_with("table inet sipalg {}\ndelete table inet sipalg\ntable inet sipalg {\n")
        );
        assert!(t.contains(
            "\t\telements = { 192.168.1.20 . 5060 timeout 3600s : 198.51.100.1 . 5060 }\n"
        ));
        assert!(t.contains("\t\toifname { \"eth1\" } meta nfproto ipv4 udp dport { 5060, 5080 } queue num 5060 bypass\n"));
        assert!(t.contains("\t\tiifname { \"eth1\" } meta nfproto ipv4 udp sport { 5060, 5080 } queue num 5060 bypass\n"));
        assert!(t.contains("priority srcnat - 1;"));
        assert!(t.contains("snat ip to ip saddr . udp sport map @sig_snat"));
    }

    #[test]
    fn xt_backend_has_no_nft_queue_and_an_iptables_script() {
        let wan = vec!["wan".to_string(), "pppoe-wan".to_string()];
        let i = input(&wan, Backend::IptablesNft, &[]);
        let t = nft(&i);
        assert!(!t.contains("queue"));
        assert!(!t.contains("elements"));
        let x = iptables(&i);
        assert_eq!(x.lines().count(), 3 + 8 + 1);
        assert!(x.contains("-A SIPALG_POST -o pppoe-wan -p udp -m multiport --dports 5060,5080 -j NFQUEUE --queue-num 5060 --queue-bypass\n"));
        assert!(
            x.contains("-A SIPALG_PRE -i wan -p udp -m multiport --sports 5060,5080 -j NFQUEUE")
        );
        assert!(describe(&i).contains("# -A SIPALG_PRE"));
    }
}
