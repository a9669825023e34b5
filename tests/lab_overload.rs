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
    /// Whether it answers (a silent registrar keeps every REGISTER pending).
    answering: Arc<AtomicBool>,
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
        let answering = Arc::new(AtomicBool::new(true));
        let (s, b, st) = (Arc::clone(&seen), Arc::clone(&bindings), Arc::clone(&stop));
        let on = Arc::clone(&answering);
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let m = buf[..n].to_vec();
                if complete(&m) && on.load(Ordering::SeqCst) {
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
            answering,
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

// ---------------------------------------------------------------------------- caps

/// `"limits":{..."name":{"now":N,"max":M,"<what>":C}...}` of a status JSON.
fn limit(status: &str, name: &str) -> (u64, u64, u64) {
    let at = status
        .find(&format!("\"{name}\":{{\"now\":"))
        .unwrap_or_else(|| panic!("limit {name} not in status"));
    let part = &status[at..];
    let end = part.find('}').unwrap();
    let nums: Vec<u64> = part[..end]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

/// Waits until the daemon has decided at least `n` messages (bounded).
fn wait_seen(lab: &Lab, n: u64) -> String {
    lab.wait_status(Duration::from_secs(60), "the messages decided", |s| {
        counter(s, "seen") >= n
    })
}

/// A REGISTER from `ip:port` (the same bytes every time it is sent).
fn register_from(ip: &str, port: u16) -> Vec<u8> {
    sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK-c{port};rport\nFrom: <sip:{port}@{SERVER}>;tag=f{port}\nTo: <sip:{port}@{SERVER}>\nCall-ID: real-{port}\nCSeq: 1 REGISTER\nContact: <sip:{port}@{ip}:{port}>\nExpires: 600\n"), "")
}

/// Sends `msg(port)` from each of `ports` (a socket each, in batches of 256 open at a
/// time) and, with `answered`, waits for each one's 200 with its own Via restored
/// (retransmitting every 500 ms, for at most 30 s a batch); returns the ports never
/// answered.
fn send_from_each(
    lab: &Lab,
    host: &str,
    ip: &'static str,
    ports: impl Iterator<Item = u16>,
    msg: impl Fn(u16) -> Vec<u8>,
    answered: bool,
) -> Vec<u16> {
    let srv: SocketAddr = format!("{SERVER}:5060").parse().unwrap();
    let ports: Vec<u16> = ports.collect();
    let mut missing = Vec::new();
    for batch in ports.chunks(256) {
        let socks: Vec<(u16, UdpSocket)> = batch
            .iter()
            .map(|&p| {
                let s = lab.udp(host, &format!("{ip}:{p}"));
                s.set_nonblocking(true).unwrap();
                (p, s)
            })
            .collect();
        for (p, s) in &socks {
            s.send_to(&msg(*p), srv).unwrap();
        }
        if !answered {
            continue;
        }
        let mut waiting: BTreeSet<u16> = batch.iter().copied().collect();
        let start = Instant::now();
        let mut buf = vec![0u8; 65536];
        while !waiting.is_empty() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
            for (p, s) in &socks {
                while let Ok(n) = s.recv(&mut buf) {
                    let t = text(&buf[..n]);
                    if t.starts_with("SIP/2.0 200")
                        && t.contains(&format!("Via: SIP/2.0/UDP {ip}:{p};"))
                    {
                        waiting.remove(p);
                    }
                }
            }
            if start.elapsed().as_millis() % 500 < 20 {
                for (p, s) in &socks {
                    if waiting.contains(p) {
                        s.send_to(&msg(*p), srv).unwrap();
                    }
                }
            }
        }
        missing.extend(waiting);
    }
    missing
}

#[test]
fn at_the_call_cap_the_quietest_call_goes_and_new_calls_are_still_rewritten() {
    let Some(mut lab) = Lab::new("callcap") else {
        return;
    };
    start_alg(&mut lab);
    let reg = Registrar::start(&lab);
    let phone = lab.udp("lan1", &format!("{PHONE1}:5070"));
    phone.set_nonblocking(true).unwrap();
    let srv: SocketAddr = format!("{SERVER}:5060").parse().unwrap();
    let invite = |call: &str, port: u16| {
        sipmsg::sip_sdp(
            &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5070;branch=z9hG4bK-{call};rport\nFrom: <sip:a@{PHONE1}>;tag={call}\nTo: <sip:bob@{SERVER}>\nCall-ID: {call}\nCSeq: 1 INVITE\nContact: <sip:a@{PHONE1}:5070>\n"),
            &sipmsg::sdp(PHONE1, &sipmsg::audio(port)),
        )
    };
    let total = 4096 + 20;
    let mut buf = vec![0u8; 65536];
    for window in (0..total).collect::<Vec<usize>>().chunks(64) {
        let mut waiting: BTreeSet<usize> = window.iter().copied().collect();
        let start = Instant::now();
        while !waiting.is_empty() && start.elapsed() < Duration::from_secs(30) {
            for &i in &waiting {
                phone
                    .send_to(&invite(&format!("cap-{i}"), 10000 + 2 * i as u16), srv)
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(200));
            while let Ok(n) = phone.recv(&mut buf) {
                let t = text(&buf[..n]);
                if let Some(id) = header(&t, "Call-ID: cap-") {
                    if t.contains(&format!("Via: SIP/2.0/UDP {PHONE1}:5070;")) {
                        waiting.remove(&id.trim().parse::<usize>().unwrap());
                    }
                }
            }
        }
        assert!(waiting.is_empty(), "unanswered calls {waiting:?}");
    }
    let st = lab.status_json().unwrap();
    let (now, max, evicted) = limit(&st, "calls");
    assert_eq!((now, max), (4096, 4096), "{}", &st[..st.len().min(2000)]);
    assert_eq!(evicted, 20, "the 20 quietest went");
    assert!(
        !st.contains("\"call_id\":\"cap-0\""),
        "the quietest (first) call is gone"
    );
    assert!(st.contains(&format!("\"call_id\":\"cap-{}\"", total - 1)));
    // A new call past the cap: rewritten out, its 200 restored, tracked.
    phone.send_to(&invite("after-cap", 30000), srv).unwrap();
    let start = Instant::now();
    let mut got = None;
    while got.is_none() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(n) = phone.recv(&mut buf) {
            let t = text(&buf[..n]);
            if t.contains("Call-ID: after-cap") {
                got = Some(t);
            }
        }
    }
    let ok = got.expect("the call after the cap is answered");
    assert!(
        ok.contains(&format!("Via: SIP/2.0/UDP {PHONE1}:5070;")),
        "{ok}"
    );
    assert_eq!(reg.unrewritten(), (0, String::new()));
    let seen = reg.seen.lock().unwrap();
    let inv = seen
        .iter()
        .map(|(m, _)| text(m))
        .find(|m| m.contains("Call-ID: after-cap"))
        .expect("the INVITE arrived");
    assert!(inv.contains(&format!("c=IN IP4 {ROUTER_WAN}")), "{inv}");
    drop(seen);
    let st = lab.status_json().unwrap();
    assert!(st.contains("\"call_id\":\"after-cap\""));
    assert_eq!(limit(&st, "calls"), (4096, 4096, 21));
}

#[test]
fn at_the_registration_caps_the_router_keeps_rewriting_and_every_phone_binds_publicly() {
    let Some(mut lab) = Lab::new("regcap") else {
        return;
    };
    start_alg(&mut lab);
    let reg = Registrar::start(&lab);
    const N: u16 = 16384 + 16;
    let ports = || 20000..20000 + N;
    // 1. The registrar is silent: every phone's REGISTER waits for its response, more
    //    than the pending cap holds (paced, so that the daemon decides them all).
    reg.answering.store(false, Ordering::SeqCst);
    let mut sent = counter(&lab.status_json().unwrap(), "seen");
    let started = Instant::now();
    for chunk in ports().collect::<Vec<u16>>().chunks(512) {
        send_from_each(
            &lab,
            "lan1",
            PHONE1,
            chunk.iter().copied(),
            |p| register_from(PHONE1, p),
            false,
        );
        sent += chunk.len() as u64;
        wait_seen(&lab, sent);
    }
    let st = lab.status_json().unwrap();
    assert_eq!(limit(&st, "pending_registers"), (16384, 16384, 16));
    // Each REGISTER is a transaction the restoration memory keeps (for 32 s), and each
    // phone a contact: both caps are passed too.
    if started.elapsed() < Duration::from_secs(30) {
        assert_eq!(limit(&st, "transactions"), (16384, 16384, 16));
    } else {
        println!(
            "the storm took {:?}: transactions expired meanwhile",
            started.elapsed()
        );
        assert!(limit(&st, "transactions").0 <= 16384);
    }
    assert_eq!(limit(&st, "contacts").0, 16384);
    assert_eq!(limit(&st, "contacts").2, 16);
    assert_eq!(reg.unrewritten(), (0, String::new()));
    // 2. The registrar answers; the phones retransmit until their 200 arrives, restored.
    reg.answering.store(true, Ordering::SeqCst);
    let missing = send_from_each(
        &lab,
        "lan1",
        PHONE1,
        ports(),
        |p| register_from(PHONE1, p),
        true,
    );
    assert!(missing.is_empty(), "not answered: {} phones", missing.len());
    let st = lab.status_json().unwrap();
    assert_eq!(
        limit(&st, "registrations"),
        (16384, 16384, 16),
        "16 phones past the cap are not tracked"
    );
    // Every phone, tracked or not, is bound to its public address: nothing left
    // unrewritten.
    assert_eq!(reg.unrewritten(), (0, String::new()));
    {
        let bindings = reg.bindings.lock().unwrap();
        for p in ports() {
            let (contact, from) = &bindings[&format!("real-{p}")];
            assert_eq!(from.ip().to_string(), ROUTER_WAN);
            assert_eq!(contact, &format!("<sip:{p}@{from}>"));
        }
    }
    // 3. The router keeps working at the caps: a tracked phone refreshes, and a phone
    //    on the other LAN host still registers rewritten and calls.
    let refresh = send_from_each(
        &lab,
        "lan1",
        PHONE1,
        20000..20001,
        |p| {
            let r = String::from_utf8(register_from(PHONE1, p)).unwrap();
            r.replace("CSeq: 1 REGISTER", "CSeq: 2 REGISTER")
                .replace(&format!("z9hG4bK-c{p};"), &format!("z9hG4bK-c{p}b;"))
                .into_bytes()
        },
        true,
    );
    assert!(refresh.is_empty());
    let s = lab::PHONE2;
    let other = send_from_each(&lab, "lan2", s, 5060..5061, |p| register_from(s, p), true);
    assert!(other.is_empty());
    assert_eq!(reg.unrewritten(), (0, String::new()));
    let st = lab.status_json().unwrap();
    assert!(st.contains("\"aor\":\"sip:20000@198.51.100.10\""));
    assert_eq!(limit(&st, "registrations").0, 16384);
}

#[test]
fn when_every_spare_port_is_taken_a_new_endpoint_is_dropped_not_sent_private() {
    let Some(mut lab) = Lab::new("portcap") else {
        return;
    };
    start_alg(&mut lab);
    let reg = Registrar::start(&lab);
    // Phone 1 on 5060 registers first: 5060 is its public port.
    assert!(send_from_each(
        &lab,
        "lan1",
        PHONE1,
        5060..5061,
        |p| register_from(PHONE1, p),
        true
    )
    .is_empty());
    // Endpoints of phone 1 on every port of the spare range take it as their own.
    let options = |p: u16| {
        sip(&format!("OPTIONS sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:{p};branch=z9hG4bK-o{p}\nFrom: <sip:o@{SERVER}>;tag=o\nTo: <sip:{SERVER}>\nCall-ID: o-{p}\nCSeq: 1 OPTIONS\n"), "")
    };
    let mut sent = counter(&lab.status_json().unwrap(), "seen");
    for chunk in (40000..=59999u16).collect::<Vec<u16>>().chunks(512) {
        send_from_each(&lab, "lan1", PHONE1, chunk.iter().copied(), options, false);
        sent += chunk.len() as u64;
        wait_seen(&lab, sent);
    }
    let st = lab.status_json().unwrap();
    assert_eq!(limit(&st, "spare_ports"), (20000, 20000, 0));
    // Phone 2 on 5060 needs a spare port: none is free. Its REGISTER is dropped (it
    // retransmits), never sent with its private Contact.
    let s = lab::PHONE2;
    let phone2 = |p: u16| {
        String::from_utf8(register_from(s, p))
            .unwrap()
            .replace("Call-ID: real-", "Call-ID: phone2-")
            .into_bytes()
    };
    send_from_each(&lab, "lan2", s, 5060..5061, phone2, false);
    let st = lab.wait_status(Duration::from_secs(10), "the refusal", |st| {
        limit(st, "spare_ports").2 >= 1
    });
    assert_eq!(limit(&st, "spare_ports").0, 20000);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(reg.unrewritten(), (0, String::new()));
    assert!(
        !reg.bindings.lock().unwrap().contains_key("phone2-5060"),
        "dropped, not sent with a port phone 1 owns"
    );
    // Phone 1 (it has its mappings) keeps registering and calling.
    let again = send_from_each(
        &lab,
        "lan1",
        PHONE1,
        5060..5061,
        |p| {
            String::from_utf8(register_from(PHONE1, p))
                .unwrap()
                .replace("CSeq: 1 REGISTER", "CSeq: 2 REGISTER")
                .replace("z9hG4bK-c5060;", "z9hG4bK-c5060b;")
                .into_bytes()
        },
        true,
    );
    assert!(again.is_empty());
    let call = send_from_each(
        &lab,
        "lan1",
        PHONE1,
        5060..5061,
        |p| {
            sipmsg::sip_sdp(
            &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:{p};branch=z9hG4bK-pc;rport\nFrom: <sip:a@{PHONE1}>;tag=pc\nTo: <sip:bob@{SERVER}>\nCall-ID: portcap-call\nCSeq: 1 INVITE\nContact: <sip:a@{PHONE1}:{p}>\n"),
            &sipmsg::sdp(PHONE1, &sipmsg::audio(4000)),
        )
        },
        true,
    );
    assert!(call.is_empty(), "phone 1's call is answered");
    assert_eq!(reg.unrewritten(), (0, String::new()));
    assert!(lab
        .status_json()
        .unwrap()
        .contains("\"call_id\":\"portcap-call\""));
}
