//! Calls and registrations through the router, in the namespace lab: media pinholes
//! (far end speaks first, media gateway ≠ SIP server, a=rtcp, audio+video, re-INVITE,
//! BYE), 300 calls on one signalling flow, hairpin, registered phones reachable from the
//! registrar and trusted sources only, no pinhole to a host that did not ask, DSCP in
//! both directions, alg=0 still giving timeouts and DSCP, the kernel-helper guard, and
//! the status report with per-direction packet counts and one-way detection, and a
//! phone writing Via and Contact without a port getting exactly those bytes back.

#[path = "common/lab.rs"]
mod lab;
#[path = "common/phone.rs"]
mod phone;
#[path = "common/sipmsg.rs"]
mod sipmsg;

use lab::{
    arrives, enable_tos, recv, recv_tos, Lab, MEDIA_GW, PHONE1, PHONE2, ROUTER_WAN, SERVER,
    STRANGER, TRUSTED,
};
use phone::{server_addr, Sip};
use sipmsg::{audio, sdp, sip, sip_sdp, text};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const CS5: u8 = 40 << 2;
const EF: u8 = 46 << 2;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn start(lab: &mut Lab, options: &str) {
    lab.write_config(&format!("\toption log_level 'debug'\n{options}"));
    lab.start_daemon();
}

/// Media is delivered from `from` to `to` (both in the lab), within a second.
fn media_flows(from: &UdpSocket, to: &UdpSocket, dest: SocketAddr) -> Option<SocketAddr> {
    from.send_to(b"\x80\x00rtp-packet", dest).unwrap();
    arrives(to, Duration::from_secs(1)).map(|(_, src)| src)
}

#[test]
fn outbound_call_far_end_speaks_first_from_a_media_gateway_and_bye_closes() {
    let Some(mut lab) = Lab::new("callout") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let phone_rtcp = lab.udp("lan1", &format!("{PHONE1}:4001"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    let stranger = lab.udp("wan", &format!("{STRANGER}:30000"));
    let (inv, _) = s.call(
        "out1",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    assert!(
        text(&inv).contains(&format!(
            "c=IN IP4 {ROUTER_WAN}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0"
        )),
        "{}",
        text(&inv)
    );
    let public_rtp = addr(&format!("{ROUTER_WAN}:4000"));
    // The media gateway (not the SIP server) sends first, RTP and RTCP.
    assert_eq!(
        media_flows(&gw, &phone_rtp, public_rtp),
        Some(addr(&format!("{MEDIA_GW}:30000")))
    );
    assert!(media_flows(&gw, &phone_rtcp, addr(&format!("{ROUTER_WAN}:4001"))).is_some());
    // The phone's media leaves from the port it advertised (symmetric RTP).
    assert_eq!(
        media_flows(&phone_rtp, &gw, addr(&format!("{MEDIA_GW}:30000"))),
        Some(public_rtp)
    );
    // Someone else cannot use the pinhole.
    assert_eq!(
        media_flows(&stranger, &phone_rtp, public_rtp),
        None,
        "media_source sdp: only the far end's address"
    );
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"call_id\":\"out1\",\"state\":\"confirmed\",\"direction\":\"outbound\""),
        "{st}"
    );
    assert!(
        st.contains(&format!("\"remote\":\"{MEDIA_GW}:30000\"")),
        "{st}"
    );

    s.bye("out1");
    // The pinholes close right after the BYE's verdict.
    std::thread::sleep(Duration::from_millis(100));
    let late = lab.udp("wan", &format!("{MEDIA_GW}:30002"));
    assert_eq!(
        media_flows(&late, &phone_rtp, public_rtp),
        None,
        "BYE closed the pinhole"
    );
    let st = lab.status_json().unwrap();
    assert!(st.contains("\"calls\":[]"), "{st}");
}

#[test]
fn inbound_call_to_a_registered_phone_with_far_end_media_first() {
    let Some(mut lab) = Lab::new("callin") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let public = s.register(600);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4002"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:31000"));
    let (got, at_server) = s.called(
        "in1",
        public,
        &sdp(MEDIA_GW, &audio(31000)),
        &sdp(PHONE1, &audio(4002)),
    );
    assert!(
        text(&got).contains(&format!("c=IN IP4 {MEDIA_GW}")),
        "the far end's SDP is left alone"
    );
    // The far end hears the answer a network round trip after the router let it pass
    // (here the "WAN" is a veth: a few µs, so wait a little as a real one would).
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        text(&at_server).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "{}",
        text(&at_server)
    );
    assert!(
        media_flows(&gw, &phone_rtp, addr(&format!("{ROUTER_WAN}:4002"))).is_some(),
        "far end speaks first"
    );
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"call_id\":\"in1\",\"state\":\"confirmed\",\"direction\":\"inbound\""),
        "{st}"
    );
}

#[test]
fn rtcp_attribute_video_and_a_reinvite_to_a_new_port() {
    let Some(mut lab) = Lab::new("avrtcp") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let rtcp = lab.udp("lan1", &format!("{PHONE1}:4101"));
    let video = lab.udp("lan1", &format!("{PHONE1}:4004"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    let offer = sdp(
        PHONE1,
        &format!(
            "{}a=rtcp:4101 IN IP4 {PHONE1}\nm=video 4004 RTP/AVP 96\na=rtpmap:96 H264/90000\n",
            audio(4000)
        ),
    );
    let answer = sdp(
        MEDIA_GW,
        &format!("{}m=video 30004 RTP/AVP 96\n", audio(30000)),
    );
    let (inv, _) = s.call("av1", &offer, &answer);
    assert!(
        text(&inv).contains(&format!("a=rtcp:4101 IN IP4 {ROUTER_WAN}")),
        "{}",
        text(&inv)
    );
    assert!(
        media_flows(&gw, &rtp, addr(&format!("{ROUTER_WAN}:4000"))).is_some(),
        "audio"
    );
    assert!(
        media_flows(&gw, &rtcp, addr(&format!("{ROUTER_WAN}:4101"))).is_some(),
        "a=rtcp on a non-adjacent port"
    );
    assert!(
        media_flows(&gw, &video, addr(&format!("{ROUTER_WAN}:4004"))).is_some(),
        "video"
    );

    // re-INVITE: audio moves to 5000.
    let moved = lab.udp("lan1", &format!("{PHONE1}:5000"));
    let (re, public) = s.up(&s.invite("av1", 2, Some("srv"), &sdp(PHONE1, &audio(5000))));
    assert!(
        text(&re).contains("m=audio 5000 RTP/AVP 0"),
        "{}",
        text(&re)
    );
    s.down(
        &Sip::answer("av1", 2, public, &sdp(MEDIA_GW, &audio(30000))),
        public,
    );
    let gw2 = lab.udp("wan", &format!("{MEDIA_GW}:30010"));
    assert!(
        media_flows(&gw2, &moved, addr(&format!("{ROUTER_WAN}:5000"))).is_some(),
        "the new port is open"
    );
    assert_eq!(
        media_flows(&gw2, &rtp, addr(&format!("{ROUTER_WAN}:4000"))),
        None,
        "the old port is closed"
    );
}

#[test]
fn three_hundred_calls_over_one_signalling_flow_keep_working_pinholes() {
    let Some(mut lab) = Lab::new("trunk") else {
        return;
    };
    start(&mut lab, "\toption alg '1'\n\toption log_level 'info'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let n = 300u16;
    let mut sockets = Vec::new();
    for i in 0..n {
        let port = 10000 + 2 * i;
        s.call(
            &format!("trunk-{i}"),
            &sdp(PHONE1, &audio(port)),
            &sdp(MEDIA_GW, &audio(20000 + 2 * i)),
        );
        sockets.push(lab.udp("lan1", &format!("{PHONE1}:{port}")));
    }
    let st = lab.status_json().unwrap();
    assert_eq!(st.matches("\"call_id\":\"trunk-").count(), n as usize);
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:20000"));
    for (i, sock) in sockets.iter().enumerate() {
        let dest = addr(&format!("{ROUTER_WAN}:{}", 10000 + 2 * i));
        assert!(
            media_flows(&gw, sock, dest).is_some(),
            "call {i} has no working pinhole"
        );
    }
}

#[test]
fn hairpin_two_lan_phones_via_an_outside_pbx() {
    let Some(mut lab) = Lab::new("hairpin") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let a = Sip::new(&lab, "lan1", PHONE1);
    let b = Sip {
        phone: lab.udp("lan2", &format!("{PHONE2}:5060")),
        phone_ip: PHONE2,
        server: a.server.try_clone().unwrap(),
    };
    let b_public = b.register(600);
    let a_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let b_rtp = lab.udp("lan2", &format!("{PHONE2}:4000"));
    // A calls; the PBX (our server) relays A's (rewritten) offer to B.
    let (inv, a_public) = a.up(&a.invite("hp1", 1, None, &sdp(PHONE1, &audio(4000))));
    let offer_sdp = text(&inv)
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .replace("\r\n", "\n");
    let to_b = sip_sdp(
        &format!("INVITE sip:100@{b_public} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-hp1b\nFrom: <sip:a@{SERVER}>;tag=hp\nTo: <sip:100@{SERVER}>\nCall-ID: hp1-b\nCSeq: 1 INVITE\nContact: <sip:pbx@{SERVER}:5060>\n"),
        &offer_sdp,
    );
    b.down(&to_b, b_public);
    let b_answer = sip_sdp(
        &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-hp1b\nFrom: <sip:a@{SERVER}>;tag=hp\nTo: <sip:100@{SERVER}>;tag=b\nCall-ID: hp1-b\nCSeq: 1 INVITE\nContact: <sip:100@{PHONE2}:5060>\n"),
        &sdp(PHONE2, &audio(4000)),
    );
    let (b_ok, _) = b.up(&b_answer);
    let b_sdp = text(&b_ok)
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .replace("\r\n", "\n");
    let b_media_port: u16 = b_sdp
        .split("m=audio ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(
        b_media_port, 4000,
        "both phones use 4000; B's public media port differs"
    );
    // Early media: B speaks as soon as it has answered, before the PBX has relayed the
    // answer to A. A's public media address is the router's own mapping from A's
    // offer, so the router reflects it already.
    assert!(
        media_flows(&b_rtp, &a_rtp, addr(&format!("{ROUTER_WAN}:4000"))).is_some(),
        "B -> A via the public address, before A has the answer"
    );
    a.down(&Sip::answer("hp1", 1, a_public, &b_sdp), a_public);
    // Each phone sends to the public address it was given; the router reflects it.
    assert!(
        media_flows(&b_rtp, &a_rtp, addr(&format!("{ROUTER_WAN}:4000"))).is_some(),
        "B -> A via the public address"
    );
    assert!(
        media_flows(
            &a_rtp,
            &b_rtp,
            addr(&format!("{ROUTER_WAN}:{b_media_port}"))
        )
        .is_some(),
        "A -> B via the public address"
    );
}

#[test]
fn registered_phone_reachable_after_its_flow_expires_from_registrar_and_trusted_only() {
    let Some(mut lab) = Lab::new("regreach") else {
        return;
    };
    // The router forgets idle UDP quickly (OpenWrt: 60/180 s; here 3/5 s).
    lab.exec(
        "r",
        &["sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=3"],
    );
    lab.exec(
        "r",
        &[
            "sysctl",
            "-qw",
            "net.netfilter.nf_conntrack_udp_timeout_stream=5",
        ],
    );
    start(
        &mut lab,
        &format!("\toption alg '1'\n\tlist trusted_source '{TRUSTED}'"),
    );
    let s = Sip::new(&lab, "lan1", PHONE1);
    let public = s.register(600);
    // The registration's flow lives as long as the registration (600 s + margin).
    let timeout = lab.flow_timeout(PHONE1, 5060);
    assert!(timeout > 600, "flow timeout {timeout} s");
    // Idle past the router's UDP timeouts: the registrar still reaches the phone through
    // the kept flow.
    std::thread::sleep(Duration::from_secs(6));
    let ping = |from_ip: &str, call: &str| {
        sip(&format!("OPTIONS sip:100@{public} SIP/2.0\nVia: SIP/2.0/UDP {from_ip}:5060;branch=z9hG4bK-{call}\nFrom: <sip:x@{from_ip}>;tag={call}\nTo: <sip:100@{SERVER}>\nCall-ID: {call}\nCSeq: 1 OPTIONS\n"), "")
    };
    s.server
        .send_to(&ping(SERVER, "afteridle"), public)
        .unwrap();
    assert!(
        arrives(&s.phone, Duration::from_secs(2)).is_some(),
        "reachable after idling past the UDP timeout"
    );
    // The flow disappears anyway (say the router was rebooted): the phone stays reachable.
    lab.exec("r", &["conntrack", "-D", "-p", "udp", "--orig-src", PHONE1]);
    let invite = |from_ip: &str, call: &str| {
        sip(&format!("OPTIONS sip:100@{public} SIP/2.0\nVia: SIP/2.0/UDP {from_ip}:5060;branch=z9hG4bK-{call}\nFrom: <sip:x@{from_ip}>;tag={call}\nTo: <sip:100@{SERVER}>\nCall-ID: {call}\nCSeq: 1 OPTIONS\n"), "")
    };
    s.server
        .send_to(&invite(SERVER, "fromreg"), public)
        .unwrap();
    let (got, _) = recv(&s.phone);
    assert!(
        text(&got).starts_with(&format!("OPTIONS sip:100@{PHONE1}:5060")),
        "{}",
        text(&got)
    );
    let trusted = lab.udp("wan", &format!("{TRUSTED}:5060"));
    trusted
        .send_to(&invite(TRUSTED, "fromtrusted"), public)
        .unwrap();
    assert!(
        arrives(&s.phone, Duration::from_secs(2)).is_some(),
        "a trusted proxy other than the registrar reaches the phone"
    );
    let stranger = lab.udp("wan", &format!("{STRANGER}:5060"));
    stranger
        .send_to(&invite(STRANGER, "ghost"), public)
        .unwrap();
    assert!(
        arrives(&s.phone, Duration::from_secs(1)).is_none(),
        "no ghost calls from strangers"
    );
    let st = lab.status_json().unwrap();
    assert!(st.contains(&format!("\"aor\":\"sip:100@{SERVER}\",\"private\":\"{PHONE1}:5060\",\"public\":\"{public}\",\"registrar\":\"{SERVER}:5060\"")), "{st}");
    // A refresh for longer: the kernel's elements get the new lifetime (a re-add alone
    // keeps the old one before Linux 6.12: the VM stage's 6.1 tells the two apart).
    assert_eq!(s.register(3000), public);
    for (kind, set) in [
        ("map", "sig_dnat"),
        ("map", "sig_dnat_trusted"),
        ("set", "pinhole_targets"),
    ] {
        let l = lab.exec("r", &["nft", "list", kind, "inet", "sipalg", set]);
        assert!(
            l.contains("timeout 50m30s expires 50m") || l.contains("timeout 50m30s expires 49m"),
            "{set}: {l}"
        );
    }
}

#[test]
fn no_pinhole_for_a_lan_host_that_did_not_ask() {
    let Some(mut lab) = Lab::new("slipstream") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let victim = lab.udp("lan2", &format!("{PHONE2}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    // Phone 1's INVITE names phone 2's address in its SDP (NAT slipstreaming).
    let (inv, _) = s.call(
        "slip",
        &sdp(PHONE2, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    assert!(
        text(&inv).contains(&format!("c=IN IP4 {PHONE2}")),
        "another host's address is not rewritten"
    );
    assert_eq!(
        media_flows(&gw, &victim, addr(&format!("{ROUTER_WAN}:4000"))),
        None
    );
}

#[test]
fn dscp_on_sip_and_media_in_both_directions() {
    let Some(mut lab) = Lab::new("dscp") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    enable_tos(&s.server);
    enable_tos(&s.phone);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    enable_tos(&phone_rtp);
    enable_tos(&gw);
    s.phone
        .send_to(
            &s.invite("q1", 1, None, &sdp(PHONE1, &audio(4000))),
            server_addr(),
        )
        .unwrap();
    let (_, public, tos) = recv_tos(&s.server);
    assert_eq!(tos & 0xfc, CS5, "SIP towards the provider");
    s.server
        .send_to(
            &Sip::answer("q1", 1, public, &sdp(MEDIA_GW, &audio(30000))),
            public,
        )
        .unwrap();
    let (_, _, tos) = recv_tos(&s.phone);
    assert_eq!(tos & 0xfc, CS5, "SIP towards the phone");
    gw.send_to(b"rtp", addr(&format!("{ROUTER_WAN}:4000")))
        .unwrap();
    let (_, _, tos) = recv_tos(&phone_rtp);
    assert_eq!(tos & 0xfc, EF, "RTP towards the phone");
    phone_rtp
        .send_to(b"rtp", addr(&format!("{MEDIA_GW}:30000")))
        .unwrap();
    let (_, _, tos) = recv_tos(&gw);
    assert_eq!(tos & 0xfc, EF, "RTP towards the far end");
    // The media NAT rules mark the flows they create with the media timeout (300 s):
    // the RTP flow the far end opened through the pinhole, and an RTCP flow the phone
    // opens (SNAT), not the router's 30 s UDP default.
    let phone_rtcp = lab.udp("lan1", &format!("{PHONE1}:4001"));
    let gw_rtcp = lab.udp("wan", &format!("{MEDIA_GW}:30001"));
    enable_tos(&gw_rtcp);
    phone_rtcp
        .send_to(b"rtcp", addr(&format!("{MEDIA_GW}:30001")))
        .unwrap();
    let (_, _, tos) = recv_tos(&gw_rtcp);
    assert_eq!(tos & 0xfc, EF, "RTCP towards the far end");
    for (ip, port) in [(MEDIA_GW, 30000), (PHONE1, 4001)] {
        let t = lab.flow_timeout(ip, port);
        assert!(
            (200..=300).contains(&t),
            "the media flow from {ip}:{port} has the media timeout (300 s): {t} s"
        );
    }
}

#[test]
fn alg_off_still_gives_timeouts_and_dscp_with_payloads_untouched() {
    let Some(mut lab) = Lab::new("algoff") else {
        return;
    };
    lab.exec(
        "r",
        &["sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=5"],
    );
    lab.exec(
        "r",
        &[
            "sysctl",
            "-qw",
            "net.netfilter.nf_conntrack_udp_timeout_stream=10",
        ],
    );
    start(&mut lab, "\toption alg '0'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    enable_tos(&s.server);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    enable_tos(&gw);
    let inv = s.invite("off1", 1, None, &sdp(PHONE1, &audio(4000)));
    s.phone.send_to(&inv, server_addr()).unwrap();
    let (got, public, tos) = recv_tos(&s.server);
    assert_eq!(got, inv, "alg=0 changes no byte");
    assert_eq!(tos & 0xfc, CS5);
    s.down(
        &Sip::answer("off1", 1, public, &sdp(MEDIA_GW, &audio(30000))),
        public,
    );
    phone_rtp
        .send_to(b"rtp", addr(&format!("{MEDIA_GW}:30000")))
        .unwrap();
    let (_, _, tos) = recv_tos(&gw);
    assert_eq!(tos & 0xfc, EF, "media DSCP with the ALG off");
    let t = lab.flow_timeout(PHONE1, 5060);
    assert!(
        t > 3000,
        "the SIP flow has the signalling timeout (3600 s), not the router's 10 s: {t} s"
    );
    let t = lab.flow_timeout(PHONE1, 4000);
    assert!(
        (200..=300).contains(&t),
        "the media flow has the media timeout (300 s): {t} s"
    );
}

#[test]
fn kernel_helper_is_kept_off_sip_unless_allowed() {
    let Some(mut lab) = Lab::with_kernel_helper("khelper") else {
        return;
    };
    start(&mut lab, "\toption alg '0'\n\toption kernel_helper '0'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let inv = s.invite("kh1", 1, None, &sdp(PHONE1, &audio(4000)));
    let (got, _) = s.up(&inv);
    assert_eq!(text(&got), text(&inv), "the kernel helper did not touch it");
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"kernel_helper\":{\"loaded\":true,\"attached\":false,\"guard\":true}"),
        "{st}"
    );
    assert!(st.contains("sipalg keeps it off"), "{st}");
    // `fw4 reload` (also run on interface events) rebuilds fw4's table: the guard,
    // a ruleset-post include, comes back with it, exactly once.
    lab.reload_fw4(true);
    lab.reload_fw4(true);
    let pre = lab.exec("r", &["nft", "list", "chain", "inet", "fw4", "prerouting"]);
    assert_eq!(
        pre.matches("ct mark & 0x20000000 == 0x20000000 return")
            .count(),
        1,
        "the guard rule, once in fw4's prerouting:\n{pre}"
    );
    assert!(
        pre.find("0x20000000 return") < pre.find("jump helper_lan"),
        "the guard rule comes before fw4's helper assignment:\n{pre}"
    );
    lab.exec("r", &["conntrack", "-F"]);
    let inv = s.invite("kh3", 1, None, &sdp(PHONE1, &audio(4002)));
    let (got, _) = s.up(&inv);
    assert_eq!(
        text(&got),
        text(&inv),
        "after fw4 reload the kernel helper still did not touch it"
    );
    // Without the include (fw4's auto_includes 0), Linux's helper rewrites, and the
    // status says so instead of claiming a guard.
    lab.reload_fw4(false);
    lab.exec("r", &["conntrack", "-F"]);
    let (got, _) = s.up(&s.invite("kh4", 1, None, &sdp(PHONE1, &audio(4004))));
    assert!(
        text(&got).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "without the guard Linux's helper rewrites: {}",
        text(&got)
    );
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"kernel_helper\":{\"loaded\":true,\"attached\":true,\"guard\":false}"),
        "{st}"
    );
    assert!(
        st.contains("guard is not in fw4's prerouting chain"),
        "{st}"
    );
    lab.reload_fw4(true);
    lab.kill_daemon();

    // With kernel_helper=1 sipalg leaves fw4's helper alone: Linux's helper rewrites.
    let mut lab = lab;
    lab.exec("r", &["conntrack", "-F"]);
    start(&mut lab, "\toption alg '0'\n\toption kernel_helper '1'");
    let (got, _) = s.up(&s.invite("kh2", 1, None, &sdp(PHONE1, &audio(4000))));
    assert!(
        text(&got).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "Linux's helper rewrote the SDP: {}",
        text(&got)
    );
    let st = lab.status_json().unwrap();
    assert!(st.contains("\"attached\":true"), "{st}");
}

#[test]
fn status_counts_media_per_direction_and_flags_one_way_audio() {
    let Some(mut lab) = Lab::new("oneway") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    s.register(600);
    let two = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let one = lab.udp("lan1", &format!("{PHONE1}:4010"));
    let gw_two = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    let gw_one = lab.udp("wan", &format!("{MEDIA_GW}:30010"));
    s.call(
        "two-way",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    s.call(
        "one-way",
        &sdp(PHONE1, &audio(4010)),
        &sdp(MEDIA_GW, &audio(30010)),
    );
    for _ in 0..20 {
        two.send_to(b"rtp", addr(&format!("{MEDIA_GW}:30000")))
            .unwrap();
        gw_two
            .send_to(b"rtp", addr(&format!("{ROUTER_WAN}:4000")))
            .unwrap();
        one.send_to(b"rtp", addr(&format!("{MEDIA_GW}:30010")))
            .unwrap();
    }
    for _ in 0..20 {
        recv(&gw_two);
        recv(&two);
        recv(&gw_one);
    }
    let st = lab.wait_status(Duration::from_secs(15), "one-way flagged", |s| {
        s.contains("\"call_id\":\"one-way\"")
            && s.split("\"call_id\":\"one-way\"")
                .nth(1)
                .is_some_and(|c| c.contains("\"one_way\":true"))
    });
    let one_way = st
        .split("\"call_id\":\"one-way\"")
        .nth(1)
        .unwrap()
        .split("\"call_id\"")
        .next()
        .unwrap();
    assert!(
        one_way.contains("\"packets_out\":20,\"packets_in\":0,\"one_way\":true"),
        "{one_way}"
    );
    let two_way = st
        .split("\"call_id\":\"two-way\"")
        .nth(1)
        .unwrap()
        .split("\"call_id\"")
        .next()
        .unwrap();
    assert!(
        two_way.contains("\"packets_out\":20,\"packets_in\":20,\"one_way\":false"),
        "{two_way}"
    );
    let _ = std::fs::create_dir_all("target/test-out");
    let _ = std::fs::write("target/test-out/status-lab.json", &st);
}

/// Issue #14: a NAT-aware phone (STUN: it writes the router's public address and its
/// mapped port into Via, Contact, From and SDP itself) through `alg=1`. It registers,
/// calls out and is called; every message reaches the far end as the phone sent it, and
/// every message reaches the phone as the far end sent it (the ALG restores only what it
/// rewrote, and it rewrote nothing of this phone's).
#[test]
fn a_nat_aware_phone_registers_calls_and_is_called_byte_for_byte() {
    let Some(mut lab) = Lab::new("stun") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    // What STUN told the phone: its signalling port is kept on the WAN.
    let me = format!("{ROUTER_WAN}:5060");
    let public = addr(&me);
    let same_up = |msg: Vec<u8>| {
        let (got, from) = s.up(&msg);
        assert_eq!(text(&got), text(&msg), "phone -> far end changed");
        assert_eq!(from, public, "the mapping STUN found");
    };
    let same_down = |msg: Vec<u8>| {
        let got = s.down(&msg, public);
        assert_eq!(text(&got), text(&msg), "far end -> phone changed");
    };

    // Registers.
    same_up(sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-reg;rport\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>\nCall-ID: st-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{me}>\nExpires: 600\n"), ""));
    same_down(sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-reg;rport=5060;received={ROUTER_WAN}\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>;tag=reg\nCall-ID: st-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{me}>;expires=600\n"), ""));

    // Calls out: INVITE, 100, 180, 200 (with the far end's SDP), ACK, BYE and its 200.
    let dialog = format!("From: <sip:100@{ROUTER_WAN}>;tag=st1\nTo: <sip:bob@{SERVER}>");
    same_up(sip_sdp(
        &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-inv;rport\n{dialog}\nCall-ID: st-out\nCSeq: 1 INVITE\nContact: <sip:100@{me}>\n"),
        &sdp(ROUTER_WAN, &audio(4000)),
    ));
    let via_back =
        format!("Via: SIP/2.0/UDP {me};branch=z9hG4bK-st-inv;rport=5060;received={ROUTER_WAN}");
    same_down(sip(
        &format!("SIP/2.0 100 Trying\n{via_back}\n{dialog}\nCall-ID: st-out\nCSeq: 1 INVITE\n"),
        "",
    ));
    same_down(sip(&format!("SIP/2.0 180 Ringing\n{via_back}\n{dialog};tag=b\nCall-ID: st-out\nCSeq: 1 INVITE\nContact: <sip:bob@{SERVER}:5060>\n"), ""));
    same_down(sip_sdp(
        &format!("SIP/2.0 200 OK\n{via_back}\n{dialog};tag=b\nCall-ID: st-out\nCSeq: 1 INVITE\nContact: <sip:bob@{SERVER}:5060>\n"),
        &sdp(MEDIA_GW, &audio(30000)),
    ));
    same_up(sip(&format!("ACK sip:bob@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-ack;rport\n{dialog};tag=b\nCall-ID: st-out\nCSeq: 1 ACK\n"), ""));
    same_down(sip(&format!("BYE sip:100@{me} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-st-bye\nFrom: <sip:bob@{SERVER}>;tag=b\nTo: <sip:100@{ROUTER_WAN}>;tag=st1\nCall-ID: st-out\nCSeq: 2 BYE\n"), ""));
    same_up(sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-st-bye\nFrom: <sip:bob@{SERVER}>;tag=b\nTo: <sip:100@{ROUTER_WAN}>;tag=st1\nCall-ID: st-out\nCSeq: 2 BYE\n"), ""));

    // Is called at the contact it registered: INVITE, its 180/200 (the phone's public
    // SDP), ACK, and the phone hangs up.
    let dialog = format!("From: <sip:caller@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>");
    let via_in = format!("Via: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-st-in");
    same_down(sip_sdp(
        &format!("INVITE sip:100@{me} SIP/2.0\n{via_in}\n{dialog}\nCall-ID: st-in\nCSeq: 1 INVITE\nContact: <sip:caller@{SERVER}:5060>\n"),
        &sdp(MEDIA_GW, &audio(31000)),
    ));
    same_up(sip(&format!("SIP/2.0 180 Ringing\n{via_in}\n{dialog};tag=p\nCall-ID: st-in\nCSeq: 1 INVITE\nContact: <sip:100@{me}>\n"), ""));
    same_up(sip_sdp(
        &format!("SIP/2.0 200 OK\n{via_in}\n{dialog};tag=p\nCall-ID: st-in\nCSeq: 1 INVITE\nContact: <sip:100@{me}>\n"),
        &sdp(ROUTER_WAN, &audio(4002)),
    ));
    same_down(sip(&format!("ACK sip:100@{me} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-st-inack\n{dialog};tag=p\nCall-ID: st-in\nCSeq: 1 ACK\n"), ""));
    same_up(sip(&format!("BYE sip:caller@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-inbye;rport\nFrom: <sip:100@{SERVER}>;tag=p\nTo: <sip:caller@{SERVER}>;tag=c\nCall-ID: st-in\nCSeq: 2 BYE\n"), ""));
    same_down(sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-st-inbye;rport=5060;received={ROUTER_WAN}\nFrom: <sip:100@{SERVER}>;tag=p\nTo: <sip:caller@{SERVER}>;tag=c\nCall-ID: st-in\nCSeq: 2 BYE\n"), ""));

    let st = lab.status_json().unwrap();
    assert!(st.contains("\"rewritten\":0"), "{st}");
    // 100/180/200 of the INVITE, the REGISTER's 200, the BYEs' 200 and the far end's
    // requests to the contact it wrote: all carried the public address, left as sent.
    assert!(st.contains("\"not_restored\":8"), "{st}");
    let log = lab.log();
    assert!(
        log.contains(
            "Via not restored: transaction z9hG4bK-st-inv (INVITE) was not rewritten by the ALG"
        ),
        "{log}"
    );
    assert!(
        log.contains("Request-URI not restored: the phone's Contact was not rewritten by the ALG"),
        "{log}"
    );
}

#[test]
fn firewall_stop_and_start_deleting_every_table_is_followed_by_a_reinstall() {
    let Some(mut lab) = Lab::new("fwflush") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    s.call(
        "flush1",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    let public_rtp = addr(&format!("{ROUTER_WAN}:4000"));
    assert!(media_flows(&gw, &phone_rtp, public_rtp).is_some());
    // `/etc/init.d/firewall stop` runs `fw4 flush`, which deletes every table (ours
    // too: openwrt/firewall4 root/sbin/fw4, flush()); `start` brings back fw4's alone.
    lab.exec("r", &["nft", "flush", "ruleset"]);
    lab.reload_fw4(true);
    let back = std::time::Instant::now();
    while lab
        .try_exec("r", &["nft", "list", "table", "inet", "sipalg"])
        .status
        .code()
        != Some(0)
    {
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "table inet sipalg not reinstalled: {}",
            lab.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(lab.log().contains("installing it again"), "{}", lab.log());
    // The call in progress has its pinhole again, and new messages are rewritten.
    assert_eq!(
        media_flows(&gw, &phone_rtp, public_rtp),
        Some(addr(&format!("{MEDIA_GW}:30000")))
    );
    let (inv, _) = s.call(
        "flush2",
        &sdp(PHONE1, &audio(4002)),
        &sdp(MEDIA_GW, &audio(30002)),
    );
    assert!(
        text(&inv).contains(&format!("c=IN IP4 {ROUTER_WAN}")),
        "{}\n{}\n{}",
        text(&inv),
        lab.log(),
        String::from_utf8_lossy(&lab.try_exec("r", &["nft", "list", "ruleset"]).stdout)
    );
}

/// Issue #20: a phone that writes its Via sent-by and Contact without a port (OmniPCX,
/// AudioCodes, FreeSWITCH), behind the router on a public port other than 5060 (a
/// second phone holds 5060). It registers, is called and calls out; every message
/// reaches the phone with exactly the bytes it wrote where the ALG had rewritten them
/// (no `:5060` added: RFC 3261 §18.1.2 compares the sent-by as written), and every
/// other byte as the server sent it.
#[test]
fn a_port_less_via_and_contact_come_back_as_the_phone_wrote_them() {
    let Some(mut lab) = Lab::new("portless") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let s = Sip::new(&lab, "lan1", PHONE1);
    // Another phone takes public port 5060 first.
    let other = Sip {
        phone: lab.udp("lan2", &format!("{PHONE2}:5060")),
        phone_ip: PHONE2,
        server: s.server.try_clone().unwrap(),
    };
    assert_eq!(other.register(600).port(), 5060);
    let me = PHONE1;

    // Registers: port-less Via and Contact.
    let reg = |via: &str, contact: &str| {
        sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-pl-reg;rport\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>\nCall-ID: pl-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{contact}>\nExpires: 600\n"), "")
    };
    let (got, public) = s.up(&reg(me, me));
    assert_ne!(
        public.port(),
        5060,
        "the case at hand: a public port that is not 5060"
    );
    let pub_ = public.to_string();
    assert_eq!(
        text(&got),
        text(&reg(&pub_, &pub_)),
        "the ALG writes the mapping"
    );
    let reg_ok = |via: &str, rport: u16, received: &str, contact: &str| {
        sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-pl-reg;rport={rport};received={received}\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>;tag=reg\nCall-ID: pl-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{contact}>;expires=600\n"), "")
    };
    let got = s.down(&reg_ok(&pub_, public.port(), ROUTER_WAN, &pub_), public);
    assert_eq!(text(&got), text(&reg_ok(me, 5060, me, me)));

    // Is called at the contact it registered: the Request-URI comes back as registered.
    let dialog = format!("From: <sip:caller@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>");
    let invite = |ruri: &str| {
        sip_sdp(
            &format!("INVITE sip:100@{ruri} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-pl-in\n{dialog}\nCall-ID: pl-in\nCSeq: 1 INVITE\nContact: <sip:caller@{SERVER}:5060>\n"),
            &sdp(MEDIA_GW, &audio(31000)),
        )
    };
    assert_eq!(text(&s.down(&invite(&pub_), public)), text(&invite(me)));
    let answer = |contact: &str, media: &str| {
        sip_sdp(
            &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-pl-in\n{dialog};tag=p\nCall-ID: pl-in\nCSeq: 1 INVITE\nContact: <sip:100@{contact}>\n"),
            &sdp(media, &audio(4002)),
        )
    };
    let (got, _) = s.up(&answer(me, me));
    assert_eq!(text(&got), text(&answer(&pub_, ROUTER_WAN)));
    let in_dialog = |method: &str, ruri: &str, cseq: u32| {
        sip(&format!("{method} sip:100@{ruri} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-pl-{method}\n{dialog};tag=p\nCall-ID: pl-in\nCSeq: {cseq} {method}\n"), "")
    };
    for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
        let got = s.down(&in_dialog(method, &pub_, cseq), public);
        assert_eq!(text(&got), text(&in_dialog(method, me, cseq)), "{method}");
    }

    // Calls out: the INVITE's responses bring back the Via the phone wrote.
    let out_dialog = format!("From: <sip:100@{SERVER}>;tag=o\nTo: <sip:bob@{SERVER}>");
    let call = |via: &str, contact: &str, media: &str| {
        sip_sdp(
            &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-pl-out;rport\n{out_dialog}\nCall-ID: pl-out\nCSeq: 1 INVITE\nContact: <sip:100@{contact}>\n"),
            &sdp(media, &audio(4004)),
        )
    };
    let (got, from) = s.up(&call(me, me, me));
    assert_eq!(from, public);
    assert_eq!(text(&got), text(&call(&pub_, &pub_, ROUTER_WAN)));
    let response = |status: &str, via: &str, rport: u16, received: &str| {
        let head = format!("SIP/2.0 {status}\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-pl-out;rport={rport};received={received}\n{out_dialog};tag=b\nCall-ID: pl-out\nCSeq: 1 INVITE\nContact: <sip:bob@{SERVER}:5060>\n");
        if status.starts_with("200") {
            sip_sdp(&head, &sdp(MEDIA_GW, &audio(30004)))
        } else {
            sip(&head, "")
        }
    };
    for status in ["100 Trying", "180 Ringing", "200 OK"] {
        let got = s.down(&response(status, &pub_, public.port(), ROUTER_WAN), public);
        assert_eq!(
            text(&got),
            text(&response(status, me, 5060, me)),
            "{status}"
        );
    }
    let st = lab.status_json().unwrap();
    assert!(
        st.contains("\"call_id\":\"pl-out\",\"state\":\"confirmed\",\"direction\":\"outbound\""),
        "{st}"
    );
}
