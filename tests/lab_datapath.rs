//! The datapath, end to end, in the namespace lab: real kernel NAT (fw4-shaped firewall
//! with masquerade), sipalgd on NFQUEUE in the router, SIP sent from LAN phones and
//! checked byte for byte on the WAN side (and back). Needs root; see tests/common/lab.rs.

#[path = "common/lab.rs"]
mod lab;
#[path = "common/sipmsg.rs"]
mod sipmsg;

use lab::{recv, text, Lab, PHONE1, PHONE2, ROUTER_WAN, SERVER};
use sipalg::engine::{plan, Direction, KeepPorts, Nat};
use sipmsg::sip;
use std::net::SocketAddr;
use std::time::Duration;

fn invite(from_ip: &str, from_port: u16, call: &str) -> Vec<u8> {
    sip(
        &format!(
            "INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {from_ip}:{from_port};branch=z9hG4bK-{call};rport\nMax-Forwards: 70\nFrom: <sip:alice@{from_ip}>;tag={call}\nTo: <sip:bob@{SERVER}>\nCall-ID: {call}@lab\nCSeq: 1 INVITE\nContact: <sip:alice@{from_ip}:{from_port}>\nContent-Type: application/sdp\n"
        ),
        &format!("v=0\no=alice 1 1 IN IP4 {from_ip}\ns=-\nc=IN IP4 {from_ip}\nt=0 0\nm=audio 4000 RTP/AVP 0 8\na=rtpmap:0 PCMU/8000\n"),
    )
}

fn expected(msg: &[u8], dir: Direction, private: &str, public: &str) -> Vec<u8> {
    let nat = Nat {
        private: private.parse().unwrap(),
        public: public.parse().unwrap(),
    };
    plan(msg, dir, &nat, &mut KeepPorts).unwrap().output()
}

/// Phone 1's SIP socket, the SIP server's, and the server's address.
fn phone_and_server(lab: &Lab) -> (std::net::UdpSocket, std::net::UdpSocket, SocketAddr) {
    let phone = lab.udp("lan1", &format!("{PHONE1}:5060"));
    let server = lab.udp("wan", &format!("{SERVER}:5060"));
    (phone, server, format!("{SERVER}:5060").parse().unwrap())
}

fn alg_on(lab: &mut Lab) {
    lab.write_config("\toption alg '1'\n\toption log_level 'debug'");
    lab.start_daemon();
}

#[test]
fn outbound_invite_200_ack_are_rewritten_byte_exactly_and_responses_restored() {
    let Some(mut lab) = Lab::new("invite") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, srv) = phone_and_server(&lab);

    let inv = invite(PHONE1, 5060, "c1");
    phone.send_to(&inv, srv).unwrap();
    let (got, from) = recv(&server);
    assert_eq!(
        from.to_string(),
        format!("{ROUTER_WAN}:5060"),
        "the phone keeps its port on the WAN"
    );
    let want = sip(
        &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {ROUTER_WAN}:5060;branch=z9hG4bK-c1;rport\nMax-Forwards: 70\nFrom: <sip:alice@{PHONE1}>;tag=c1\nTo: <sip:bob@{SERVER}>\nCall-ID: c1@lab\nCSeq: 1 INVITE\nContact: <sip:alice@{ROUTER_WAN}:5060>\nContent-Type: application/sdp\n"),
        &format!("v=0\no=alice 1 1 IN IP4 {ROUTER_WAN}\ns=-\nc=IN IP4 {ROUTER_WAN}\nt=0 0\nm=audio 4000 RTP/AVP 0 8\na=rtpmap:0 PCMU/8000\n"),
    );
    assert_eq!(text(&got), text(&want));

    // 200 OK back to the public mapping: Via received/rport and the phone's own Contact
    // are restored; the server's addresses stay.
    let ok = sip(
        &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {ROUTER_WAN}:5060;branch=z9hG4bK-c1;rport=5060;received={ROUTER_WAN}\nFrom: <sip:alice@{PHONE1}>;tag=c1\nTo: <sip:bob@{SERVER}>;tag=s1\nCall-ID: c1@lab\nCSeq: 1 INVITE\nContact: <sip:bob@{SERVER}:5060>\nContent-Type: application/sdp\n"),
        &format!("v=0\no=bob 2 2 IN IP4 {SERVER}\ns=-\nc=IN IP4 {SERVER}\nt=0 0\nm=audio 30000 RTP/AVP 0\n"),
    );
    server.send_to(&ok, from).unwrap();
    let (back, _) = recv(&phone);
    let want_back = String::from_utf8(ok.clone()).unwrap().replace(
        &format!(
            "Via: SIP/2.0/UDP {ROUTER_WAN}:5060;branch=z9hG4bK-c1;rport=5060;received={ROUTER_WAN}"
        ),
        &format!("Via: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-c1;rport=5060;received={PHONE1}"),
    );
    assert_eq!(text(&back), want_back);

    let ack = sip(
        &format!("ACK sip:bob@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-c1a\nFrom: <sip:alice@{PHONE1}>;tag=c1\nTo: <sip:bob@{SERVER}>;tag=s1\nCall-ID: c1@lab\nCSeq: 1 ACK\nContact: <sip:alice@{PHONE1}:5060>\n"),
        "",
    );
    phone.send_to(&ack, srv).unwrap();
    let (got, _) = recv(&server);
    assert_eq!(
        got,
        expected(
            &ack,
            Direction::Outbound,
            &format!("{PHONE1}:5060"),
            &format!("{ROUTER_WAN}:5060")
        )
    );
    assert!(text(&got).contains(&format!(
        "Via: SIP/2.0/UDP {ROUTER_WAN}:5060;branch=z9hG4bK-c1a"
    )));

    // An in-dialog BYE from the far end to the phone's public contact is restored.
    let bye = sip(
        &format!("BYE sip:alice@{ROUTER_WAN}:5060 SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-b1\nFrom: <sip:bob@{SERVER}>;tag=s1\nTo: <sip:alice@{PHONE1}>;tag=c1\nCall-ID: c1@lab\nCSeq: 2 BYE\n"),
        "",
    );
    server.send_to(&bye, from).unwrap();
    let (got, _) = recv(&phone);
    assert!(
        text(&got).starts_with(&format!("BYE sip:alice@{PHONE1}:5060 SIP/2.0\r\n")),
        "{}",
        text(&got)
    );

    let st = lab.status_json().unwrap();
    assert!(st.contains("\"rewritten\":4"), "{st}");
    assert!(
        st.contains(&format!(
            "\"private\":\"{PHONE1}:5060\",\"public\":\"{ROUTER_WAN}:5060\""
        )),
        "{st}"
    );
}

#[test]
fn nat_aware_phone_and_compact_headers() {
    let Some(mut lab) = Lab::new("aware") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, srv) = phone_and_server(&lab);

    // A STUN-aware phone already writes its public address: byte-identical on the WAN.
    let aware = String::from_utf8(invite(PHONE1, 5060, "c2"))
        .unwrap()
        .replace(&format!("{PHONE1}:5060"), &format!("{ROUTER_WAN}:5060"))
        .replace(&format!("IN IP4 {PHONE1}"), &format!("IN IP4 {ROUTER_WAN}"));
    phone.send_to(aware.as_bytes(), srv).unwrap();
    let (got, _) = recv(&server);
    assert_eq!(text(&got), aware);

    // Compact header names and folding.
    let compact = sip(
        &format!("REGISTER sip:{SERVER} SIP/2.0\nv: SIP/2.0/UDP\n {PHONE1}:5060;branch=z9hG4bK-r1\nf: <sip:100@{SERVER}>;tag=r1\nt: <sip:100@{SERVER}>\ni: r1@lab\nCSeq: 1 REGISTER\nm: <sip:100@{PHONE1}:5060>;expires=120\n"),
        "",
    );
    phone.send_to(&compact, srv).unwrap();
    let (got, _) = recv(&server);
    let want = String::from_utf8(compact.clone())
        .unwrap()
        .replace(
            &format!(" {PHONE1}:5060;branch"),
            &format!(" {ROUTER_WAN}:5060;branch"),
        )
        .replace(
            &format!("m: <sip:100@{PHONE1}:5060>"),
            &format!("m: <sip:100@{ROUTER_WAN}:5060>"),
        );
    assert_eq!(text(&got), want);
}

#[test]
fn two_phones_on_the_same_port_get_distinct_public_ports() {
    let Some(mut lab) = Lab::new("twophones") else {
        return;
    };
    alg_on(&mut lab);
    let p1 = lab.udp("lan1", &format!("{PHONE1}:5060"));
    let p2 = lab.udp("lan2", &format!("{PHONE2}:5060"));
    let server = lab.udp("wan", &format!("{SERVER}:5060"));
    let srv: SocketAddr = format!("{SERVER}:5060").parse().unwrap();
    let reg = |ip: &str, n: &str| {
        sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{n};rport\nFrom: <sip:{n}@{SERVER}>;tag={n}\nTo: <sip:{n}@{SERVER}>\nCall-ID: {n}@lab\nCSeq: 1 REGISTER\nContact: <sip:{n}@{ip}:5060>\nExpires: 300\n"), "")
    };
    p1.send_to(&reg(PHONE1, "p1"), srv).unwrap();
    let (g1, f1) = recv(&server);
    p2.send_to(&reg(PHONE2, "p2"), srv).unwrap();
    let (g2, f2) = recv(&server);
    assert_ne!(
        f1.port(),
        f2.port(),
        "both phones cannot share one public port"
    );
    for (g, f, ip, n) in [(&g1, f1, PHONE1, "p1"), (&g2, f2, PHONE2, "p2")] {
        let public = format!("{ROUTER_WAN}:{}", f.port());
        assert_eq!(
            text(g),
            text(&expected(
                &reg(ip, n),
                Direction::Outbound,
                &format!("{ip}:5060"),
                &public
            ))
        );
        assert!(
            text(g).contains(&format!("Contact: <sip:{n}@{public}>")),
            "{}",
            text(g)
        );
        // Each 200 goes back to its own phone, restored.
        let ok = sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {public};branch=z9hG4bK-{n};rport={};received={ROUTER_WAN}\nCall-ID: {n}@lab\nCSeq: 1 REGISTER\nContact: <sip:{n}@{public}>;expires=300\n", f.port()), "");
        server.send_to(&ok, f).unwrap();
    }
    let (b1, _) = recv(&p1);
    let (b2, _) = recv(&p2);
    assert!(
        text(&b1).contains(&format!("Contact: <sip:p1@{PHONE1}:5060>;expires=300")),
        "{}",
        text(&b1)
    );
    assert!(
        text(&b2).contains(&format!("Contact: <sip:p2@{PHONE2}:5060>;expires=300")),
        "{}",
        text(&b2)
    );
    assert!(
        text(&b2).contains(&format!("received={PHONE2}")),
        "{}",
        text(&b2)
    );
}

#[test]
fn an_invite_larger_than_the_mtu_is_rewritten_whole() {
    let Some(mut lab) = Lab::new("bigmsg") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, _) = phone_and_server(&lab);
    let mut body = format!(
        "v=0\no=alice 1 1 IN IP4 {PHONE1}\ns=-\nc=IN IP4 {PHONE1}\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
    );
    for i in 0..120 {
        body.push_str(&format!("a=x-padding-{i}:{}\n", "z".repeat(20)));
    }
    body.push_str("m=video 4002 RTP/AVP 96\n");
    let big = sip(&format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-big\nCall-ID: big@lab\nCSeq: 1 INVITE\nContact: <sip:alice@{PHONE1}:5060>\nContent-Type: application/sdp\n"), &body);
    assert!(big.len() > 3000, "{}", big.len());
    phone
        .send_to(
            &big,
            format!("{SERVER}:5060").parse::<SocketAddr>().unwrap(),
        )
        .unwrap();
    let (got, _) = recv(&server);
    assert_eq!(
        got,
        expected(
            &big,
            Direction::Outbound,
            &format!("{PHONE1}:5060"),
            &format!("{ROUTER_WAN}:5060")
        )
    );
}

#[test]
fn garbage_truncated_and_oversize_datagrams_all_pass_and_the_daemon_lives() {
    let Some(mut lab) = Lab::new("garbage") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, srv) = phone_and_server(&lab);
    let inv = invite(PHONE1, 5060, "g1");
    let mut sent: Vec<Vec<u8>> = vec![
        b"\r\n\r\n".to_vec(),
        vec![0u8; 1],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        inv[..40].to_vec(),
        inv[..inv.len() - 30].to_vec(),
        vec![0xff; 9000],
        b"INVITE sip:a SIP/2.0\r\nno colon here\r\n\r\n".to_vec(),
    ];
    let mut seed: u32 = 12345;
    for len in [3usize, 64, 500, 1400, 1500, 4000] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        sent.push(junk);
    }
    for m in &sent {
        phone.send_to(m, srv).unwrap();
    }
    let mut arrived = Vec::new();
    for _ in 0..sent.len() {
        arrived.push(recv(&server).0);
    }
    // Nothing dropped. Unparsable ones pass unchanged; the truncated INVITE frames as SIP
    // and only its headers may be mapped.
    for m in &sent {
        let ok = arrived.iter().any(|a| a == m || a == &expected_or_same(m));
        assert!(ok, "datagram of {} bytes did not arrive intact", m.len());
    }
    let st = lab.status_json().expect("daemon still answers");
    assert!(st.contains("\"seen\":13"), "{st}");
    let unparsable: u64 = st
        .split("\"unparsable\":")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(unparsable >= 10, "{st}");
}

fn expected_or_same(m: &[u8]) -> Vec<u8> {
    let nat = Nat {
        private: format!("{PHONE1}:5060").parse().unwrap(),
        public: format!("{ROUTER_WAN}:5060").parse().unwrap(),
    };
    plan(m, Direction::Outbound, &nat, &mut KeepPorts)
        .map(|p| p.output())
        .unwrap_or_else(|_| m.to_vec())
}

#[test]
fn alg_switch_follows_sighup_and_a_bad_reload_keeps_the_old_config() {
    let Some(mut lab) = Lab::new("sighup") else {
        return;
    };
    lab.write_config("\toption alg '0'");
    lab.start_daemon();
    let (phone, server, srv) = phone_and_server(&lab);
    let inv = invite(PHONE1, 5060, "h1");
    phone.send_to(&inv, srv).unwrap();
    assert_eq!(recv(&server).0, inv, "alg=0 changes no byte");

    lab.write_config("\toption alg '1'");
    lab.signal("HUP");
    lab.wait_status(Duration::from_secs(5), "alg on", |s| {
        s.contains("\"alg\":true")
    });
    phone.send_to(&inv, srv).unwrap();
    let (got, from) = recv(&server);
    assert_eq!(
        got,
        expected(
            &inv,
            Direction::Outbound,
            &format!("{PHONE1}:5060"),
            &format!("{ROUTER_WAN}:{}", from.port())
        )
    );
    assert_ne!(got, inv);

    std::fs::write(
        lab.config_path(),
        "config sipalg 'main'\n\toption alg 'maybe'\n",
    )
    .unwrap();
    lab.signal("HUP");
    let refused = std::time::Instant::now();
    while !lab.log().contains("reload refused") {
        assert!(refused.elapsed() < Duration::from_secs(30), "{}", lab.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = lab.status_json().expect("daemon survives a bad reload");
    assert!(st.contains("\"alg\":true"), "{st}");
    phone.send_to(&inv, srv).unwrap();
    assert_ne!(recv(&server).0, inv, "still rewriting with the old config");
}

#[test]
fn sigkill_leaves_sip_flowing_and_a_restart_rewrites_again_sigterm_cleans_up() {
    let Some(mut lab) = Lab::new("sigkill") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, srv) = phone_and_server(&lab);
    let inv = invite(PHONE1, 5060, "k1");
    phone.send_to(&inv, srv).unwrap();
    assert_ne!(recv(&server).0, inv);

    lab.kill_daemon();
    // Nobody listens on the queue: bypass lets SIP through, unmodified.
    for _ in 0..3 {
        phone.send_to(&inv, srv).unwrap();
        assert_eq!(
            recv(&server).0,
            inv,
            "SIP must flow while the daemon is dead"
        );
    }

    lab.start_daemon();
    phone.send_to(&inv, srv).unwrap();
    let (got, from) = recv(&server);
    assert_eq!(from.to_string(), format!("{ROUTER_WAN}:5060"));
    assert_eq!(
        got,
        expected(
            &inv,
            Direction::Outbound,
            &format!("{PHONE1}:5060"),
            &format!("{ROUTER_WAN}:5060")
        ),
        "rewriting again after restart"
    );

    lab.signal("TERM");
    assert_eq!(
        lab.wait_daemon(Duration::from_secs(5)),
        Some(0),
        "SIGTERM exits 0"
    );
    let tables = lab.exec("r", &["nft", "list", "tables"]);
    assert!(
        !tables.contains("sipalg"),
        "table inet sipalg removed: {tables}"
    );
    let mangle = lab.exec("r", &["iptables", "-t", "mangle", "-S"]);
    assert!(!mangle.contains("SIPALG"), "queue rules removed: {mangle}");
    phone.send_to(&inv, srv).unwrap();
    assert_eq!(recv(&server).0, inv, "SIP flows after a clean stop");
}

#[test]
fn status_reports_backend_wan_and_counters() {
    let Some(mut lab) = Lab::new("status") else {
        return;
    };
    alg_on(&mut lab);
    let st = lab.status_json().unwrap();
    for needle in [
        "\"running\":true",
        "\"alg\":true",
        "\"wan\":{\"device\":\"wan\",\"address\":\"198.51.100.1\"",
        "\"counters\":{\"seen\":0",
    ] {
        assert!(st.contains(needle), "{needle} not in {st}");
    }
    let backend = if st.contains("\"queue_backend\":\"nft\"") {
        "nft"
    } else {
        "iptables-nft"
    };
    assert!(st.contains(&format!("\"queue_backend\":\"{backend}\"")));
    // On kernels without nft_queue (like the CI machines) the fallback is used and said so.
    if !std::path::Path::new("/sys/module/nft_queue").exists() {
        assert_eq!(backend, "iptables-nft");
        assert!(lab.log().contains("no nft queue support"), "{}", lab.log());
    }
    let text_status = std::process::Command::new(lab::bin())
        .args(["status", "--socket"])
        .arg(lab.socket())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text_status.stdout).contains("ALG:            on"));
    lab.stop();
    let down = std::process::Command::new(lab::bin())
        .args(["status", "--json", "--socket"])
        .arg(lab.socket())
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stdout).contains("\"running\":false"));
}

#[test]
fn a_real_sipp_call_goes_through_the_router() {
    let Some(mut lab) = Lab::new("sipp") else {
        return;
    };
    alg_on(&mut lab);
    lab.sipp_call(&[]);
    let st = lab.status_json().unwrap();
    let rewritten: u64 = st
        .split("\"rewritten\":")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rewritten >= 5,
        "INVITE, 180, 200, ACK, BYE, 200 pass through the ALG: {st}"
    );
}

#[test]
fn syslog_keeps_working_across_a_log_daemon_restart() {
    let Some(mut lab) = Lab::new("syslog") else {
        return;
    };
    lab.write_config("\toption alg '0'");
    let path = lab.dir.join("log.sock");
    // logd makes /dev/log writable for every user (openwrt/ubox log/syslog.c:
    // `chmod(log_dev, 0666)`): sipalgd logs as its own user.
    let bind_log = |path: &std::path::Path| {
        let s = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
        // A reload takes a moment (nft runs); under emulation several seconds.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    };
    let logd = bind_log(&path);
    lab.start_daemon_logging_to(&path);
    let read = |s: &std::os::unix::net::UnixDatagram, want: &str| {
        let mut buf = [0u8; 2048];
        loop {
            let n = s
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no syslog record with {want:?}: {e}"));
            let rec = text(&buf[..n]);
            if rec.contains(want) {
                assert!(
                    rec.starts_with("<30>"),
                    "facility daemon, level info: {rec}"
                );
                assert!(rec.contains("sipalgd["), "{rec}");
                return;
            }
        }
    };
    read(&logd, "started");
    // The log daemon restarts: its socket is recreated at the same path.
    drop(logd);
    std::fs::remove_file(&path).unwrap();
    let logd = bind_log(&path);
    lab.write_config("\toption alg '1'");
    lab.signal("HUP");
    read(&logd, "reloaded");
}

#[test]
fn a_new_wan_address_is_followed_without_restart() {
    let Some(mut lab) = Lab::new("wanchange") else {
        return;
    };
    alg_on(&mut lab);
    let (phone, server, srv) = phone_and_server(&lab);
    // The ISP hands out a new address (DHCP, PPPoE reconnect).
    lab.exec("r", &["ip", "addr", "flush", "dev", "wan"]);
    lab.exec("r", &["ip", "addr", "add", "198.51.100.2/24", "dev", "wan"]);
    lab.exec(
        "r",
        &[
            "ip",
            "route",
            "replace",
            "default",
            "via",
            "198.51.100.254",
            "dev",
            "wan",
            "onlink",
        ],
    );
    lab.exec("r", &["conntrack", "-F"]);
    lab.wait_status(Duration::from_secs(10), "the new WAN address", |s| {
        s.contains("\"address\":\"198.51.100.2\"")
    });
    let inv = invite(PHONE1, 5060, "w1");
    phone.send_to(&inv, srv).unwrap();
    let (got, from) = recv(&server);
    assert_eq!(from.to_string(), "198.51.100.2:5060");
    assert!(
        text(&got).contains("Via: SIP/2.0/UDP 198.51.100.2:5060;"),
        "{}",
        text(&got)
    );
    assert!(lab.log().contains("WAN changed"), "{}", lab.log());
}
