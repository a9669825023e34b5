//! The daemon's per-message work outside netlink, for instruction counts
//! (`valgrind --tool=callgrind`) and allocation counts: a `Processor` configured as the
//! daemon runs it (`alg=1`, a WAN address) is fed the lab benchmark's transactions
//! (`tests/lab/bench.py`): per transaction a NEW call, an outbound INVITE with SDP from
//! the phone 192.168.1.20:5060 to the server 198.51.100.10:5060 (new Call-ID, branch
//! and media port) and the server's inbound 200 OK with SDP to the phone's public
//! mapping, the actions taken and the verdicts' buffers given back after each pair as
//! the daemon does after a burst.
//! Past 4,096 calls every new call evicts the oldest.
//!
//! With `--register` each transaction is instead a NEW phone (a new endpoint of
//! 192.168.1.20, its own port kept on the WAN) registering: its REGISTER and the
//! registrar's 200 (a registration storm's work per phone), up to 25,000 phones.
//!
//! `processor [N] [digest] [--register]` (default 20,000) prints N, the allocations in the loop and
//! per transaction; with `digest` also a hash of every action (in order) and every
//! verdict, to compare two builds' behaviour. Instructions per transaction: callgrind's total for N minus the total
//! for N=0 (start-up), divided by N. The packets are patched in place from two
//! templates (fixed-width numbers; UDP checksum 0, which the processor does not
//! check), so the driver itself allocates nothing in the loop and costs little.
use sipalg::alg::{Hook, Policy, Processor, Resume, Step, Verdict};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

const WAN: [u8; 4] = [198, 51, 100, 1];
const PHONE: [u8; 4] = [192, 168, 1, 20];
const SERVER: [u8; 4] = [198, 51, 100, 10];

/// `LEN` is the body's length; `#` runs are replaced by the transaction's number (Call-ID, branch), `PPPPP` by the
/// phone's media port, `RRRRR` by the server's.
const INVITE: &str = "INVITE sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK########;rport\r\nMax-Forwards: 70\r\nTo: Bob <sip:bob@198.51.100.10>\r\nFrom: Alice <sip:alice@192.168.1.20>;tag=1928301774\r\nCall-ID: ########@192.168.1.20\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.168.1.20:5060>\r\nUser-Agent: bench\r\nContent-Type: application/sdp\r\nContent-Length: LEN\r\n\r\nv=0\r\no=alice 2890844526 2890844526 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio PPPPP RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK########;rport=5060;received=198.51.100.1\r\nTo: Bob <sip:bob@198.51.100.10>;tag=a6c85cf\r\nFrom: Alice <sip:alice@192.168.1.20>;tag=1928301774\r\nCall-ID: ########@192.168.1.20\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@198.51.100.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: LEN\r\n\r\nv=0\r\no=bob 2808844564 2808844564 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio RRRRR RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A phone's REGISTER (`--register`): `PPPPP` is the phone's own port (every phone a
/// new endpoint of 192.168.1.20, keeping its port on the WAN), `#` the transaction.
const REGISTER: &str = "REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:PPPPP;branch=z9hG4bK########;rport\r\nMax-Forwards: 70\r\nFrom: <sip:########@198.51.100.10>;tag=1928301774\r\nTo: <sip:########@198.51.100.10>\r\nCall-ID: ########@192.168.1.20\r\nCSeq: 1 REGISTER\r\nContact: <sip:########@192.168.1.20:PPPPP>\r\nExpires: 3600\r\nUser-Agent: bench\r\nContent-Length: LEN\r\n\r\n";
/// The registrar's 200 to it, at the phone's public mapping.
const REGISTER_OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:PPPPP;branch=z9hG4bK########;rport=PPPPP;received=198.51.100.1\r\nFrom: <sip:########@198.51.100.10>;tag=1928301774\r\nTo: <sip:########@198.51.100.10>;tag=37GkEhwl6\r\nCall-ID: ########@192.168.1.20\r\nCSeq: 1 REGISTER\r\nContact: <sip:########@198.51.100.1:PPPPP>;expires=3600\r\nContent-Length: LEN\r\n\r\n";

/// An IPv4/UDP packet around `payload` (UDP checksum 0), and where in it the
/// placeholders are.
struct Template {
    packet: Vec<u8>,
    number: Vec<usize>,
    ports: Vec<usize>,
}

impl Template {
    fn new(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &str, port_mark: &str) -> Self {
        let body = payload.len() - payload.find("\r\n\r\n").unwrap() - 4;
        let payload = &payload.replace("LEN", &body.to_string());
        let total = (28 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
        p.extend_from_slice(&src.0);
        p.extend_from_slice(&dst.0);
        p.extend_from_slice(&src.1.to_be_bytes());
        p.extend_from_slice(&dst.1.to_be_bytes());
        p.extend_from_slice(&(total - 20).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload.as_bytes());
        let number = payload
            .match_indices("########")
            .map(|(i, _)| 28 + i)
            .collect();
        let ports = payload
            .match_indices(port_mark)
            .map(|(i, _)| 28 + i)
            .collect();
        Template {
            packet: p,
            number,
            ports,
        }
    }

    fn set(&mut self, n: u32, port: u16) {
        for &at in &self.number {
            write_digits(&mut self.packet[at..at + 8], n);
        }
        for &at in &self.ports {
            write_digits(&mut self.packet[at..at + 5], u32::from(port));
        }
    }

    /// Sets the UDP source (`at` 20) or destination (`at` 22) port.
    fn set_udp_port(&mut self, at: usize, port: u16) {
        self.packet[at..at + 2].copy_from_slice(&port.to_be_bytes());
    }
}

fn write_digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let register = std::env::args().any(|a| a == "--register");
    let mut p = Processor::new(Policy::default());
    p.set_policy(Policy::default(), Some(WAN.into()));
    let (mut invite, mut ok) = if register {
        (
            Template::new((PHONE, 10000), (SERVER, 5060), REGISTER, "PPPPP"),
            Template::new((SERVER, 5060), (WAN, 10000), REGISTER_OK, "PPPPP"),
        )
    } else {
        (
            Template::new((PHONE, 5060), (SERVER, 5060), INVITE, "PPPPP"),
            Template::new((SERVER, 5060), (WAN, 5060), OK, "RRRRR"),
        )
    };
    let (mut before, mut trailing) = (Vec::with_capacity(64), Vec::with_capacity(64));
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(2);
    let (mut rewritten, mut actions) = (0u64, 0u64);
    let digest = std::env::args().nth(2).is_some_and(|a| a == "digest");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();

    let allocs = ALLOCS.load(Ordering::Relaxed);
    for i in 0..n {
        // 25,000 distinct even ports from 10000: new for every live call.
        let port = 10_000 + 2 * (i % 25_000) as u16;
        invite.set(i, port);
        ok.set(i, port);
        if register {
            // A new phone (endpoint) each time, registering and answered.
            invite.set_udp_port(20, port);
            ok.set_udp_port(22, port);
        }
        let now = u64::from(i / 1000);
        for (hook, packet) in [
            (Hook::Outbound, &invite.packet[..]),
            (Hook::Inbound, &ok.packet[..]),
        ] {
            let mut resume: Option<Resume> = None;
            loop {
                match p.handle(hook, std::hint::black_box(packet), now, resume.as_ref()) {
                    Step::Verdict(v) => {
                        verdicts.push(v);
                        break;
                    }
                    // The flow is new to conntrack too (the daemon's first packet).
                    Step::Lookup(request) => {
                        resume = Some(Resume {
                            request,
                            answer: None,
                        })
                    }
                }
            }
        }
        p.append_actions(&mut before, &mut trailing);
        actions += (before.len() + trailing.len()) as u64;
        if digest {
            use std::hash::Hash;
            for a in &before {
                format!("{a:?}").hash(&mut hasher);
            }
            "|".hash(&mut hasher);
            for a in &trailing {
                format!("{a:?}").hash(&mut hasher);
            }
            for v in &verdicts {
                match v {
                    Verdict::Replace(b) => b.hash(&mut hasher),
                    Verdict::Accept => "accept".hash(&mut hasher),
                    Verdict::Drop => "drop".hash(&mut hasher),
                }
            }
        }
        std::hint::black_box((&before, &trailing));
        before.clear();
        trailing.clear();
        // Sent: the buffers go back, as the daemon gives them back after a burst.
        for v in verdicts.drain(..) {
            if let Verdict::Replace(b) = std::hint::black_box(v) {
                rewritten += 1;
                p.recycle(b);
            }
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    if n > 0 {
        assert_eq!(rewritten, 2 * u64::from(n), "both messages rewritten");
        if register {
            assert_eq!(p.sizes().1, n.min(16384) as usize);
        } else {
            assert_eq!(p.sizes().0, n.min(4096) as usize);
        }
    }
    println!(
        "transactions {n}, rewritten {rewritten}, actions {actions}, allocations {allocs} ({:.2}/tx)",
        allocs as f64 / f64::from(n.max(1))
    );
    if digest {
        use std::hash::Hasher;
        println!("digest {:016x}", hasher.finish());
    }
}
