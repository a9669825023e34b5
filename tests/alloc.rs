//! The engine allocates nothing for a message it leaves unchanged, and exactly one
//! buffer (the output) for a message it rewrites. Counted with a wrapping allocator.

use sipalg::engine::{plan, Direction, KeepPorts, Nat};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

const INVITE: &[u8] = b"INVITE sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK776asdhds;rport\r\nMax-Forwards: 70\r\nTo: Bob <sip:bob@198.51.100.10>\r\nFrom: Alice <sip:alice@192.168.1.20>;tag=1928301774\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@192.168.1.20:5060;transport=udp>\r\nContent-Type: application/sdp\r\nContent-Length: 138\r\n\r\nv=0\r\no=alice 2890844526 2890844526 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.load(Ordering::SeqCst);
    f();
    ALLOCS.load(Ordering::SeqCst) - before
}

// One test function only: the counter is global and the harness runs tests in threads.
#[test]
fn allocation_counts() {
    let nat = Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    };
    let stranger = Nat {
        private: "10.9.9.9:5060".parse().unwrap(),
        public: "203.0.113.9:5060".parse().unwrap(),
    };

    let n = allocations(|| {
        let p = plan(INVITE, Direction::Outbound, &stranger, &mut KeepPorts).unwrap();
        assert!(p.is_unchanged());
        assert_eq!(p.facts.sdp.unwrap().streams().len(), 1);
    });
    assert_eq!(n, 0, "an unchanged message must not allocate");

    let n = allocations(|| {
        let p = plan(INVITE, Direction::Inbound, &nat, &mut KeepPorts).unwrap();
        assert!(p.is_unchanged());
    });
    assert_eq!(n, 0, "an unchanged inbound message must not allocate");

    let mut out = Vec::new();
    let n = allocations(|| {
        let p = plan(INVITE, Direction::Outbound, &nat, &mut KeepPorts).unwrap();
        assert!(!p.is_unchanged());
        p.write_into(&mut out);
    });
    assert_eq!(n, 1, "a rewritten message needs exactly one output buffer");
    assert!(out.windows(11).any(|w| w == b"203.0.113.1"));
}
