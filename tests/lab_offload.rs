//! fw4's flow offloading on (tests/lab/lab.sh with SIPALG_LAB_FLOWTABLE=1: fw4's `ft`
//! flowtable and `flow offload @ft` first in `chain forward`, as
//! openwrt/firewall4 root/usr/share/firewall4/templates/ruleset.uc at b6e5157 emits them).
//!
//! The kernel offloads every confirmed UDP flow, and every established TCP flow, that
//! has no helper (linux net/netfilter/nft_flow_offload.c, nft_flow_offload_eval, the same
//! in 5.15 and 6.1); from then on its packets go from ingress straight out and skip
//! prerouting, forward and postrouting: the queue, DSCP and timeouts. The package's
//! ruleset-post include accepts sipalg's confirmed flows before that rule. Each test
//! here fails without it (checked by removing the rule from
//! files/nftables.d/ruleset-post/30-sipalg.nft), except the TCP relay's, whose
//! connections end in the router and are never forwarded, and the last, which checks
//! that the rule's `ct status confirmed` keeps the WAN out (it fails without that).
//!
//! The CI host's kernel has no flowtables: there these tests print SKIP; the VM stage
//! (Linux 6.1, tests/vm/run.sh) runs them with SIPALG_REQUIRE_FLOWTABLE=1.

#[path = "common/lab.rs"]
mod lab;
#[path = "common/phone.rs"]
mod phone;
#[path = "common/sipmsg.rs"]
mod sipmsg;

use lab::{arrives, enable_tos, recv, recv_tos, Lab, MEDIA_GW, PHONE1, ROUTER_WAN, SERVER};
use phone::{server_addr, Sip};
use sipmsg::{audio, sdp, sip, sip_sdp, text};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const CS5: u8 = 40 << 2;
const EF: u8 = 46 << 2;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A lab with fw4's flow offloading on, its UDP timeouts shrunk (OpenWrt: 60/180 s;
/// here 3/5 s) and the flowtable's idle timeout too (default 30 s, here 2 s), and
/// sipalgd started with `options`.
fn offloading_lab(test: &str, options: &str) -> Option<Lab> {
    let mut lab = Lab::with_flowtable(test)?;
    for (key, value) in [
        ("net.netfilter.nf_conntrack_udp_timeout", "3"),
        ("net.netfilter.nf_conntrack_udp_timeout_stream", "5"),
        ("net.netfilter.nf_flowtable_udp_timeout", "2"),
        ("net.netfilter.nf_flowtable_tcp_timeout", "2"),
    ] {
        lab.exec("r", &["sysctl", "-qw", &format!("{key}={value}")]);
    }
    lab.write_config(&format!("\toption log_level 'debug'\n{options}"));
    lab.start_daemon();
    Some(lab)
}

/// The router's conntrack lines of UDP/TCP flows from `ip:port` (original source).
fn flows_from(lab: &Lab, proto: &str, ip: &str, port: u16) -> String {
    let port = port.to_string();
    lab.exec(
        "r",
        &[
            "conntrack",
            "-L",
            "-p",
            proto,
            "--orig-src",
            ip,
            "--orig-port-src",
            &port,
        ],
    )
}

/// Whether the flow from `ip:port` is in the flowtable (`conntrack -L` shows [OFFLOAD]).
fn offloaded(lab: &Lab, proto: &str, ip: &str, port: u16) -> bool {
    flows_from(lab, proto, ip, port).contains("[OFFLOAD]")
}

/// A number in the status JSON after `key` (e.g. `"seen":`), the first one.
fn number_after(st: &str, key: &str) -> u64 {
    let at = st.find(key).unwrap_or_else(|| panic!("{key} not in {st}")) + key.len();
    st[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Media packets from `from` to `dest` arrive at `to` with DSCP EF, `n` of them, and
/// the last one's DSCP is returned (the first ones pass before any offloading).
fn late_dscp(from: &UdpSocket, to: &UdpSocket, dest: SocketAddr, n: usize) -> u8 {
    let mut tos = 0;
    for i in 0..n {
        from.send_to(format!("rtp {i}").as_bytes(), dest).unwrap();
        tos = recv_tos(to).2 & 0xfc;
    }
    tos
}

#[test]
fn sip_on_established_flows_is_still_rewritten_and_restored() {
    let Some(lab) = offloading_lab("offsip", "\toption alg '1'") else {
        return;
    };
    let s = Sip::new(&lab, "lan1", PHONE1);
    let mut sent = 0;
    // REGISTER and its refresh: the refresh goes over the flow the first one confirmed.
    let public = s.register(600);
    let again = s.register(600); // asserts the Contact rewritten and restored again
    assert_eq!(again, public);
    sent += 4;
    // An outbound call on the same signalling flow.
    let (inv, _) = s.call(
        "o1",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    assert!(
        text(&inv).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "{}",
        text(&inv)
    );
    sent += 3;
    // A re-INVITE moving the media, and the BYE.
    let (re, _) = s.up(&s.invite("o1", 2, Some("srv"), &sdp(PHONE1, &audio(4010))));
    assert!(
        text(&re).contains(&format!("Via: SIP/2.0/UDP {public};"))
            && text(&re).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "{}",
        text(&re)
    );
    let ok = s.down(
        &Sip::answer("o1", 2, public, &sdp(MEDIA_GW, &audio(30010))),
        public,
    );
    assert!(
        text(&ok).contains(&format!("Via: SIP/2.0/UDP {PHONE1}:5060;")),
        "restored: {}",
        text(&ok)
    );
    sent += 2;
    let bye = sip(&format!("BYE sip:bob@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-o1-bye\nFrom: <sip:a@{PHONE1}>;tag=o1\nTo: <sip:bob@{SERVER}>;tag=srv\nCall-ID: o1\nCSeq: 3 BYE\nContact: <sip:a@{PHONE1}:5060>\n"), "");
    let (bye_out, _) = s.up(&bye);
    assert!(
        text(&bye_out).contains(&format!("Via: SIP/2.0/UDP {public};")),
        "{}",
        text(&bye_out)
    );
    sent += 1;
    // An inbound call to the registered phone, over the same flow from the registrar,
    // and the phone's answer with its private SDP.
    let (_, at_server) = s.called(
        "i1",
        public,
        &sdp(MEDIA_GW, &audio(31000)),
        &sdp(PHONE1, &audio(4002)),
    );
    assert!(
        text(&at_server).contains(&format!("c=IN IP4 {ROUTER_WAN}"))
            && text(&at_server).contains(&format!("Contact: <sip:100@{public}>")),
        "{}",
        text(&at_server)
    );
    sent += 2;
    // Every message went through sipalgd, and the flow never entered the flowtable.
    let st = lab.status_json().unwrap();
    assert_eq!(number_after(&st, "\"seen\":"), sent, "{st}");
    assert!(
        !offloaded(&lab, "udp", PHONE1, 5060),
        "{}",
        flows_from(&lab, "udp", PHONE1, 5060)
    );
    assert!(st.contains("\"flow_offload\":{\"offloading\":true,\"hardware\":false,\"kept_out\":true,\"offloaded\":0}"), "{st}");
    assert!(st.contains("\"warnings\":[]"), "{st}");
}

#[test]
fn media_keeps_dscp_ef_both_ways_late_in_the_call() {
    let Some(lab) = offloading_lab("offdscp", "\toption alg '1'") else {
        return;
    };
    let s = Sip::new(&lab, "lan1", PHONE1);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    enable_tos(&phone_rtp);
    enable_tos(&gw);
    enable_tos(&s.phone);
    enable_tos(&s.server);
    s.call(
        "m1",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    let to_phone = addr(&format!("{ROUTER_WAN}:4000"));
    let to_gw = addr(&format!("{MEDIA_GW}:30000"));
    // Both directions, many packets: the flow is confirmed after the first.
    for round in 0..5 {
        assert_eq!(
            late_dscp(&gw, &phone_rtp, to_phone, 4),
            EF,
            "to the phone, round {round}"
        );
        assert_eq!(
            late_dscp(&phone_rtp, &gw, to_gw, 4),
            EF,
            "to the far end, round {round}"
        );
    }
    // Signalling late in the call too (an in-dialog request each way).
    let info = |from: &str, call: &str| {
        sip(&format!("INFO sip:x@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {from}:5060;branch=z9hG4bK-{call}\nFrom: <sip:a@{from}>;tag=m1\nTo: <sip:b@{SERVER}>;tag=srv\nCall-ID: m1\nCSeq: 9 INFO\n"), "")
    };
    s.phone
        .send_to(&info(PHONE1, "late1"), server_addr())
        .unwrap();
    let (_, public, tos) = recv_tos(&s.server);
    assert_eq!(tos & 0xfc, CS5, "late SIP towards the provider");
    s.server.send_to(&info(SERVER, "late2"), public).unwrap();
    assert_eq!(
        recv_tos(&s.phone).2 & 0xfc,
        CS5,
        "late SIP towards the phone"
    );
    assert!(
        !offloaded(&lab, "udp", MEDIA_GW, 30000),
        "{}",
        flows_from(&lab, "udp", MEDIA_GW, 30000)
    );
}

#[test]
fn registration_and_a_held_call_outlive_the_routers_timeouts_and_keep_counting() {
    let Some(lab) = offloading_lab("offhold", "\toption alg '1'") else {
        return;
    };
    let s = Sip::new(&lab, "lan1", PHONE1);
    let public = s.register(600);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    s.call(
        "h1",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    let to_phone = addr(&format!("{ROUTER_WAN}:4000"));
    let to_gw = addr(&format!("{MEDIA_GW}:30000"));
    let talk = |n: usize| {
        for _ in 0..n {
            gw.send_to(b"rtp", to_phone).unwrap();
            recv(&phone_rtp);
            phone_rtp.send_to(b"rtp", to_gw).unwrap();
            recv(&gw);
        }
    };
    talk(10);
    // The counters as status shows them (conntrack's, read every second).
    let counts = |min: u64| {
        let st = lab.wait_status(Duration::from_secs(30), "media counted", |st| {
            st.contains("\"call_id\":\"h1\"")
                && number_after(st, "\"packets_out\":") >= min
                && number_after(st, "\"packets_in\":") >= min
        });
        (
            number_after(&st, "\"packets_out\":"),
            number_after(&st, "\"packets_in\":"),
        )
    };
    let before = counts(10);
    // On hold: no media, no SIP, for longer than the router's UDP timeouts and the
    // flowtable's (2 s idle, then the kernel gives an offloaded flow back with at most
    // the UDP timeout minus that: 3 s).
    std::thread::sleep(Duration::from_secs(9));
    let reg = lab.flow_timeout(PHONE1, 5060);
    assert!(reg > 500, "the registration's flow lives on: {reg} s");
    // (The far end spoke first: its flow through the pinhole is the call's RTP flow.)
    let media = lab.flow_timeout(MEDIA_GW, 30000);
    assert!(
        media > 200,
        "the held call's media flow lives on (media timeout 300 s): {media} s"
    );
    // The registrar reaches the phone on the kept flow; media resumes and is counted on.
    let ping = sip(&format!("OPTIONS sip:100@{public} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-hold\nFrom: <sip:x@{SERVER}>;tag=hold\nTo: <sip:100@{SERVER}>\nCall-ID: hold\nCSeq: 1 OPTIONS\n"), "");
    s.server.send_to(&ping, public).unwrap();
    assert!(arrives(&s.phone, Duration::from_secs(3)).is_some());
    talk(10);
    let after = counts(before.0 + 10);
    assert!(
        after.0 >= before.0 + 10 && after.1 >= before.1 + 10,
        "the per-direction counters keep counting across the hold: {before:?} -> {after:?}"
    );
}

#[test]
fn sip_over_tcp_is_relayed_with_offloading_on() {
    let Some(lab) = offloading_lab("offtcp", "\toption alg '1'") else {
        return;
    };
    let listener = tcp_listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = tcp_connect(&lab, "lan1", &format!("{SERVER}:5060"));
    let msgs: Vec<Vec<u8>> = (0..4u16)
        .map(|i| {
            sip_sdp(
                &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-t{i}\nFrom: <sip:a@{PHONE1}>;tag=t\nTo: <sip:bob@{SERVER}>\nCall-ID: tcp{i}\nCSeq: 1 INVITE\nContact: <sip:a@{PHONE1}:5060;transport=tcp>\n"),
                &sdp(PHONE1, &audio(4000 + 2 * i)),
            )
        })
        .collect();
    phone.write_all(&msgs[0]).unwrap();
    let mut conn = tcp_accept(&listener);
    // The later messages, on a connection long established.
    for m in &msgs[1..] {
        std::thread::sleep(Duration::from_millis(200));
        phone.write_all(m).unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(20);
    while text(&got).matches("INVITE sip:bob").count() < msgs.len() {
        assert!(Instant::now() < deadline, "{}", text(&got));
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", text(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let got = text(&got);
    assert_eq!(
        got.matches(&format!("c=IN IP4 {ROUTER_WAN}")).count(),
        msgs.len(),
        "every message rewritten: {got}"
    );
    let st = lab.status_json().unwrap();
    assert_eq!(
        number_after(&st, "\"messages\":"),
        msgs.len() as u64,
        "{st}"
    );
}

fn tcp_listen(lab: &Lab, host: &str, at: &str) -> TcpListener {
    let at: SocketAddr = at.parse().unwrap();
    lab::in_netns(&lab.ns(host), move || TcpListener::bind(at))
        .unwrap_or_else(|e| panic!("listen on {at} in {host}: {e}"))
}

/// A connection from `host` (from its only address that routes there) to `to`.
fn tcp_connect(lab: &Lab, host: &str, to: &str) -> TcpStream {
    let to: SocketAddr = to.parse().unwrap();
    let s = lab::in_netns(&lab.ns(host), move || {
        TcpStream::connect_timeout(&to, Duration::from_secs(10))
    })
    .unwrap_or_else(|e| panic!("connect to {to} from {host}: {e}"));
    s.set_nodelay(true).unwrap();
    s
}

fn tcp_accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                return s;
            }
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("no connection arrived: {e}"),
        }
    }
}

#[test]
fn other_flows_are_still_offloaded() {
    let Some(lab) = offloading_lab("offother", "\toption alg '1'") else {
        return;
    };
    // A flow that is not SIP (a game, a video stream): several packets each way.
    let a = lab.udp("lan1", &format!("{PHONE1}:7000"));
    let b = lab.udp("wan", &format!("{SERVER}:7000"));
    a.send_to(b"hello", addr(&format!("{SERVER}:7000")))
        .unwrap();
    let (_, public) = recv(&b);
    for _ in 0..5 {
        b.send_to(b"data", public).unwrap();
        recv(&a);
        a.send_to(b"data", addr(&format!("{SERVER}:7000"))).unwrap();
        recv(&b);
    }
    assert!(
        offloaded(&lab, "udp", PHONE1, 7000),
        "not offloaded: {}",
        flows_from(&lab, "udp", PHONE1, 7000)
    );
    // SIP at the same time is not.
    let s = Sip::new(&lab, "lan1", PHONE1);
    s.register(600);
    s.register(600);
    assert!(
        !offloaded(&lab, "udp", PHONE1, 5060),
        "{}",
        flows_from(&lab, "udp", PHONE1, 5060)
    );
}

#[test]
fn alg_off_keeps_dscp_and_timeouts_with_offloading_on() {
    let Some(lab) = offloading_lab("offalgoff", "\toption alg '0'") else {
        return;
    };
    let s = Sip::new(&lab, "lan1", PHONE1);
    enable_tos(&s.server);
    enable_tos(&s.phone);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    enable_tos(&phone_rtp);
    enable_tos(&gw);
    // With the ALG off the phone handles NAT: it sends first, from its own ports.
    let inv = s.invite("a1", 1, None, &sdp(PHONE1, &audio(4000)));
    let (got, public) = s.up(&inv);
    assert_eq!(got, inv, "alg=0 changes no byte");
    s.down(
        &Sip::answer("a1", 1, public, &sdp(MEDIA_GW, &audio(30000))),
        public,
    );
    let to_gw = addr(&format!("{MEDIA_GW}:30000"));
    phone_rtp.send_to(b"rtp", to_gw).unwrap();
    let (_, media_public) = recv(&gw);
    for round in 0..5 {
        assert_eq!(
            late_dscp(&phone_rtp, &gw, to_gw, 4),
            EF,
            "to the far end, round {round}"
        );
        assert_eq!(
            late_dscp(&gw, &phone_rtp, media_public, 4),
            EF,
            "to the phone, round {round}"
        );
    }
    let info = sip(&format!("INFO sip:x@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-late\nFrom: <sip:a@{PHONE1}>;tag=a1\nTo: <sip:b@{SERVER}>;tag=srv\nCall-ID: a1\nCSeq: 9 INFO\n"), "");
    s.phone.send_to(&info, server_addr()).unwrap();
    assert_eq!(
        recv_tos(&s.server).2 & 0xfc,
        CS5,
        "late SIP towards the provider"
    );
    // Idle past the router's UDP timeouts and the flowtable's: the flows keep sipalg's.
    std::thread::sleep(Duration::from_secs(9));
    let t = lab.flow_timeout(PHONE1, 5060);
    assert!(
        t > 3000,
        "the SIP flow keeps the signalling timeout (3600 s): {t} s"
    );
    let t = lab.flow_timeout(PHONE1, 4000);
    assert!(
        t > 200,
        "the media flow keeps the media timeout (300 s): {t} s"
    );
    // SIP over TCP is forwarded as it is with the ALG off, with its DSCP throughout:
    // the provider's side counts the segments that arrive with and without CS5 (the
    // kernel offloads a TCP flow once established, so all but the handshake would
    // arrive without it).
    let count_rules = "table inet dscpcount {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 5060 ip dscp cs5 counter\n\t\ttcp dport 5060 ip dscp != cs5 counter\n\t}\n}\n";
    lab.exec(
        "wan",
        &["sh", "-c", &format!("printf '{count_rules}' | nft -f -")],
    );
    let listener = tcp_listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = tcp_connect(&lab, "lan1", &format!("{SERVER}:5060"));
    let mut conn = tcp_accept(&listener);
    let mut buf = [0u8; 256];
    for i in 0..8 {
        let m = format!("OPTIONS sip:x@{SERVER} SIP/2.0\r\nCall-ID: t{i}\r\nCSeq: {i} OPTIONS\r\nContent-Length: 0\r\n\r\n");
        phone.write_all(m.as_bytes()).unwrap();
        let mut n = 0;
        while n < m.len() {
            n += conn.read(&mut buf).unwrap();
        }
        conn.write_all(b"\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let counters = lab.exec("wan", &["nft", "list", "chain", "inet", "dscpcount", "in"]);
    let packets: Vec<u64> = counters
        .lines()
        .filter_map(|l| l.split("counter packets ").nth(1))
        .map(|r| r.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(packets.len(), 2, "{counters}");
    assert!(packets[0] >= 8, "segments with CS5: {counters}");
    assert_eq!(packets[1], 0, "segments without CS5: {counters}");
}

#[test]
fn fw4_reload_keeps_one_rule_first_and_status_tells_when_it_is_missing() {
    let Some(mut lab) = offloading_lab("offreload", "\toption alg '1'") else {
        return;
    };
    let forward = |lab: &Lab| lab.exec("r", &["nft", "list", "chain", "inet", "fw4", "forward"]);
    let ours = "comment \"sipalg: keep SIP and its media out of the flowtable\"";
    for round in 0..3 {
        let chain = forward(&lab);
        let rules: Vec<&str> = chain
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with("type ")
                    && !l.starts_with("table ")
                    && !l.starts_with("chain ")
                    && *l != "}"
            })
            .collect();
        assert!(
            rules[0].ends_with(ours),
            "round {round}: ours first: {chain}"
        );
        assert!(
            rules[1].contains("flow add @ft"),
            "round {round}: then fw4's: {chain}"
        );
        assert_eq!(
            chain.matches(ours).count(),
            1,
            "round {round}: exactly one: {chain}"
        );
        lab.reload_fw4(true);
    }
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"kept_out\":true") && st.contains("\"warnings\":[]"),
        "{st}"
    );
    // fw4 without the package's includes (auto_includes 0): status says so, and once
    // SIP is offloaded anyway, that too.
    lab.reload_fw4(false);
    assert_eq!(forward(&lab).matches(ours).count(), 0);
    let st = lab.status_json().unwrap();
    assert!(st.contains("\"kept_out\":false"), "{st}");
    assert!(
        st.contains("software flow offloading is on and sipalg's rule"),
        "{st}"
    );
    let s = Sip::new(&lab, "lan1", PHONE1);
    let (_, public) = s.up(&s.invite("x1", 1, None, &sdp(PHONE1, &audio(4000))));
    s.down(
        &Sip::answer("x1", 1, public, &sdp(MEDIA_GW, &audio(30000))),
        public,
    );
    assert!(
        offloaded(&lab, "udp", PHONE1, 5060),
        "{}",
        flows_from(&lab, "udp", PHONE1, 5060)
    );
    // The daemon looks for offloaded flows every 5 s, and an idle flow leaves the
    // flowtable after its 2 s timeout: the phone keeps the flow busy (CRLF keep-alives,
    // RFC 5626 style) so that a look finds it there, as it would a live call.
    let server = format!("{SERVER}:5060");
    let st = lab.wait_status(Duration::from_secs(20), "an offloaded flow counted", |st| {
        let _ = s.phone.send_to(b"\r\n\r\n", &server);
        !st.contains("\"offloaded\":0")
    });
    assert!(
        st.contains("SIP or media flows that sipalg handles are offloaded"),
        "{st}"
    );
    assert!(lab.log().contains("are offloaded"), "{}", lab.log());
    let _ = &mut lab;
}

/// The rule accepts only confirmed flows: a WAN host sending straight to a LAN phone's
/// SIP port (its flow marked as SIP by port, before fw4's forward chain judges it) is
/// still dropped by fw4's zone policy, packet after packet. Runs without a flowtable too
/// (the rule is in fw4's forward chain either way), so also on the host.
#[test]
fn the_mark_opens_no_way_in_from_the_wan() {
    let Some(mut lab) = Lab::new("offnoway") else {
        return;
    };
    lab.write_config("\toption alg '1'");
    lab.start_daemon();
    // A WAN that routes to the LAN's private addresses (a neighbour on the same link).
    lab.exec(
        "wan",
        &["ip", "route", "add", "192.168.1.0/24", "via", ROUTER_WAN],
    );
    let phone = lab.udp("lan1", &format!("{PHONE1}:5060"));
    let stranger = lab.udp("wan", &format!("{SERVER}:5060"));
    for i in 0..3 {
        stranger
            .send_to(
                format!("OPTIONS {i}").as_bytes(),
                addr(&format!("{PHONE1}:5060")),
            )
            .unwrap();
        assert!(
            arrives(&phone, Duration::from_millis(500)).is_none(),
            "packet {i} from the WAN reached the phone"
        );
    }
    // (The phone's own flows to the same host are fine: sanity that the path exists.)
    phone
        .send_to(b"OPTIONS out", addr(&format!("{SERVER}:5060")))
        .unwrap();
    assert!(arrives(&stranger, Duration::from_secs(2)).is_some());
}
