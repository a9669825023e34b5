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
/// `private ip . port : public ip . port` for signalling endpoints.
pub const SNAT_MAP: &str = "snat_ports";
/// `private ip . port : public ip . port` for media endpoints: the rule that NATs with
/// it also marks the flow as media (DSCP, media timeout), so no second element per
/// endpoint is needed to recognise media.
pub const MEDIA_SNAT: &str = "media_snat";
/// `far end ip . public port : private ip . port`: media pinholes (`media_source sdp`).
pub const MEDIA_DNAT: &str = "media_dnat";
/// `public port : private ip . port`: media pinholes from anyone (`media_source any`).
pub const MEDIA_ANY: &str = "media_any";
/// `public port : private ip . port`: media pinholes reachable from the LAN, added when
/// the router's own public media address comes back in an SDP from outside (two LAN
/// phones in one call via an outside PBX: hairpin).
pub const MEDIA_HAIRPIN: &str = "media_hairpin";
/// `registrar ip . public port : private ip . port`: registered phones.
pub const SIG_DNAT: &str = "sig_dnat";
/// `public port : private ip . port`: registered phones, from the trusted sources.
pub const SIG_TRUSTED: &str = "sig_dnat_trusted";
/// Private media endpoints (`ip . port`) with the ALG off: DSCP and the media timeout
/// apply. (With the ALG on, the media NAT rules mark their flows themselves.)
pub const MEDIA_ENDPOINTS: &str = "media_endpoints";
/// Registered phones' endpoints that sipalg DNATs to: fw4 accepts these flows (ct mark).
pub const PINHOLE_TARGETS: &str = "pinhole_targets";
pub const QUEUE_NUM: u16 = 5060;
/// The packet mark of TCP SIP diverted to the relay, and the policy routing table that
/// delivers marked packets locally (`ip rule add fwmark MARK/MARK lookup TABLE`,
/// `ip route add local 0.0.0.0/0 dev lo table TABLE`), as `tproxy` needs.
pub const TPROXY_MARK: u32 = 0x0800_0000;
pub const TPROXY_TABLE: u32 = 5060;
/// SIP over TLS: never diverted (it cannot be read, let alone rewritten).
pub const TLS_PORT: u16 = 5061;
pub const XT_PRE: &str = "SIPALG_PRE";
pub const XT_POST: &str = "SIPALG_POST";

/// Conntrack mark bits (each rule keeps the other bits; docs/offloading.md lists them):
/// a flow sipalg DNATed on purpose; fw4's `forward` accepts it (files/nftables.d).
pub const MARK_PINHOLE: u32 = 0x1000_0000;
/// SIP flows fw4 must not attach the kernel SIP helper to (`kernel_helper 0`).
pub const MARK_NO_KERNEL_HELPER: u32 = 0x2000_0000;
/// A call's media flow: media DSCP.
pub const MARK_MEDIA: u32 = 0x4000_0000;
/// Every flow sipalg handles, whatever the options: SIP (UDP and TCP on the SIP ports),
/// a call's media, a pinhole. Once confirmed, fw4's `forward` accepts it before its
/// `flow offload` rule (files/nftables.d/ruleset-post), so it never enters the
/// flowtable, which would skip the queue, DSCP and timeouts.
pub const MARK_NO_OFFLOAD: u32 = 0x8000_0000;

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
    pub wan_address: Option<Ipv4Addr>,
    pub ports: &'a [u16],
    pub backend: Backend,
    pub snat: &'a [SnatElement],
    pub alg: bool,
    pub media_any: bool,
    pub trusted: &'a [String],
    pub kernel_helper_guard: bool,
    /// Conntrack timeout policies (signalling, media) in seconds, when the kernel
    /// supports `ct timeout`.
    pub timeouts: Option<(u32, u32)>,
    /// DSCP values (signalling, media), when QoS is on.
    pub dscp: Option<(u8, u8)>,
    /// Divert LAN→WAN SIP over TCP to the relay listening on 127.0.0.1 at this port.
    pub tcp_relay: Option<u16>,
    /// The kernel looks a map up as a set (Linux 6.5+, probed): with the ALG on, the
    /// media NAT rules mark the flows they NAT. Otherwise they only NAT (a lookup
    /// with a data register, which every kernel accepts) and `media_endpoints`, which
    /// the core then fills with the ALG on as well, marks media flows.
    pub maps_as_sets: bool,
}

fn set_of<T: core::fmt::Display>(items: &[T], quote: bool) -> String {
    let q = if quote { "\"" } else { "" };
    let inner: Vec<String> = items.iter().map(|i| format!("{q}{i}{q}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

/// The nft script that (re)creates `table inet sipalg` in one transaction.
pub fn nft(input: &Input) -> String {
    let mut s = String::new();
    let c = Common::new(input);
    let _ = writeln!(s, "table inet {TABLE} {{}}");
    let _ = writeln!(s, "delete table inet {TABLE}");
    let _ = writeln!(s, "table inet {TABLE} {{");
    snat_map(&mut s, input.snat);
    sets(&mut s, input.trusted);
    if let Some((sig, media)) = input.timeouts {
        let _ = writeln!(s, "\tct timeout sip_signalling {{ protocol udp; l3proto ip; policy = {{ unreplied: {sig}, replied: {sig} }}; }}");
        let _ = writeln!(s, "\tct timeout sip_media {{ protocol udp; l3proto ip; policy = {{ unreplied: {media}, replied: {media} }}; }}");
    }
    if input.backend == Backend::Nft {
        queue(&mut s, &c);
    }
    if input.kernel_helper_guard {
        kernel_helper_guard(&mut s, &c);
    }
    if let Some(port) = input.tcp_relay {
        tproxy(&mut s, input, &c.wan, port);
    }
    dstnat_sip(&mut s, input, &c);
    flows_sip(&mut s, input, &c);
    srcnat_sip(&mut s, input, &c);
    if let Some(dscp) = input.dscp {
        dscp_sip(&mut s, &c, dscp);
    }
    let _ = writeln!(s, "}}");
    s
}

/// What the chains' rules share: the WAN devices and SIP ports as nft sets, the marks
/// and timeouts that media and signalling flows get, and whether the media NAT rules
/// mark the flows themselves.
struct Common {
    wan: String,
    ports: String,
    media_mark: String,
    pinhole_mark: String,
    sig_timeout: &'static str,
    media_timeout: &'static str,
    /// With the ALG on and a kernel that looks a map up as a set (6.5+), each media NAT
    /// rule marks the flows it NATs (a nat chain sees a flow's first packet only): media
    /// DSCP and timeout, and for pinholes from the WAN fw4's accept. A map is then also
    /// a set of its keys, so one element per endpoint does both. Before 6.5 the NAT
    /// rules only NAT and `flows_sip` marks by `media_endpoints` (see
    /// [`Input::maps_as_sets`]).
    mark_in_nat: bool,
}

impl Common {
    fn new(input: &Input) -> Common {
        let (sig_timeout, media_timeout) = match input.timeouts {
            Some(_) => (
                " ct timeout set \"sip_signalling\"",
                " ct timeout set \"sip_media\"",
            ),
            None => ("", ""),
        };
        Common {
            wan: set_of(input.wan_devices, true),
            ports: set_of(input.ports, false),
            media_mark: format!(
                "ct mark set ct mark | {:#010x}",
                MARK_MEDIA | MARK_NO_OFFLOAD
            ),
            pinhole_mark: format!(
                "ct mark set ct mark | {:#010x}",
                MARK_MEDIA | MARK_PINHOLE | MARK_NO_OFFLOAD
            ),
            sig_timeout,
            media_timeout,
            mark_in_nat: input.alg && input.maps_as_sets,
        }
    }
}

const ENDPOINT: &str = "ipv4_addr . inet_service";

/// The signalling SNAT map, with the current elements.
fn snat_map(s: &mut String, snat: &[SnatElement]) {
    let _ = writeln!(s, "\tmap {SNAT_MAP} {{");
    let _ = writeln!(s, "\t\ttype {ENDPOINT} : {ENDPOINT}");
    let _ = writeln!(s, "\t\tflags timeout");
    if !snat.is_empty() {
        let elems: Vec<String> = snat
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
}

/// The media and registration maps and sets, and the trusted sources.
fn sets(s: &mut String, trusted: &[String]) {
    // Media elements live exactly as long as their call (the daemon adds and removes
    // them): no `timeout` flag, so the kernel keeps no expiry per element and runs no
    // garbage collection over these sets. Registrations' elements expire on their own.
    for (name, key, flags) in [
        (MEDIA_SNAT, ENDPOINT, ""),
        (MEDIA_DNAT, ENDPOINT, ""),
        (MEDIA_ANY, "inet_service", ""),
        (MEDIA_HAIRPIN, "inet_service", ""),
        (SIG_DNAT, ENDPOINT, " flags timeout;"),
        (SIG_TRUSTED, "inet_service", " flags timeout;"),
    ] {
        let _ = writeln!(s, "\tmap {name} {{ type {key} : {ENDPOINT};{flags} }}");
    }
    let _ = writeln!(s, "\tset {MEDIA_ENDPOINTS} {{ type {ENDPOINT}; }}");
    let _ = writeln!(
        s,
        "\tset {PINHOLE_TARGETS} {{ type {ENDPOINT}; flags timeout; }}"
    );
    let trusted: Vec<&String> = trusted.iter().filter(|t| !t.is_empty()).collect();
    if trusted.is_empty() {
        let _ = writeln!(
            s,
            "\tset trusted_sources {{ type ipv4_addr; flags interval; }}"
        );
    } else {
        let _ = writeln!(
            s,
            "\tset trusted_sources {{ type ipv4_addr; flags interval; elements = {} }}",
            set_of(&trusted, false)
        );
    }
}

/// nft's own queue: SIP to and from the WAN, both directions, at mangle priority.
fn queue(s: &mut String, c: &Common) {
    let (wan, ports) = (&c.wan, &c.ports);
    let q = format!("queue num {QUEUE_NUM} bypass");
    for (chain, hook, dev, ends) in [
        ("queue_out", "postrouting", "oifname", ["dport", "sport"]),
        ("queue_in", "prerouting", "iifname", ["sport", "dport"]),
    ] {
        let _ = writeln!(s, "\tchain {chain} {{");
        let _ = writeln!(
            s,
            "\t\ttype filter hook {hook} priority mangle; policy accept;"
        );
        for end in ends {
            let _ = writeln!(s, "\t\t{dev} {wan} meta nfproto ipv4 udp {end} {ports} {q}");
        }
        let _ = writeln!(s, "\t}}");
    }
}

/// Before fw4's helper assignment (prerouting, priority filter): the fw4 include
/// files/nftables.d/ruleset-post/30-sipalg.nft puts a rule first in fw4's `chain
/// prerouting` that returns for flows with this mark, before its jump to helper_<zone>
/// (`ct helper set "sip"`).
fn kernel_helper_guard(s: &mut String, c: &Common) {
    let ports = &c.ports;
    let g = format!("ct mark set ct mark | {MARK_NO_KERNEL_HELPER:#010x}");
    let _ = writeln!(s, "\tchain kernel_helper_guard {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook prerouting priority filter - 5; policy accept;"
    );
    let _ = writeln!(s, "\t\tudp dport {ports} {g}");
    let _ = writeln!(s, "\t\tudp sport {ports} {g}");
    let _ = writeln!(s, "\t}}");
}

/// The media ([`Common::mark_in_nat`]: marked as they NAT) and registration DNAT
/// rules, with the ALG on; the chain is empty with it off.
fn dstnat_sip(s: &mut String, input: &Input, c: &Common) {
    let wan = &c.wan;
    let _ = writeln!(s, "\tchain dstnat_sip {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook prerouting priority dstnat - 1; policy accept;"
    );
    if input.alg {
        let (lookup_any, lookup_dnat, nat_pinhole_mark) = if c.mark_in_nat {
            (
                format!(" udp dport @{MEDIA_ANY}"),
                format!(" ip saddr . udp dport @{MEDIA_DNAT}"),
                format!(" {}{}", c.pinhole_mark, c.media_timeout),
            )
        } else {
            (String::new(), String::new(), String::new())
        };
        if input.media_any {
            let _ = writeln!(
                s,
                "\t\tiifname {wan} meta nfproto ipv4{lookup_any}{nat_pinhole_mark} dnat ip to udp dport map @{MEDIA_ANY}"
            );
        } else {
            let _ = writeln!(s, "\t\tiifname {wan} meta nfproto ipv4{lookup_dnat}{nat_pinhole_mark} dnat ip to ip saddr . udp dport map @{MEDIA_DNAT}");
        }
        let _ = writeln!(
            s,
            "\t\tiifname {wan} meta nfproto ipv4 dnat ip to ip saddr . udp dport map @{SIG_DNAT}"
        );
        let _ = writeln!(
            s,
            "\t\tiifname {wan} ip saddr @trusted_sources dnat ip to udp dport map @{SIG_TRUSTED}"
        );
        if let Some(wan_ip) = input.wan_address {
            let (lookup, nat_media_mark) = if c.mark_in_nat {
                (
                    format!(" udp dport @{MEDIA_HAIRPIN}"),
                    format!(" {}{}", c.media_mark, c.media_timeout),
                )
            } else {
                (String::new(), String::new())
            };
            let _ = writeln!(
                s,
                "\t\tiifname != {wan} ip daddr {wan_ip}{lookup}{nat_media_mark} dnat ip to udp dport map @{MEDIA_HAIRPIN}"
            );
        }
    }
    let _ = writeln!(s, "\t}}");
}

/// The marks (and timeouts) of SIP, media and pinhole flows, after DNAT.
fn flows_sip(s: &mut String, input: &Input, c: &Common) {
    let (wan, ports) = (&c.wan, &c.ports);
    let (media_mark, pinhole_mark, media_timeout) =
        (&c.media_mark, &c.pinhole_mark, c.media_timeout);
    let _ = writeln!(s, "\tchain flows_sip {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook prerouting priority dstnat + 1; policy accept;"
    );
    // Every SIP packet (not only a flow's first: a flow may predate the table) marks
    // its flow as one to keep out of fw4's flowtable.
    for dir in ["dport", "sport"] {
        let _ = writeln!(
            s,
            "\t\tmeta l4proto {{ tcp, udp }} th {dir} {ports} ct mark set ct mark | {MARK_NO_OFFLOAD:#010x}"
        );
    }
    if !c.sig_timeout.is_empty() {
        let sig_timeout = c.sig_timeout;
        let _ = writeln!(s, "\t\tct state new udp dport {ports}{sig_timeout}");
        let _ = writeln!(s, "\t\tct state new udp sport {ports}{sig_timeout}");
    }
    if !c.mark_in_nat {
        // Media endpoints (ip . port) mark media flows: from the phone (to anywhere,
        // hairpin included), and to it: with the ALG on only as our DNAT's target (a
        // pinhole: fw4's accept too; after DNAT the destination is the phone's own).
        let _ = writeln!(s, "\t\tiifname != {wan} ct state new ip saddr . udp sport @{MEDIA_ENDPOINTS} {media_mark}{media_timeout}");
        if input.alg {
            let _ = writeln!(
                s,
                "\t\tiifname {wan} ct status dnat ct state new ip daddr . udp dport @{MEDIA_ENDPOINTS} {pinhole_mark}{media_timeout}"
            );
        } else {
            let _ = writeln!(
                s,
                "\t\tct state new ip daddr . udp dport @{MEDIA_ENDPOINTS} {media_mark}{media_timeout}"
            );
        }
    }
    let _ = writeln!(
        s,
        "\t\tiifname {wan} ct status dnat ct state new ip daddr . udp dport @{PINHOLE_TARGETS} ct mark set ct mark | {:#010x}",
        MARK_PINHOLE | MARK_NO_OFFLOAD
    );
    let _ = writeln!(s, "\t}}");
}

/// The media and signalling SNAT rules (before fw4's masquerade), with the ALG on.
fn srcnat_sip(s: &mut String, input: &Input, c: &Common) {
    let wan = &c.wan;
    let _ = writeln!(s, "\tchain srcnat_sip {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook postrouting priority srcnat - 1; policy accept;"
    );
    if input.alg {
        let (lookup, nat_media_mark) = if c.mark_in_nat {
            (
                format!(" ip saddr . udp sport @{MEDIA_SNAT}"),
                format!(" {}{}", c.media_mark, c.media_timeout),
            )
        } else {
            (String::new(), String::new())
        };
        let _ = writeln!(s, "\t\toifname {wan} meta nfproto ipv4{lookup}{nat_media_mark} snat ip to ip saddr . udp sport map @{MEDIA_SNAT}");
        let _ = writeln!(s, "\t\toifname {wan} meta nfproto ipv4 meta l4proto udp snat ip to ip saddr . udp sport map @{SNAT_MAP}");
    }
    let _ = writeln!(s, "\t}}");
}

/// DSCP (signalling, media) on the way out, after SNAT.
fn dscp_sip(s: &mut String, c: &Common, (sig, media): (u8, u8)) {
    let ports = &c.ports;
    let _ = writeln!(s, "\tchain dscp_sip {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook postrouting priority srcnat + 1; policy accept;"
    );
    let _ = writeln!(s, "\t\tudp dport {ports} ip dscp set {sig}");
    let _ = writeln!(s, "\t\tudp sport {ports} ip dscp set {sig}");
    let _ = writeln!(s, "\t\ttcp dport {ports} ip dscp set {sig}");
    let _ = writeln!(s, "\t\ttcp sport {ports} ip dscp set {sig}");
    let _ = writeln!(
        s,
        "\t\tct mark & {MARK_MEDIA:#010x} == {MARK_MEDIA:#010x} ip dscp set {media}"
    );
    let _ = writeln!(s, "\t}}");
}

/// The diversion of SIP over TCP to the relay: a LAN host's connection to a SIP port
/// of an address beyond the WAN (not the router's own, not TLS) goes to the transparent
/// socket on 127.0.0.1:`port`, and its packets are marked for local delivery. When no
/// transparent socket listens there, `tproxy` does nothing and the rule stops: the
/// packet is forwarded as it would be without sipalg (fail-open).
fn tproxy(s: &mut String, input: &Input, wan: &str, port: u16) {
    let tcp_ports: Vec<u16> = input
        .ports
        .iter()
        .copied()
        .filter(|&p| p != TLS_PORT)
        .collect();
    if tcp_ports.is_empty() {
        return;
    }
    let ports = set_of(&tcp_ports, false);
    let _ = writeln!(s, "\tchain tcp_relay {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook prerouting priority mangle; policy accept;"
    );
    let _ = writeln!(
        s,
        "\t\tiifname != {wan} meta nfproto ipv4 tcp dport {ports} fib daddr type != local fib daddr oifname {wan} tproxy ip to 127.0.0.1:{port} meta mark set meta mark | {TPROXY_MARK:#010x} accept"
    );
    let _ = writeln!(s, "\t}}");
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

    fn input<'a>(
        wan: &'a [String],
        backend: Backend,
        snat: &'a [SnatElement],
        trusted: &'a [String],
    ) -> Input<'a> {
        Input {
            wan_devices: wan,
            wan_address: Some("198.51.100.1".parse().unwrap()),
            ports: &[5060, 5080],
            backend,
            snat,
            alg: true,
            media_any: false,
            trusted,
            kernel_helper_guard: true,
            timeouts: Some((3600, 300)),
            dscp: Some((40, 46)),
            tcp_relay: Some(5059),
            maps_as_sets: true,
        }
    }

    #[test]
    fn nft_table_with_queue_nat_marks_timeouts_and_dscp() {
        let wan = vec!["eth1".to_string()];
        let snat = [SnatElement {
            private: "192.168.1.20:5060".parse().unwrap(),
            public: "198.51.100.1:5060".parse().unwrap(),
            timeout_s: 3600,
        }];
        let trusted = vec!["198.51.100.30".to_string(), "10.0.0.0/8".to_string()];
        let t = nft(&input(&wan, Backend::Nft, &snat, &trusted));
        assert!(
            t.starts_with("table inet sipalg {}\ndelete table inet sipalg\ntable inet sipalg {\n")
        );
        for needle in [
            "\t\telements = { 192.168.1.20 . 5060 timeout 3600s : 198.51.100.1 . 5060 }\n",
            "\t\toifname { \"eth1\" } meta nfproto ipv4 udp dport { 5060, 5080 } queue num 5060 bypass\n",
            "\t\tiifname { \"eth1\" } meta nfproto ipv4 udp sport { 5060, 5080 } queue num 5060 bypass\n",
            "priority srcnat - 1;",
            "meta l4proto udp snat ip to ip saddr . udp sport map @snat_ports",
            // Media: the NAT rule marks the flow itself (media; a pinhole for fw4).
            "\t\toifname { \"eth1\" } meta nfproto ipv4 ip saddr . udp sport @media_snat ct mark set ct mark | 0xc0000000 ct timeout set \"sip_media\" snat ip to ip saddr . udp sport map @media_snat\n",
            "\t\tiifname { \"eth1\" } meta nfproto ipv4 ip saddr . udp dport @media_dnat ct mark set ct mark | 0xd0000000 ct timeout set \"sip_media\" dnat ip to ip saddr . udp dport map @media_dnat\n",
            "ip saddr @trusted_sources dnat ip to udp dport map @sig_dnat_trusted",
            "\t\tiifname != { \"eth1\" } ip daddr 198.51.100.1 udp dport @media_hairpin ct mark set ct mark | 0xc0000000 ct timeout set \"sip_media\" dnat ip to udp dport map @media_hairpin\n",
            "set trusted_sources { type ipv4_addr; flags interval; elements = { 198.51.100.30, 10.0.0.0/8 } }",
            "\tmap media_dnat { type ipv4_addr . inet_service : ipv4_addr . inet_service; }\n",
            "\tmap sig_dnat { type ipv4_addr . inet_service : ipv4_addr . inet_service; flags timeout; }\n",
            "\tset media_endpoints { type ipv4_addr . inet_service; }\n",
            "ct timeout sip_media { protocol udp; l3proto ip; policy = { unreplied: 300, replied: 300 }; }",
            "ct state new udp dport { 5060, 5080 } ct timeout set \"sip_signalling\"",
            "ct status dnat ct state new ip daddr . udp dport @pinhole_targets ct mark set ct mark | 0x90000000",
            "\t\tmeta l4proto { tcp, udp } th dport { 5060, 5080 } ct mark set ct mark | 0x80000000\n",
            "\t\tmeta l4proto { tcp, udp } th sport { 5060, 5080 } ct mark set ct mark | 0x80000000\n",
            "udp dport { 5060, 5080 } ct mark set ct mark | 0x20000000",
            "ct mark & 0x40000000 == 0x40000000 ip dscp set 46",
            "udp sport { 5060, 5080 } ip dscp set 40",
            "tcp sport { 5060, 5080 } ip dscp set 40",
            "\t\tiifname != { \"eth1\" } meta nfproto ipv4 tcp dport { 5060, 5080 } fib daddr type != local fib daddr oifname { \"eth1\" } tproxy ip to 127.0.0.1:5059 meta mark set meta mark | 0x08000000 accept\n",
        ] {
            assert!(t.contains(needle), "{needle:?} missing in\n{t}");
        }
    }

    #[test]
    fn what_is_left_out_when_off() {
        let wan = vec!["wan".to_string()];
        let mut i = input(&wan, Backend::IptablesNft, &[], &[]);
        i.alg = false;
        i.kernel_helper_guard = false;
        i.timeouts = None;
        i.dscp = None;
        i.tcp_relay = None;
        let t = nft(&i);
        for absent in [
            "queue",
            "elements",
            "dnat ip",
            "snat ip",
            "kernel_helper_guard",
            "ct timeout",
            "dscp",
            "tproxy",
        ] {
            assert!(!t.contains(absent), "{absent:?} present in\n{t}");
        }
        assert!(t.contains("set trusted_sources { type ipv4_addr; flags interval; }"));
        // With the ALG off nothing NATs media: the media endpoints set marks it.
        assert!(t.contains(
            "\t\tct state new ip daddr . udp dport @media_endpoints ct mark set ct mark | 0xc0000000\n"
        ));
        i.media_any = true;
        i.alg = true;
        let t = nft(&i);
        assert!(t.contains("udp dport @media_any ct mark set ct mark | 0xd0000000 dnat ip to udp dport map @media_any"));
        assert!(!t.contains("@media_endpoints"), "{t}");
    }

    /// Every `@name` of a map in a rule that is not `map @name`: a lookup of the map as
    /// a set, which Linux refuses before 6.5 (nft_lookup_init: a map needs a data
    /// register until a4878eeae390 "netfilter: nf_tables: relax set/map validation
    /// checks").
    fn maps_looked_up_as_sets(t: &str) -> Vec<String> {
        let maps: Vec<&str> = t
            .lines()
            .filter_map(|l| l.trim().strip_prefix("map "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut found = Vec::new();
        for line in t.lines().filter(|l| l.starts_with("\t\t")) {
            for m in &maps {
                let at = format!("@{m}");
                let uses = line.matches(&at).count();
                let as_map = line.matches(&format!("map {at}")).count();
                if uses > as_map {
                    found.push(format!("{m}: {}", line.trim()));
                }
            }
        }
        found
    }

    #[test]
    fn before_linux_6_5_no_rule_looks_a_map_up_as_a_set() {
        let wan = vec!["wan".to_string()];
        for media_any in [false, true] {
            for alg in [false, true] {
                let mut i = input(&wan, Backend::Nft, &[], &[]);
                i.alg = alg;
                i.media_any = media_any;
                i.maps_as_sets = false;
                let t = nft(&i);
                assert_eq!(maps_looked_up_as_sets(&t), Vec::<String>::new(), "{t}");
                if alg {
                    // The NAT rules only NAT; the endpoint set marks, pinholes for fw4 too.
                    for needle in [
                        "\t\toifname { \"wan\" } meta nfproto ipv4 snat ip to ip saddr . udp sport map @media_snat\n",
                        "\t\tiifname != { \"wan\" } ip daddr 198.51.100.1 dnat ip to udp dport map @media_hairpin\n",
                        "\t\tiifname != { \"wan\" } ct state new ip saddr . udp sport @media_endpoints ct mark set ct mark | 0xc0000000 ct timeout set \"sip_media\"\n",
                        "\t\tiifname { \"wan\" } ct status dnat ct state new ip daddr . udp dport @media_endpoints ct mark set ct mark | 0xd0000000 ct timeout set \"sip_media\"\n",
                        if media_any {
                            "\t\tiifname { \"wan\" } meta nfproto ipv4 dnat ip to udp dport map @media_any\n"
                        } else {
                            "\t\tiifname { \"wan\" } meta nfproto ipv4 dnat ip to ip saddr . udp dport map @media_dnat\n"
                        },
                    ] {
                        assert!(t.contains(needle), "{needle:?} missing in\n{t}");
                    }
                }
                // From 6.5 the ALG's NAT rules mark themselves: no endpoint set needed.
                i.maps_as_sets = true;
                let t = nft(&i);
                assert_eq!(
                    maps_looked_up_as_sets(&t).len(),
                    if alg { 3 } else { 0 },
                    "{t}"
                );
                assert_eq!(t.contains("@media_endpoints"), !alg, "{t}");
            }
        }
    }

    #[test]
    fn every_flow_sipalg_marks_is_kept_out_of_the_flowtable() {
        // Whatever the options, each rule that marks a flow as sipalg's (media,
        // pinhole, SIP) sets MARK_NO_OFFLOAD too; only the kernel-helper guard's mark
        // is on its own (it marks SIP, which the SIP rules mark anyway).
        let wan = vec!["wan".to_string()];
        for alg in [false, true] {
            for maps_as_sets in [false, true] {
                for media_any in [false, true] {
                    let mut i = input(&wan, Backend::Nft, &[], &[]);
                    (i.alg, i.maps_as_sets, i.media_any) = (alg, maps_as_sets, media_any);
                    let t = nft(&i);
                    let mut chain = "";
                    let mut marks = 0;
                    for line in t.lines() {
                        if let Some(c) = line.trim().strip_prefix("chain ") {
                            chain = c;
                        }
                        let Some(v) = line.split("ct mark set ct mark | ").nth(1) else {
                            continue;
                        };
                        let v = u32::from_str_radix(&v[2..10], 16).unwrap();
                        marks += 1;
                        if chain.starts_with("kernel_helper_guard") {
                            assert_eq!(v, MARK_NO_KERNEL_HELPER);
                        } else {
                            assert_ne!(v & MARK_NO_OFFLOAD, 0, "{line}");
                        }
                    }
                    assert!(marks >= 5, "{t}");
                    for dir in ["dport", "sport"] {
                        assert!(t.contains(&format!(
                            "\t\tmeta l4proto {{ tcp, udp }} th {dir} {{ 5060, 5080 }} ct mark set ct mark | 0x80000000\n"
                        )));
                    }
                }
            }
        }
    }

    #[test]
    fn tcp_relay_never_diverts_tls() {
        let wan = vec!["wan".to_string()];
        let mut i = input(&wan, Backend::Nft, &[], &[]);
        i.ports = &[5060, 5061];
        let t = nft(&i);
        assert!(
            t.contains("tcp dport { 5060 } fib daddr type != local"),
            "{t}"
        );
        i.ports = &[5061];
        assert!(!nft(&i).contains("tproxy"), "only TLS: nothing to divert");
    }

    /// Every combination of the inputs that shape the text (2,048 of them: backend, ALG,
    /// media source, the kernel-helper guard, timeouts, DSCP, the TCP relay, maps looked
    /// up as sets, a WAN address, SNAT elements, trusted sources), `describe`d and hashed
    /// (FNV-1a 64) into one digest, pinned: a change of any byte of any of them fails
    /// this. Pinned before `nft` was split into one function per chain (issue #21), so
    /// the split is proven byte-identical. A deliberate change of the rules updates it.
    #[test]
    fn every_combination_of_inputs_gives_the_pinned_text() {
        let wan = vec!["wan".to_string(), "pppoe-wan".to_string()];
        let snat = [SnatElement {
            private: "192.168.1.20:5060".parse().unwrap(),
            public: "198.51.100.1:40000".parse().unwrap(),
            timeout_s: 0,
        }];
        let trusted = vec!["198.51.100.30".to_string(), String::new()];
        let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
        let mut texts = 0;
        for bits in 0u32..1 << 11 {
            let on = |b: u32| bits & (1 << b) != 0;
            let backend = if on(0) {
                Backend::IptablesNft
            } else {
                Backend::Nft
            };
            let mut i = input(
                &wan,
                backend,
                if on(9) { &snat } else { &[] },
                if on(10) { &trusted } else { &[] },
            );
            i.alg = on(1);
            i.media_any = on(2);
            i.kernel_helper_guard = on(3);
            i.timeouts = on(4).then_some((3600, 300));
            i.dscp = on(5).then_some((40, 46));
            i.tcp_relay = on(6).then_some(5059);
            i.maps_as_sets = on(7);
            i.wan_address = on(8).then(|| "198.51.100.1".parse().unwrap());
            for b in describe(&i).bytes().chain([0]) {
                digest = (digest ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            texts += 1;
        }
        assert_eq!(texts, 2048);
        assert_eq!(digest, 0x56df_0cf9_bd7f_5905, "digest {digest:#018x}");
    }

    #[test]
    fn xt_backend_has_an_iptables_script() {
        let wan = vec!["wan".to_string(), "pppoe-wan".to_string()];
        let i = input(&wan, Backend::IptablesNft, &[], &[]);
        let x = iptables(&i);
        assert_eq!(x.lines().count(), 3 + 8 + 1);
        assert!(x.contains(
            "-A SIPALG_POST -o pppoe-wan -p udp -m multiport --dports 5060,5080 -j NFQUEUE --queue-num 5060 --queue-bypass\n"
        ));
        assert!(
            x.contains("-A SIPALG_PRE -i wan -p udp -m multiport --sports 5060,5080 -j NFQUEUE")
        );
        assert!(describe(&i).contains("# -A SIPALG_PRE"));
    }
}
