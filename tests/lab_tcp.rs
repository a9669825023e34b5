//! SIP over TCP through the router's relay, in the namespace lab: an INVITE rewritten
//! with the right Content-Length and its 200 OK restored, ACK and BYE on the same
//! connection, a message split over three segments, two messages in one segment, a
//! TCP registration that idles past the router's (shortened) TCP timeouts and then
//! receives an inbound INVITE with media both ways, a real `sipp -t t1` call, the
//! daemon killed mid-call (new connections still work, unmodified), 1,000 messages on
//! one connection, a flood of silent connections that does not stop UDP SIP, a
//! phone writing Via and Contact without a port getting exactly those bytes back, and
//! a router where the relay's policy route cannot be added (nothing diverted).

#[path = "common/lab.rs"]
mod lab;
#[path = "common/phone.rs"]
mod phone;
#[path = "common/sipmsg.rs"]
mod sipmsg;

use lab::{arrives, in_netns, Lab, MEDIA_GW, PHONE1, PHONE2, ROUTER_WAN, SERVER};
use sipalg::wire::sip_stream::{frame, Frame};
use sipmsg::{audio, sdp, sip, sip_sdp, text};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn start(lab: &mut Lab, options: &str) {
    lab.write_config(&format!("\toption log_level 'debug'\n{options}"));
    lab.start_daemon();
}

fn listen(lab: &Lab, host: &str, addr: &str) -> TcpListener {
    let addr: SocketAddr = addr.parse().unwrap();
    in_netns(&lab.ns(host), move || {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(false)?;
        Ok(l)
    })
    .unwrap_or_else(|e| panic!("listen on {addr} in {host}: {e}"))
}

fn connect(lab: &Lab, host: &str, from: &str, to: &str) -> TcpStream {
    let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
    let s = in_netns(&lab.ns(host), move || {
        let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(sock >= 0);
        let s: TcpStream = unsafe { std::os::fd::FromRawFd::from_raw_fd(sock) };
        let one: libc::c_int = 1;
        unsafe {
            libc::setsockopt(
                sock,
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&one as *const libc::c_int).cast(),
                4,
            );
        }
        let SocketAddr::V4(f) = from else { panic!() };
        let mut sa: libc::sockaddr_in = unsafe { core::mem::zeroed() };
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_port = f.port().to_be();
        sa.sin_addr.s_addr = u32::from(*f.ip()).to_be();
        let r = unsafe {
            libc::bind(
                sock,
                (&sa as *const libc::sockaddr_in).cast(),
                core::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let SocketAddr::V4(t) = to else { panic!() };
        sa.sin_port = t.port().to_be();
        sa.sin_addr.s_addr = u32::from(*t.ip()).to_be();
        let r = unsafe {
            libc::connect(
                sock,
                (&sa as *const libc::sockaddr_in).cast(),
                core::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(s)
    })
    .unwrap_or_else(|e| panic!("connect {from} -> {to} in {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A phone's new TCP connection (from an ephemeral port) to the SIP server's 5060.
fn dial_server(lab: &Lab, host: &str, phone_ip: &str) -> Reader {
    Reader::new(connect(
        lab,
        host,
        &format!("{phone_ip}:0"),
        &format!("{SERVER}:5060"),
    ))
}

fn accept(l: &TcpListener) -> (TcpStream, SocketAddr) {
    l.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match l.accept() {
            Ok((s, a)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.set_nodelay(true).unwrap();
                return (s, a);
            }
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("no connection arrived: {e}"),
        }
    }
}

/// Reads SIP messages off a stream, framed by Content-Length.
struct Reader {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn new(s: TcpStream) -> Self {
        Reader { s, buf: Vec::new() }
    }

    fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// The next message (keep-alives skipped), or None if none within the timeout.
    fn next(&mut self) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 65536];
        loop {
            match frame(&self.buf, 1 << 20) {
                Frame::KeepAlive(n) => {
                    self.buf.drain(..n);
                    continue;
                }
                Frame::Message { len, .. } if self.buf.len() >= len => {
                    return Some(self.buf.drain(..len).collect());
                }
                Frame::Malformed(e) => panic!("unframable stream: {e:?}: {}", text(&self.buf)),
                _ => {}
            }
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn expect(&mut self, what: &str) -> String {
        text(
            &self
                .next()
                .unwrap_or_else(|| panic!("{what} did not arrive")),
        )
    }
}

/// The body's length matches the Content-Length the message declares.
fn length_right(m: &str) {
    let (head, body) = m.split_once("\r\n\r\n").unwrap();
    let cl: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(cl, body.len(), "{m}");
}

fn invite(call: &str, phone: &str, body: &str) -> Vec<u8> {
    sip_sdp(
        &format!(
            "INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/TCP {phone}:5060;branch=z9hG4bK-{call}\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>\nCall-ID: {call}\nCSeq: 1 INVITE\nContact: <sip:100@{phone}:5060;transport=tcp>\n"
        ),
        body,
    )
}

/// An INVITE over TCP from the first phone reaches the server as the phone wrote it
/// (the relay is not in the path).
fn tcp_invite_passes_unmodified(lab: &Lab, call: &str) {
    let server = listen(lab, "wan", &format!("{SERVER}:5060"));
    let mut p = dial_server(lab, "lan1", PHONE1);
    let msg = invite(call, PHONE1, &sdp(PHONE1, &audio(4000)));
    p.send(&msg);
    let (s, _) = accept(&server);
    assert_eq!(Reader::new(s).next().map(|m| text(&m)), Some(text(&msg)));
}

fn json_u64(st: &str, path: &str) -> u64 {
    let i = st
        .find(path)
        .unwrap_or_else(|| panic!("{path} not in {st}"))
        + path.len();
    st[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn invite_over_tcp_is_rewritten_and_its_answer_restored_split_and_coalesced() {
    let Some(mut lab) = Lab::new("tcpinv") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    for (host, port_match) in [("wan", "dport"), ("lan1", "sport")] {
        let script = format!("table ip dscp_seen {{\n chain c {{\n type filter hook input priority 0;\n tcp {port_match} 5060 ip dscp cs5 counter\n }}\n}}\n");
        let st = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.ns(host), "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(script.as_bytes())?;
                c.wait()
            })
            .unwrap();
        assert!(st.success());
    }
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = dial_server(&lab, "lan1", PHONE1);
    // A keep-alive before the first message reaches the provider with it.
    phone.send(b"\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    phone.send(&invite("tcp1", PHONE1, &sdp(PHONE1, &audio(4000))));
    let (s, from) = accept(&server);
    let mut first = [0u8; 4];
    let mut s = s;
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"\r\n\r\n");
    // The connection leaves from the router with the public port the phone's UDP
    // signalling from its Via port would have.
    assert_eq!(from, format!("{ROUTER_WAN}:5060").parse().unwrap());
    let mut srv = Reader::new(s);
    let inv = srv.expect("INVITE");
    assert!(
        inv.contains(&format!(
            "Via: SIP/2.0/TCP {ROUTER_WAN}:5060;branch=z9hG4bK-tcp1\r\n"
        )),
        "{inv}"
    );
    assert!(
        inv.contains(&format!(
            "Contact: <sip:100@{ROUTER_WAN}:5060;transport=tcp>"
        )),
        "{inv}"
    );
    assert!(inv.contains(&format!("c=IN IP4 {ROUTER_WAN}\r\n")), "{inv}");
    assert!(inv.contains("From: <sip:100@198.51.100.10>;tag=a"), "{inv}");
    length_right(&inv);

    let answer = sdp(MEDIA_GW, &audio(30000));
    let ok = sip_sdp(
        &format!("SIP/2.0 200 OK\nVia: SIP/2.0/TCP {ROUTER_WAN}:5060;branch=z9hG4bK-tcp1;received={ROUTER_WAN}\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>;tag=b\nCall-ID: tcp1\nCSeq: 1 INVITE\nContact: <sip:bob@{SERVER};transport=tcp>\n"),
        &answer,
    );
    srv.send(&ok);
    let back = phone.expect("200 OK");
    assert!(
        back.contains(&format!(
            "Via: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-tcp1;received={PHONE1}\r\n"
        )),
        "{back}"
    );
    assert!(back.ends_with(&text(&sipmsg::crlf(&answer))), "{back}");
    length_right(&back);

    // ACK and BYE in one segment: both arrive, each rewritten.
    let ack = sip(&format!("ACK sip:bob@{SERVER};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-ack\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>;tag=b\nCall-ID: tcp1\nCSeq: 1 ACK\n"), "");
    let bye = sip(&format!("BYE sip:bob@{SERVER};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-bye\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>;tag=b\nCall-ID: tcp1\nCSeq: 2 BYE\n"), "");
    let mut both = ack.clone();
    both.extend_from_slice(&bye);
    phone.send(&both);
    let a = srv.expect("ACK");
    let b = srv.expect("BYE");
    assert!(
        a.starts_with("ACK ")
            && a.contains(&format!(
                "Via: SIP/2.0/TCP {ROUTER_WAN}:5060;branch=z9hG4bK-ack"
            )),
        "{a}"
    );
    assert!(
        b.starts_with("BYE ")
            && b.contains(&format!(
                "Via: SIP/2.0/TCP {ROUTER_WAN}:5060;branch=z9hG4bK-bye"
            )),
        "{b}"
    );

    // One message split over three segments (with pauses, so they are separate).
    let inv2 = invite("tcp2", PHONE1, &sdp(PHONE1, &audio(4002)));
    let cuts = [0, 20, inv2.len() - 30, inv2.len()];
    for w in cuts.windows(2) {
        phone.send(&inv2[w[0]..w[1]]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let got = srv.expect("split INVITE");
    assert!(
        got.contains("Call-ID: tcp2") && got.contains(&format!("c=IN IP4 {ROUTER_WAN}\r\n")),
        "{got}"
    );
    length_right(&got);
    // CRLF keep-alives pass both ways.
    phone.send(b"\r\n\r\n");
    let mut ka = [0u8; 4];
    srv.s.read_exact(&mut ka).unwrap();
    assert_eq!(&ka, b"\r\n\r\n");

    // DSCP CS5 on the relayed signalling, towards the provider and towards the phone.
    for (host, port_match) in [("wan", "dport"), ("lan1", "sport")] {
        let rules = lab.exec(host, &["nft", "list", "table", "ip", "dscp_seen"]);
        let n: u64 = rules
            .split(&format!(
                "tcp {port_match} 5060 ip dscp cs5 counter packets "
            ))
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        assert!(n > 0, "no CS5 packets seen in {host}: {rules}");
    }
    let st = lab.status_json().unwrap();
    assert_eq!(json_u64(&st, "\"tcp_relay\":{\"connections\":"), 1, "{st}");
    let source = phone.s.local_addr().unwrap();
    assert!(
        st.contains(&format!("\"relayed\":[{{\"phone\":\"{PHONE1}:5060\",\"source\":\"{source}\",\"peer\":\"{SERVER}:5060\",\"public\":\"{ROUTER_WAN}:5060\",\"age\":")),
        "{st}"
    );
    assert!(json_u64(&st, "\"messages\":") >= 5, "{st}");
    // Calls are tracked as for UDP: the first ended with its BYE, the second is ringing
    // with its media mapped.
    assert!(!st.contains("\"call_id\":\"tcp1\""), "{st}");
    assert!(
        st.contains("\"call_id\":\"tcp2\",\"state\":\"early\""),
        "{st}"
    );
    assert!(
        st.contains("\"private\":\"192.168.1.20:4002\",\"public\":\"198.51.100.1:4002\""),
        "{st}"
    );
}

/// Media is delivered from `from` to `to` within a second; returns its source.
fn media_flows(
    from: &std::net::UdpSocket,
    to: &std::net::UdpSocket,
    dest: &str,
) -> Option<SocketAddr> {
    from.send_to(b"\x80\x00rtp-packet", dest).unwrap();
    arrives(to, Duration::from_secs(1)).map(|(_, src)| src)
}

#[test]
fn tcp_registration_idles_past_the_routers_tcp_timeouts_then_takes_an_inbound_call() {
    let Some(mut lab) = Lab::new("tcpreg") else {
        return;
    };
    // The router forgets idle TCP flows after 6 s (OpenWrt: 7440 s); the relay's
    // keep-alive probes follow that timeout.
    for (k, v) in [
        ("net.netfilter.nf_conntrack_tcp_timeout_established", "6"),
        ("net.netfilter.nf_conntrack_tcp_timeout_unacknowledged", "6"),
    ] {
        lab.exec("r", &["sysctl", "-qw", &format!("{k}={v}")]);
    }
    start(&mut lab, "\toption alg '1'");
    // Like OpenWrt's wan zone (input REJECT): only established flows reach the router
    // from the WAN, so an onward connection whose conntrack entry expired would be cut.
    lab.exec(
        "r",
        &[
            "nft",
            "insert",
            "rule",
            "inet",
            "fw4",
            "input",
            "iifname",
            "wan",
            "ct",
            "state",
            "!=",
            "{",
            "established,",
            "related",
            "}",
            "drop",
        ],
    );
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = dial_server(&lab, "lan1", PHONE1);
    let reg = sip(&format!("REGISTER sip:{SERVER};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-reg\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>\nCall-ID: reg-tcp\nCSeq: 1 REGISTER\nContact: <sip:100@{PHONE1}:5060;transport=tcp>\nExpires: 300\n"), "");
    phone.send(&reg);
    let (s, public) = accept(&server);
    let mut srv = Reader::new(s);
    let got = srv.expect("REGISTER");
    assert!(
        got.contains(&format!("Contact: <sip:100@{public};transport=tcp>")),
        "{got}"
    );
    srv.send(&sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/TCP {public};branch=z9hG4bK-reg;received={}\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>;tag=reg\nCall-ID: reg-tcp\nCSeq: 1 REGISTER\nContact: <sip:100@{public};transport=tcp>;expires=300\n", public.ip()), ""));
    let ok = phone.expect("200 OK");
    assert!(
        ok.contains(&format!(
            "Contact: <sip:100@{PHONE1}:5060;transport=tcp>;expires=300"
        )),
        "{ok}"
    );
    lab.wait_status(Duration::from_secs(3), "the registration", |s| {
        s.contains("\"aor\":\"sip:100@198.51.100.10\"")
    });

    // Idle well past the router's TCP timeout; the relay's keep-alive probes keep both
    // connections' conntrack entries established.
    std::thread::sleep(Duration::from_secs(15));
    let ct = lab.exec(
        "r",
        &["conntrack", "-L", "-p", "tcp", "--orig-port-dst", "5060"],
    );
    assert_eq!(
        ct.matches("ESTABLISHED").count(),
        2,
        "phone and onward connection: {ct}"
    );

    // The provider sends a call on the phone's connection.
    let phone_rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    let inv = sip_sdp(&format!("INVITE sip:100@{public};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {SERVER}:5060;branch=z9hG4bK-in1\nFrom: <sip:carol@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>\nCall-ID: in-tcp\nCSeq: 1 INVITE\nContact: <sip:carol@{SERVER}:5060;transport=tcp>\n"), &sdp(MEDIA_GW, &audio(30000)));
    srv.send(&inv);
    let got = phone.expect("inbound INVITE after the idle time");
    assert!(
        got.starts_with(&format!(
            "INVITE sip:100@{PHONE1}:5060;transport=tcp SIP/2.0\r\n"
        )),
        "{got}"
    );
    assert!(got.contains(&format!("c=IN IP4 {MEDIA_GW}")), "{got}");
    phone.send(&sip_sdp(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/TCP {SERVER}:5060;branch=z9hG4bK-in1\nFrom: <sip:carol@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>;tag=p\nCall-ID: in-tcp\nCSeq: 1 INVITE\nContact: <sip:100@{PHONE1}:5060;transport=tcp>\n"), &sdp(PHONE1, &audio(4000))));
    let ans = srv.expect("200 OK");
    assert!(ans.contains(&format!("c=IN IP4 {ROUTER_WAN}\r\n")), "{ans}");
    let port: u16 = ans
        .split("m=audio ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    length_right(&ans);
    // Media both ways, the far end first.
    let public_rtp = format!("{ROUTER_WAN}:{port}");
    assert_eq!(
        media_flows(&gw, &phone_rtp, &public_rtp),
        Some(format!("{MEDIA_GW}:30000").parse().unwrap())
    );
    assert_eq!(
        media_flows(&phone_rtp, &gw, &format!("{MEDIA_GW}:30000")),
        Some(public_rtp.parse().unwrap())
    );
}

#[test]
fn a_real_sipp_tcp_call_goes_through_the_relay() {
    let Some(mut lab) = Lab::new("tcpsipp") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    lab.sipp_call(&["-t", "t1"]);
    let st = lab.status_json().unwrap();
    assert!(
        json_u64(&st, "\"tcp_relay\":{\"connections\":") <= 1,
        "{st}"
    );
    let relayed = json_u64(&st, "\"accepted\":");
    let rewritten = st
        .split("\"tcp_relay\"")
        .nth(1)
        .map(|t| json_u64(t, "\"rewritten\":"))
        .unwrap();
    assert!(
        relayed >= 1 && rewritten >= 5,
        "INVITE, 180, 200, ACK, BYE, 200 through the relay: {st}"
    );
}

#[test]
fn daemon_killed_mid_call_new_tcp_connections_still_work_unmodified() {
    let Some(mut lab) = Lab::new("tcpkill") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = dial_server(&lab, "lan1", PHONE1);
    phone.send(&invite("k1", PHONE1, &sdp(PHONE1, &audio(4000))));
    let (s, _) = accept(&server);
    let mut srv = Reader::new(s);
    assert!(srv
        .expect("INVITE")
        .contains(&format!("c=IN IP4 {ROUTER_WAN}")));
    lab.kill_daemon();
    std::thread::sleep(Duration::from_millis(300));
    // The table and the policy route stay behind a SIGKILL; with no transparent socket
    // listening, tproxy diverts nothing and the connection is simply forwarded.
    assert!(lab
        .exec("r", &["nft", "list", "table", "inet", "sipalg"])
        .contains("tproxy"));
    let mut p2 = dial_server(&lab, "lan2", PHONE2);
    let msg = invite("k2", PHONE2, &sdp(PHONE2, &audio(4000)));
    p2.send(&msg);
    let (s2, from) = accept(&server);
    assert_eq!(from.ip().to_string(), ROUTER_WAN, "masqueraded by fw4");
    let mut srv2 = Reader::new(s2);
    let got = srv2.next().expect("the INVITE of a new connection");
    assert_eq!(text(&got), text(&msg), "unmodified");
    srv2.send(b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n");
    assert!(p2.expect("100").starts_with("SIP/2.0 100 Trying"));
}

#[test]
fn a_thousand_messages_over_one_connection_arrive_in_order() {
    let Some(mut lab) = Lab::new("tcpmany") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let phone = connect(
        &lab,
        "lan1",
        &format!("{PHONE1}:0"),
        &format!("{SERVER}:5060"),
    );
    const N: usize = 1000;
    let msg = |i: usize| {
        sip(&format!("MESSAGE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-m{i}\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>\nCall-ID: many\nCSeq: {} MESSAGE\nContact: <sip:100@{PHONE1}:5060;transport=tcp>\nContent-Type: text/plain\n", i + 1), &format!("message number {i}\n"))
    };
    let mut writer = phone.try_clone().unwrap();
    let t0 = Instant::now();
    let send = std::thread::spawn(move || {
        for i in 0..N {
            writer.write_all(&msg(i)).unwrap();
        }
    });
    let (s, _) = accept(&server);
    let mut srv = Reader::new(s);
    let mut responses = Vec::new();
    for i in 0..N {
        let m = srv.expect(&format!("message {i}"));
        assert!(
            m.contains(&format!("branch=z9hG4bK-m{i}\r\n"))
                && m.contains(&format!("Via: SIP/2.0/TCP {ROUTER_WAN}:5060")),
            "{i}: {m}"
        );
        assert!(m.ends_with(&format!("message number {i}\r\n")), "{m}");
        responses.extend_from_slice(&sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/TCP {ROUTER_WAN}:5060;branch=z9hG4bK-m{i}\nCall-ID: many\nCSeq: {} MESSAGE\n", i + 1), ""));
    }
    send.join().unwrap();
    srv.send(&responses);
    let mut ph = Reader::new(phone);
    for i in 0..N {
        let r = ph.expect(&format!("response {i}"));
        assert!(
            r.contains(&format!(
                "Via: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-m{i}\r\n"
            )),
            "{r}"
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{N} requests and {N} responses over one relayed connection in {secs:.2} s ({:.0} messages/s)", 2.0 * N as f64 / secs);
}

#[test]
fn a_flood_of_silent_connections_does_not_stop_udp_sip() {
    let Some(mut lab) = Lab::new("tcpflood") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let mut idle = Vec::new();
    for i in 0..300 {
        // Connections that never send a byte (the relay holds them until its
        // first-message timeout, or refuses them beyond its connection limit).
        let s = in_netns(&lab.ns("lan2"), move || {
            TcpStream::connect_timeout(
                &format!("{SERVER}:5060").parse().unwrap(),
                Duration::from_secs(2),
            )
        });
        match s {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    let st = lab.wait_status(Duration::from_secs(5), "the relay at its limit", |s| {
        s.contains("\"tcp_relay\":{\"connections\":128,\"accepted\":300,\"refused\":172,")
    });
    assert!(st.contains("\"timed_out\":0"), "{st}");
    // 128 connection threads cost little memory.
    let pid = lab.daemon_pid().unwrap();
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    println!("sipalgd RSS with 128 relayed connections: {rss_kb} kB");
    assert!(rss_kb < 8 * 1024, "{rss_kb} kB");
    // UDP SIP is untouched by it.
    let s = phone::Sip::new(&lab, "lan1", PHONE1);
    let public = s.register(300);
    assert_eq!(public.to_string(), format!("{ROUTER_WAN}:5060"));
    let (inv, _) = s.call(
        "flood-udp",
        &sdp(PHONE1, &audio(4000)),
        &sdp(MEDIA_GW, &audio(30000)),
    );
    assert!(text(&inv).contains(&format!("c=IN IP4 {ROUTER_WAN}")));
    // Silent connections time out 30 s after they were opened, and the relay takes new
    // ones again.
    let st = lab.wait_status(
        Duration::from_secs(40),
        "the silent connections timed out",
        |s| s.contains("\"tcp_relay\":{\"connections\":0,"),
    );
    assert!(st.contains("\"timed_out\":128,"), "{st}");
    drop(idle);
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut p = dial_server(&lab, "lan2", PHONE2);
    p.send(&invite("after-flood", PHONE2, &sdp(PHONE2, &audio(4000))));
    let (s, _) = accept(&server);
    let got = Reader::new(s).expect("a relayed INVITE after the flood");
    assert!(got.contains(&format!("c=IN IP4 {ROUTER_WAN}")), "{got}");
}

/// Polls `f` until it gives something (a reload takes its time, several times longer
/// under emulation), at most 30 s.
fn until<T>(f: impl Fn() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not reached within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn no_diversion_with_tcp_or_alg_off_and_never_for_tls() {
    let Some(mut lab) = Lab::new("tcpoff") else {
        return;
    };
    start(
        &mut lab,
        "\toption alg '1'\n\toption tcp '0'\n\tlist port '5060'\n\tlist port '5061'",
    );
    let rules = lab.exec("r", &["nft", "list", "table", "inet", "sipalg"]);
    assert!(!rules.contains("tproxy"), "{rules}");
    tcp_invite_passes_unmodified(&lab, "off");
    // tcp on: 5060 is diverted, 5061 (TLS) is not.
    lab.write_config("\toption alg '1'\n\tlist port '5060'\n\tlist port '5061'");
    lab.signal("HUP");
    let table = |lab: &Lab| lab.exec("r", &["nft", "list", "table", "inet", "sipalg"]);
    let rules = until(|| Some(table(&lab)).filter(|r| r.contains("tproxy")));
    assert!(rules.contains("tcp dport 5060 "), "{rules}");
    let tls = listen(&lab, "wan", &format!("{SERVER}:5061"));
    let mut t = connect(
        &lab,
        "lan1",
        &format!("{PHONE1}:0"),
        &format!("{SERVER}:5061"),
    );
    t.write_all(b"\x16\x03\x01 not really TLS").unwrap();
    let (mut ts, _) = accept(&tls);
    let mut got = [0u8; 18];
    ts.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"\x16\x03\x01 not really TLS");
    assert_eq!(json_u64(&lab.status_json().unwrap(), "\"accepted\":"), 0);
    let policy = |lab: &Lab| {
        (
            lab.exec("r", &["ip", "-4", "rule"]),
            lab.exec("r", &["ip", "-4", "route", "show", "table", "5060"]),
        )
    };
    let (rule, route) = policy(&lab);
    assert!(
        rule.contains("fwmark 0x8000000/0x8000000 lookup 5060"),
        "{rule}"
    );
    assert!(route.contains("local default dev lo"), "{route}");
    // alg off: no diversion either, and no policy route.
    lab.write_config("\toption alg '0'");
    lab.signal("HUP");
    until(|| Some(()).filter(|()| !table(&lab).contains("tproxy")));
    until(|| {
        let (rule, route) = policy(&lab);
        (!rule.contains("lookup 5060") && route.trim().is_empty()).then_some(())
    });
    // Back on, then SIGTERM: the daemon removes its table and the policy route.
    lab.write_config("\toption alg '1'");
    lab.signal("HUP");
    until(|| Some(()).filter(|()| policy(&lab).0.contains("lookup 5060")));
    lab.signal("TERM");
    assert_eq!(lab.wait_daemon(Duration::from_secs(5)), Some(0));
    let (rule, route) = policy(&lab);
    assert!(
        !rule.contains("lookup 5060") && route.trim().is_empty(),
        "{rule}{route}"
    );
    assert!(!lab
        .try_exec("r", &["nft", "list", "table", "inet", "sipalg"])
        .status
        .success());
}

/// The relay's policy route goes in before the rule that diverts to it; when `ip` cannot
/// add it, nothing is diverted (no connection is forwarded with the relay's socket and
/// no route to it), status says why, and SIP over TCP passes unmodified. Here `ip` is a
/// wrapper, first in the daemon's PATH, that refuses `rule add` and runs the real one
/// for everything else.
#[test]
fn without_its_policy_route_nothing_is_diverted_to_the_relay_and_status_says_why() {
    let Some(mut lab) = Lab::new("noroute") else {
        return;
    };
    lab.write_config("\toption log_level 'debug'\n\toption alg '1'");
    let shim = lab.run_dir().join("refusing-ip");
    std::fs::create_dir_all(&shim).unwrap();
    let wrapper = shim.join("ip");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\ncase \" $* \" in *\" rule add \"*) echo 'RTNETLINK answers: refused by the lab' >&2; exit 2 ;; esac\nexec /sbin/ip \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for path in [&wrapper, &shim] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = lab.daemon_command();
    cmd.env("PATH", format!("{}:{}", shim.display(), lab::DAEMON_PATH));
    lab.start_daemon_as(cmd);
    let why = "cannot add the policy route for the TCP relay";
    let status = lab.wait_status(Duration::from_secs(10), "the relay's warning", |s| {
        s.contains(why)
    });
    assert!(status.contains("refused by the lab"), "{status}");
    assert!(lab.log().contains(why), "{}", lab.log());
    let table = lab.exec("r", &["nft", "list", "table", "inet", "sipalg"]);
    assert!(!table.contains("tproxy"), "{table}");
    assert!(
        !lab.exec("r", &["ip", "-4", "rule"]).contains("lookup 5060"),
        "no policy route either"
    );
    tcp_invite_passes_unmodified(&lab, "noroute");
    // UDP SIP is still rewritten.
    let phone = lab.udp("lan1", &format!("{PHONE1}:5060"));
    let wan = lab.udp("wan", &format!("{SERVER}:5060"));
    let udp_invite = sip_sdp(
        &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-noroute-udp\nFrom: <sip:100@{SERVER}>;tag=a\nTo: <sip:bob@{SERVER}>\nCall-ID: noroute-udp\nCSeq: 1 INVITE\nContact: <sip:100@{PHONE1}:5060>\n"),
        &sdp(PHONE1, &audio(4002)),
    );
    phone
        .send_to(&udp_invite, format!("{SERVER}:5060"))
        .unwrap();
    let got = text(&lab::recv(&wan).0);
    assert!(got.contains(&format!("c=IN IP4 {ROUTER_WAN}")), "{got}");
}

#[test]
fn oversized_passes_unchanged_unframable_closes_and_neither_stalls_others() {
    let Some(mut lab) = Lab::new("tcpbad") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    // A healthy connection from the second phone, kept busy throughout.
    let mut good = dial_server(&lab, "lan2", PHONE2);
    good.send(&invite("good0", PHONE2, &sdp(PHONE2, &audio(4000))));
    let (s, _) = accept(&server);
    let mut good_srv = Reader::new(s);
    assert!(good_srv.expect("first").contains("Call-ID: good0"));

    // A 200 KB MESSAGE (over the 64 KB the relay holds): passed on unchanged, in full.
    let mut big = dial_server(&lab, "lan1", PHONE1);
    let body = "x".repeat(200_000);
    let msg = sip(&format!("MESSAGE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/TCP {PHONE1}:5060;branch=z9hG4bK-big\nCall-ID: big\nCSeq: 1 MESSAGE\nContact: <sip:100@{PHONE1}:5060;transport=tcp>\nContent-Type: text/plain\n"), &body);
    let mut w = big.s.try_clone().unwrap();
    let m2 = msg.clone();
    let writer = std::thread::spawn(move || w.write_all(&m2).unwrap());
    let (s, _) = accept(&server);
    let mut big_srv = Reader::new(s);
    good.send(&invite("good1", PHONE2, &sdp(PHONE2, &audio(4002))));
    assert!(good_srv
        .expect("during the big one")
        .contains("Call-ID: good1"));
    let got = big_srv.next().expect("the big message");
    writer.join().unwrap();
    assert_eq!(got.len(), msg.len());
    assert!(got == msg, "unchanged");
    // The connection goes on after it: the next message is rewritten again.
    big.send(&invite("after-big", PHONE1, &sdp(PHONE1, &audio(4004))));
    let next = big_srv.expect("after the big one");
    assert!(next.contains(&format!("c=IN IP4 {ROUTER_WAN}")), "{next}");

    // A stream that cannot be framed (a Content-Length that is no number) is closed,
    // after what was framed before it was passed on.
    let mut bad = dial_server(&lab, "lan1", PHONE1);
    let mut stream = invite("before-bad", PHONE1, &sdp(PHONE1, &audio(4006)));
    stream.extend_from_slice(b"MESSAGE sip:bob SIP/2.0\r\nContent-Length: lots\r\n\r\nxyz");
    bad.send(&stream);
    let (s, _) = accept(&server);
    let mut bad_srv = Reader::new(s);
    assert!(bad_srv
        .expect("the framed message")
        .contains("Call-ID: before-bad"));
    assert!(bad_srv.next().is_none(), "closed, not forwarded in pieces");
    assert!(bad.next().is_none(), "the phone's side is closed too");
    // Header lines that never end (no empty line within 16 KB): closed as well.
    let mut junk = dial_server(&lab, "lan1", PHONE1);
    junk.send(&vec![b'A'; 20_000]);
    assert!(junk.next().is_none());

    good.send(&invite("good2", PHONE2, &sdp(PHONE2, &audio(4008))));
    assert!(good_srv.expect("after all that").contains("Call-ID: good2"));
    let st = lab.status_json().unwrap();
    assert_eq!(json_u64(&st, "\"closed_unframable\":"), 2, "{st}");
}

/// Issue #20 over TCP (AudioCodes-style): Via and Contact without a port, the relay's
/// onward connection on a public port other than 5060 (another phone's UDP signalling
/// holds 5060). The registrar's 200 and a call to the registered contact reach the
/// phone with exactly the bytes it wrote where the ALG had rewritten them.
#[test]
fn a_port_less_via_and_contact_over_tcp_come_back_as_the_phone_wrote_them() {
    let Some(mut lab) = Lab::new("tcpportless") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let other = phone::Sip::new(&lab, "lan2", PHONE2);
    assert_eq!(other.register(600).port(), 5060);
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = dial_server(&lab, "lan1", PHONE1);
    let me = PHONE1;
    let reg = |via: &str, contact: &str| {
        sip(&format!("REGISTER sip:{SERVER};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {via};branch=z9hG4bK-tpl;alias\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>\nCall-ID: tpl\nCSeq: 1 REGISTER\nContact: <sip:100@{contact};transport=tcp>\nExpires: 300\n"), "")
    };
    phone.send(&reg(me, me));
    let (s, public) = accept(&server);
    assert_ne!(
        public.port(),
        5060,
        "the case at hand: a public port that is not 5060"
    );
    let pub_ = public.to_string();
    let mut srv = Reader::new(s);
    assert_eq!(srv.expect("REGISTER"), text(&reg(&pub_, &pub_)));
    let ok = |via: &str, received: &str, contact: &str| {
        sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/TCP {via};branch=z9hG4bK-tpl;alias;received={received}\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>;tag=reg\nCall-ID: tpl\nCSeq: 1 REGISTER\nContact: <sip:100@{contact};transport=tcp>;expires=300\n"), "")
    };
    srv.send(&ok(&pub_, ROUTER_WAN, &pub_));
    assert_eq!(phone.expect("200 OK"), text(&ok(me, me, me)));
    let inv = |ruri: &str| {
        sip(&format!("OPTIONS sip:100@{ruri};transport=tcp SIP/2.0\nVia: SIP/2.0/TCP {SERVER}:5060;branch=z9hG4bK-tpl-in\nFrom: <sip:carol@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>\nCall-ID: tpl-in\nCSeq: 1 OPTIONS\n"), "")
    };
    srv.send(&inv(&pub_));
    assert_eq!(phone.expect("OPTIONS"), text(&inv(me)));
}

/// A phone whose SIP port is below 1024: the relay's onward connection would leave
/// from that port, which needs CAP_NET_BIND_SERVICE; sipalgd runs without it (the lab
/// gives it CAP_NET_ADMIN only, as the package does), so it leaves from another port,
/// and the call works the same (the provider answers on the connection).
#[test]
fn a_phone_on_a_port_below_1024_is_relayed_without_cap_net_bind_service() {
    let Some(mut lab) = Lab::new("tcplow") else {
        return;
    };
    start(&mut lab, "\toption alg '1'");
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = dial_server(&lab, "lan1", PHONE1);
    let msg = String::from_utf8(invite("low1", PHONE1, &sdp(PHONE1, &audio(4000))))
        .unwrap()
        .replace(&format!("{PHONE1}:5060"), &format!("{PHONE1}:1000"));
    phone.send(msg.as_bytes());
    let (s, from) = accept(&server);
    assert_eq!(from.ip().to_string(), ROUTER_WAN, "{from}");
    assert_ne!(
        from.port(),
        1000,
        "bound below 1024 without the capability?"
    );
    let mut srv = Reader::new(s);
    let inv = srv.expect("INVITE");
    // The message names the port the connection really has.
    let via = format!("Via: SIP/2.0/TCP {from};branch=z9hG4bK-low1\r\n");
    assert!(inv.contains(&via), "{inv}");
    length_right(&inv);
    srv.send(
        format!(
            "SIP/2.0 100 Trying\r\n{via}Call-ID: low1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let back = phone.expect("100 Trying");
    assert!(
        back.contains(&format!(
            "Via: SIP/2.0/TCP {PHONE1}:1000;branch=z9hG4bK-low1"
        )),
        "{back}"
    );
}
