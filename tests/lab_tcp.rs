//! SIP over TCP through the router's relay, in the namespace lab: an INVITE rewritten
//! with the right Content-Length and its 200 OK restored, ACK and BYE on the same
//! connection, a message split over three segments, two messages in one segment, a
//! TCP registration that idles past the router's (shortened) TCP timeouts and then
//! receives an inbound INVITE with media both ways, a real `sipp -t t1` call, the
//! daemon killed mid-call (new connections still work, unmodified), 1,000 messages on
//! one connection, and a flood of silent connections that does not stop UDP SIP.

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
    let server = listen(&lab, "wan", &format!("{SERVER}:5060"));
    let mut phone = Reader::new(connect(
        &lab,
        "lan1",
        &format!("{PHONE1}:0"),
        &format!("{SERVER}:5060"),
    ));
    phone.send(&invite("tcp1", PHONE1, &sdp(PHONE1, &audio(4000))));
    let (s, from) = accept(&server);
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

    let st = lab.status_json().unwrap();
    assert_eq!(json_u64(&st, "\"tcp_relay\":{\"connections\":"), 1, "{st}");
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
