//! Overload and caps, end to end in the namespace lab: what leaves the router when the
//! daemon cannot keep up (never an unrewritten REGISTER: SIP is dropped and the sender
//! retransmits), what a storm of bad datagrams costs real phones (nothing but time), and
//! that the router keeps rewriting new calls and registrations once each cap of its state
//! is reached. Needs root; see tests/common/lab.rs. Every wait is bounded.

#[path = "common/lab.rs"]
mod lab;
#[path = "common/sipmsg.rs"]
mod sipmsg;

use lab::{text, Lab, PHONE1, ROUTER_WAN, SERVER};
use sipmsg::sip;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `"name":N` in a status JSON.
fn counter(status: &str, name: &str) -> u64 {
    let at = status
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} not in {status}"));
    status[at + name.len() + 3..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}

fn set_rcvbuf(s: &UdpSocket, bytes: i32) {
    // SAFETY: setsockopt with a valid int option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const i32).cast(),
            4,
        );
    }
}

/// A SIP message is "complete" when its header section ends and its body is as long as
/// its Content-Length says: what a registrar would accept (RFC 3261 §18.3).
fn complete(m: &[u8]) -> bool {
    let Some(end) = m.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = text(&m[..end]);
    let cl = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse::<usize>().ok());
    cl == Some(m.len() - end - 4)
}

/// The message carries a LAN address outside From/To (which are never rewritten).
fn leaks_private(m: &[u8]) -> bool {
    text(m)
        .lines()
        .filter(|l| !l.starts_with("From:") && !l.starts_with("To:"))
        .any(|l| l.contains("192.168.1."))
}

fn header<'a>(m: &'a str, name: &str) -> Option<&'a str> {
    m.lines().find_map(|l| l.strip_prefix(name))
}

/// Every datagram that arrived, with its source.
type Seen = Arc<Mutex<Vec<(Vec<u8>, SocketAddr)>>>;
/// Granted bindings by Call-ID: (Contact as received, the source it came from).
type Bindings = Arc<Mutex<BTreeMap<String, (String, SocketAddr)>>>;

/// The WAN side: one UDP socket at SERVER:5060 that records every datagram and answers
/// every complete REGISTER with a 200 (the bindings it granted are recorded by
/// Call-ID: Contact as received and the source the REGISTER came from) and every
/// complete INVITE with a 200 carrying SDP.
struct Registrar {
    seen: Seen,
    bindings: Bindings,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Registrar {
    fn start(lab: &Lab) -> Registrar {
        let sock = lab.udp("wan", &format!("{SERVER}:5060"));
        set_rcvbuf(&sock, 8 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let bindings = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, b, st) = (Arc::clone(&seen), Arc::clone(&bindings), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let m = buf[..n].to_vec();
                if complete(&m) {
                    if let Some(reply) = Self::answer(&m, from, &b) {
                        let _ = sock.send_to(&reply, from);
                    }
                }
                s.lock().unwrap().push((m, from));
            }
        });
        Registrar {
            seen,
            bindings,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(
        m: &[u8],
        from: SocketAddr,
        bindings: &Mutex<BTreeMap<String, (String, SocketAddr)>>,
    ) -> Option<Vec<u8>> {
        let t = text(m);
        let method = t.split(' ').next()?;
        let keep: Vec<&str> = t
            .lines()
            .filter(|l| {
                ["Via:", "From:", "Call-ID:", "CSeq:"]
                    .iter()
                    .any(|h| l.starts_with(h))
            })
            .collect();
        let to = header(&t, "To: ")?;
        let call_id = header(&t, "Call-ID: ")?.to_string();
        match method {
            "REGISTER" => {
                let contact = header(&t, "Contact: ")?.to_string();
                bindings
                    .lock()
                    .unwrap()
                    .insert(call_id, (contact.clone(), from));
                Some(sip(
                    &format!(
                        "SIP/2.0 200 OK\n{}\nTo: {to};tag=reg\nContact: {contact};expires=600\n",
                        keep.join("\n")
                    ),
                    "",
                ))
            }
            "INVITE" => Some(sipmsg::sip_sdp(
                &format!(
                    "SIP/2.0 200 OK\n{}\nTo: {to};tag=srv\nContact: <sip:bob@{SERVER}:5060>\n",
                    keep.join("\n")
                ),
                &sipmsg::sdp(lab::MEDIA_GW, &sipmsg::audio(30000)),
            )),
            _ => None,
        }
    }

    /// How many complete REGISTERs and INVITEs arrived carrying a LAN address, and
    /// the first of them ("" if none).
    fn unrewritten(&self) -> (usize, String) {
        let seen = self.seen.lock().unwrap();
        let leaked: Vec<&Vec<u8>> = seen
            .iter()
            .map(|(m, _)| m)
            .filter(|m| complete(m) && (m.starts_with(b"REGISTER ") || m.starts_with(b"INVITE ")))
            .filter(|m| leaks_private(m))
            .collect();
        (
            leaked.len(),
            leaked.first().map(|m| text(m)).unwrap_or_default(),
        )
    }

    fn received(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A phone: its own socket on lan1 (one port each) and its REGISTER, sent again
/// byte for byte as a retransmission (RFC 3261 §17.1.2: same branch, same CSeq).
struct Phone {
    sock: UdpSocket,
    port: u16,
    register: Vec<u8>,
}

impl Phone {
    fn new(lab: &Lab, port: u16) -> Phone {
        let sock = lab.udp("lan1", &format!("{PHONE1}:{port}"));
        sock.set_nonblocking(true).unwrap();
        let register = sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:{port};branch=z9hG4bK-r{port};rport\nMax-Forwards: 70\nFrom: <sip:{port}@{SERVER}>;tag=f{port}\nTo: <sip:{port}@{SERVER}>\nCall-ID: real-{port}\nCSeq: 1 REGISTER\nContact: <sip:{port}@{PHONE1}:{port}>\nExpires: 600\n"), "");
        Phone {
            sock,
            port,
            register,
        }
    }

    fn send_register(&self) {
        let _ = self.sock.send_to(
            &self.register,
            format!("{SERVER}:5060").parse::<SocketAddr>().unwrap(),
        );
    }

    /// A 200 to its REGISTER arrived with the phone's own Via and Contact restored.
    fn registered(&self) -> bool {
        let mut buf = vec![0u8; 65536];
        let mut ok = false;
        while let Ok(n) = self.sock.recv(&mut buf) {
            let t = text(&buf[..n]);
            if t.starts_with("SIP/2.0 200")
                && t.contains(&format!("Via: SIP/2.0/UDP {PHONE1}:{}", self.port))
                && t.contains(&format!(
                    "Contact: <sip:{}@{PHONE1}:{}>",
                    self.port, self.port
                ))
            {
                ok = true;
            }
        }
        ok
    }
}

/// Retransmits each phone's REGISTER (every 500 ms, RFC 3261 timer E's first interval)
/// until its 200 arrived, for at most `limit`; returns the ports still unregistered.
fn register_all(phones: &[Phone], limit: Duration) -> Vec<u16> {
    let start = Instant::now();
    let mut pending: BTreeSet<usize> = (0..phones.len()).collect();
    while !pending.is_empty() && start.elapsed() < limit {
        for &i in &pending {
            phones[i].send_register();
        }
        std::thread::sleep(Duration::from_millis(500));
        pending.retain(|&i| !phones[i].registered());
    }
    pending.iter().map(|&i| phones[i].port).collect()
}

/// Every phone's binding at the registrar names the public address it came from.
fn assert_bound_publicly(reg: &Registrar, phones: &[Phone]) {
    let bindings = reg.bindings.lock().unwrap();
    for p in phones {
        let (contact, from) = bindings
            .get(&format!("real-{}", p.port))
            .unwrap_or_else(|| panic!("phone {} never bound", p.port));
        assert_eq!(from.ip().to_string(), ROUTER_WAN);
        assert_eq!(
            contact,
            &format!("<sip:{}@{from}>", p.port),
            "phone {} bound to what the router sent",
            p.port
        );
    }
}

fn start_alg(lab: &mut Lab) {
    lab.write_config("\toption alg '1'\n\toption log_level 'info'");
    lab.start_daemon();
}

/// Sends `sig` to the daemon (`pid` read while it could still answer).
fn daemon_signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_stalled_daemon_never_lets_an_unrewritten_register_through_and_retransmissions_bind() {
    let Some(mut lab) = Lab::new("stall") else {
        return;
    };
    start_alg(&mut lab);
    let reg = Registrar::start(&lab);
    let phones: Vec<Phone> = (0..200).map(|i| Phone::new(&lab, 20000 + i)).collect();
    // The daemon stops (as under a CPU starved by something else) while every phone
    // registers at once, each sending its REGISTER many times: far more than the
    // queue's socket holds (a few thousand messages).
    let pid = lab.daemon_pid().expect("daemon pid");
    daemon_signal(pid, "STOP");
    for round in 0..50 {
        for p in &phones {
            p.send_register();
        }
        if round % 5 == 4 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let while_stopped = reg.received();
    daemon_signal(pid, "CONT");
    assert_eq!(
        reg.unrewritten(),
        (0, String::new()),
        "nothing may pass the stalled daemon unrewritten"
    );
    assert_eq!(
        while_stopped, 0,
        "nothing passes while the daemon is stopped"
    );
    // The phones retransmit; what the kernel dropped comes again and is rewritten.
    let unregistered = register_all(&phones, Duration::from_secs(30));
    assert!(unregistered.is_empty(), "not registered: {unregistered:?}");
    assert_eq!(reg.unrewritten(), (0, String::new()));
    assert_bound_publicly(&reg, &phones);
    let st = lab.wait_status(Duration::from_secs(10), "the registrations", |s| {
        s.matches("\"aor\":").count() == phones.len()
    });
    assert!(
        counter(&st, "queue_dropped") > 0,
        "the kernel dropped what did not fit (the stall overflowed the queue): {st}"
    );
}

#[test]
fn a_storm_of_garbage_oversize_and_truncated_datagrams_costs_no_real_register_its_rewrite() {
    let Some(mut lab) = Lab::new("badstorm") else {
        return;
    };
    start_alg(&mut lab);
    let reg = Registrar::start(&lab);
    let phones: Vec<Phone> = (0..100).map(|i| Phone::new(&lab, 21000 + i)).collect();
    let junk = lab.udp("lan1", &format!("{PHONE1}:5060"));
    let srv: SocketAddr = format!("{SERVER}:5060").parse().unwrap();
    let mut seed: u32 = 7;
    let mut random = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect()
    };
    let oversize_sip = {
        let body = "a=x\r\n".repeat(12_000);
        sip(&format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-big\nFrom: <sip:a@{PHONE1}>;tag=b\nTo: <sip:bob@{SERVER}>\nCall-ID: big\nCSeq: 1 INVITE\nContact: <sip:a@{PHONE1}:5060>\nContent-Type: application/sdp\n"), &body)
    };
    // Each round: every phone's REGISTER among garbage, datagrams of up to 64 KB (IP
    // fragments the router reassembles before the queue: a few of them fill the
    // queue's socket) and REGISTERs cut short. The daemon is stopped for the first
    // half, so the storm certainly overflows the queue.
    let pid = lab.daemon_pid().expect("daemon pid");
    daemon_signal(pid, "STOP");
    for round in 0..20usize {
        if round == 10 {
            daemon_signal(pid, "CONT");
        }
        for (i, p) in phones.iter().enumerate() {
            p.send_register();
            let _ = junk.send_to(&random(1 + (i * 37 + round) % 1400), srv);
            let cut = p.register.len() * (i % 9 + 1) / 10;
            let _ = junk.send_to(&p.register[..cut], srv);
            if i % 10 == 0 {
                let _ = junk.send_to(&random(60_000), srv);
                let _ = junk.send_to(&oversize_sip, srv);
            }
        }
    }
    let unregistered = register_all(&phones, Duration::from_secs(30));
    assert!(unregistered.is_empty(), "not registered: {unregistered:?}");
    assert_eq!(
        reg.unrewritten(),
        (0, String::new()),
        "no complete REGISTER left unrewritten"
    );
    assert_bound_publicly(&reg, &phones);
    let st = lab.status_json().expect("the daemon lives");
    assert!(counter(&st, "unparsable") > 1000, "{st}");
    assert!(
        counter(&st, "queue_dropped") > 0,
        "the storm overflowed: {st}"
    );
    assert_eq!(st.matches("\"aor\":").count(), phones.len(), "{st}");
}
