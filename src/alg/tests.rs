//! The processor's tests: a fake kernel answers lookups and takes the actions as the
//! daemon does after a burst.

use super::processor::SPARE_BUFFER_BYTES;
use super::*;
use crate::state::actions::Action;
use crate::wire::ipv4::checksums_ok;
use crate::wire::ipv4::UdpPacket;
use std::net::SocketAddrV4;

#[derive(Default)]
struct FakeKernel {
    /// SNAT elements asked for before a verdict: (private, public port).
    programmed: Vec<(SocketAddrV4, u16)>,
    conntrack: Vec<(SocketAddrV4, SocketAddrV4, SocketAddrV4)>, // private, remote, public
    /// Other actions, before-verdict ones first.
    actions: Vec<Action>,
    /// Of those, how many had to precede the verdicts.
    before: usize,
    /// Conntrack lookups the packets asked for.
    lookups: usize,
}

impl FakeKernel {
    /// Answers a lookup from the fake conntrack table.
    fn answer(&self, r: &LookupRequest) -> Option<SocketAddrV4> {
        match *r {
            LookupRequest::NatOfOutbound { src, dst } => self
                .conntrack
                .iter()
                .find(|c| c.0 == src && c.1 == dst)
                .map(|c| c.2),
            LookupRequest::PrivateOfInbound { src, public_dst } => self
                .conntrack
                .iter()
                .find(|c| c.1 == src && c.2 == public_dst)
                .map(|c| c.0),
        }
    }

    /// Handles a packet as the daemon does, answering its lookups.
    fn handle(&mut self, p: &mut Processor, hook: Hook, packet: &[u8], now: u64) -> Verdict {
        let mut resume = None;
        loop {
            match p.handle(hook, packet, now, resume.as_ref()) {
                Step::Verdict(v) => return v,
                Step::Lookup(request) => {
                    self.lookups += 1;
                    resume = Some(Resume {
                        request,
                        answer: self.answer(&request),
                    })
                }
            }
        }
    }
}

impl FakeKernel {
    /// Takes what the processor collected, as the daemon does after a burst.
    fn commit(&mut self, p: &mut Processor) {
        let (before, trailing) = p.take_actions();
        self.actions.clear();
        for a in before {
            match a {
                Action::Snat {
                    private,
                    public_port,
                    ..
                } => self.programmed.push((private, public_port)),
                other => self.actions.push(other),
            }
        }
        self.before = self.actions.len();
        assert!(
            !trailing.iter().any(|a| matches!(a, Action::Snat { .. })),
            "SNAT always precedes the verdict"
        );
        self.actions.extend(trailing);
    }
}

/// An IPv4/UDP packet `src -> dst` carrying `payload`, lengths and checksums right.
fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d): (SocketAddrV4, SocketAddrV4) = (src.parse().unwrap(), dst.parse().unwrap());
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&s.ip().octets());
    p.extend_from_slice(&d.ip().octets());
    p.extend_from_slice(&s.port().to_be_bytes());
    p.extend_from_slice(&d.port().to_be_bytes());
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let mut out = Vec::new();
    UdpPacket::parse(&p)
        .unwrap()
        .rebuild(&mut out, |o| o.extend_from_slice(payload))
        .unwrap();
    out
}

// A response is restored only for a transaction (branch, CSeq method, sent-by) whose
// request the ALG rewrote: both carry a CSeq, as real ones do.
const REGISTER: &[u8] = b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20:5060>\r\nContent-Length: 0\r\n\r\n";
const OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1;received=198.51.100.1;rport=5060\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060>;expires=60\r\nContent-Length: 0\r\n\r\n";

fn processor() -> Processor {
    let mut p = Processor::new(Policy::default());
    p.wan_ip = Some("198.51.100.1".parse().unwrap());
    p
}

#[test]
fn outbound_programs_snat_before_the_verdict_and_rewrites() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    let pkt = udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER);
    let Verdict::Replace(out) = k.handle(&mut p, Hook::Outbound, &pkt, 0) else {
        panic!("not rewritten")
    };
    k.commit(&mut p);
    assert_eq!(
        k.programmed,
        vec![("192.168.1.20:5060".parse().unwrap(), 5060)]
    );
    assert!(checksums_ok(&out));
    let v = UdpPacket::parse(&out).unwrap();
    assert_eq!(
        v.source(),
        "192.168.1.20:5060".parse().unwrap(),
        "addresses in the header are NAT's job"
    );
    assert!(String::from_utf8_lossy(v.payload()).contains("Contact: <sip:100@198.51.100.1:5060>"));
    assert_eq!(
        p.counters,
        Counters {
            seen: 1,
            rewritten: 1,
            ..Counters::default()
        }
    );

    // The response comes back to the public port and is restored.
    let back = udp("198.51.100.10:5060", "198.51.100.1:5060", OK);
    let Verdict::Replace(out) = k.handle(&mut p, Hook::Inbound, &back, 1) else {
        panic!("not restored")
    };
    let text = String::from_utf8_lossy(UdpPacket::parse(&out).unwrap().payload()).into_owned();
    assert!(
        text.contains(
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=192.168.1.20;rport=5060"
        ),
        "{text}"
    );
    assert!(
        text.contains("Contact: <sip:100@192.168.1.20:5060>;expires=60"),
        "{text}"
    );
}

#[test]
fn a_sent_verdicts_buffer_serves_the_next_rewritten_packet() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    let pkt = udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER);
    let Verdict::Replace(first) = k.handle(&mut p, Hook::Outbound, &pkt, 0) else {
        panic!("not rewritten")
    };
    let (at, copy) = (first.as_ptr(), first.clone());
    p.recycle(first);
    let Verdict::Replace(again) = k.handle(&mut p, Hook::Outbound, &pkt, 0) else {
        panic!("not rewritten")
    };
    assert_eq!(again.as_ptr(), at, "the same buffer");
    assert_eq!(again, copy, "filled afresh");
    // Too large to keep: dropped, not kept.
    p.recycle(Vec::with_capacity(SPARE_BUFFER_BYTES + 1));
    assert!(p.buffers.is_empty());
}

#[test]
fn a_nat_aware_phones_register_and_its_200_pass_byte_for_byte() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    let aware = String::from_utf8_lossy(REGISTER).replace("192.168.1.20", "198.51.100.1");
    let pkt = udp("192.168.1.20:5060", "198.51.100.10:5060", aware.as_bytes());
    assert!(matches!(
        k.handle(&mut p, Hook::Outbound, &pkt, 0),
        Verdict::Accept
    ));
    let back = udp("198.51.100.10:5060", "198.51.100.1:5060", OK);
    assert!(matches!(
        k.handle(&mut p, Hook::Inbound, &back, 1),
        Verdict::Accept
    ));
    assert_eq!(
        (
            p.counters.rewritten,
            p.counters.unchanged,
            p.counters.not_restored
        ),
        (0, 2, 1)
    );
    // Housekeeping forgets the transaction after timer F; the contact stays.
    let _ = p.housekeeping(40, None);
    assert_eq!((p.restore.transactions(), p.restore.contacts()), (0, 1));
}

#[test]
fn second_phone_on_the_same_port_gets_another_public_port() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER),
        0,
    );
    let second = String::from_utf8_lossy(REGISTER).replace("192.168.1.20", "192.168.1.21");
    let Verdict::Replace(out) = k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.21:5060", "198.51.100.10:5060", second.as_bytes()),
        0,
    ) else {
        panic!()
    };
    k.commit(&mut p);
    let public2 = k.programmed[1].1;
    assert_ne!(public2, 5060);
    let text = String::from_utf8_lossy(UdpPacket::parse(&out).unwrap().payload()).into_owned();
    assert!(
        text.contains(&format!("Contact: <sip:100@198.51.100.1:{public2}>")),
        "{text}"
    );
}

#[test]
fn flows_that_predate_the_daemon_keep_their_kernel_mapping() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    k.conntrack.push((
        "192.168.1.20:5060".parse().unwrap(),
        "198.51.100.10:5060".parse().unwrap(),
        "198.51.100.1:61000".parse().unwrap(),
    ));
    let Verdict::Replace(out) = k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER),
        0,
    ) else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&out).contains("198.51.100.1:61000"));
    assert_eq!(k.lookups, 1, "asked once, then resumed");
    assert_eq!(p.counters.seen, 1, "a resumed packet counts once");
    // Asking changes nothing: the packet is decided when resumed.
    let mut q = processor();
    let register = udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER);
    let Step::Lookup(request) = q.handle(Hook::Outbound, &register, 0, None) else {
        panic!("a new flow asks conntrack first")
    };
    assert_eq!(
        request,
        LookupRequest::NatOfOutbound {
            src: "192.168.1.20:5060".parse().unwrap(),
            dst: "198.51.100.10:5060".parse().unwrap()
        }
    );
    assert_eq!(
        (q.counters, q.mappings.iter().count()),
        (Counters::default(), 0)
    );
    let (before, trailing) = q.take_actions();
    assert!(before.is_empty() && trailing.is_empty());
    // Inbound to an unknown public port is resolved through conntrack too.
    let mut p = processor();
    let back = udp("198.51.100.10:5060", "198.51.100.1:61000", OK);
    assert!(matches!(
        k.handle(&mut p, Hook::Inbound, &back, 0),
        Verdict::Accept | Verdict::Replace(_)
    ));
    assert_eq!(
        p.mappings.by_public_port(61000).unwrap().private,
        "192.168.1.20:5060".parse().unwrap()
    );
}

#[test]
fn a_skipped_rewrite_gives_back_the_media_ports_it_claimed() {
    // 70 Contacts with the phone's address: more edits than a plan holds, found
    // out after the SDP's media port was claimed. The message passes unchanged and
    // the port goes back.
    let contacts = "Contact: <sip:a@192.168.1.20:5060>\r\n".repeat(70);
    let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\nm=audio 4000 RTP/AVP 0\r\n";
    let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK9\r\nCall-ID: big\r\nCSeq: 1 INVITE\r\n{contacts}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    let mut p = processor();
    let mut k = FakeKernel::default();
    let v = k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", inv.as_bytes()),
        0,
    );
    assert!(matches!(v, Verdict::Accept), "passed unchanged");
    assert_eq!(p.pool.owner(4000), None, "no media port leaks");
    assert_eq!(p.pool.len(), 1, "only the signalling port: {:?}", p.pool);
}

#[test]
fn with_no_public_port_free_a_message_is_dropped_never_sent_with_private_addresses() {
    let mut p = processor();
    p.pool.spare = 40000..=40003;
    let mut k = FakeKernel::default();
    // Phone .20 owns 5060 and 4000/4001; four others on 5060 take the spare ports.
    k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER),
        0,
    );
    for i in 21..25 {
        let reg =
            String::from_utf8_lossy(REGISTER).replace("192.168.1.20", &format!("192.168.1.{i}"));
        assert!(matches!(
            k.handle(
                &mut p,
                Hook::Outbound,
                &udp(
                    &format!("192.168.1.{i}:5060"),
                    "198.51.100.10:5060",
                    reg.as_bytes()
                ),
                0
            ),
            Verdict::Replace(_)
        ));
    }
    // A fifth endpoint on 5060: no port for its signalling.
    let reg = String::from_utf8_lossy(REGISTER).replace("192.168.1.20", "192.168.1.30");
    let pkt = udp("192.168.1.30:5060", "198.51.100.10:5060", reg.as_bytes());
    assert!(matches!(
        k.handle(&mut p, Hook::Outbound, &pkt, 0),
        Verdict::Drop
    ));
    assert_eq!(p.pool.exhausted, 1);
    assert!(p
        .mappings
        .by_private("192.168.1.30:5060".parse().unwrap())
        .is_none());
    // Phone .21 (it has a mapping) calls with media on 4000, which .20 holds: no
    // spare pair left, so the INVITE is dropped and leaves no call or port behind.
    let sdp = "v=0\r\nc=IN IP4 192.168.1.21\r\nm=audio 4000 RTP/AVP 0\r\n";
    let offer = |ip: &str| {
        format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bKx\r\nCall-ID: x-{ip}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}", sdp.len(), sdp.replace("192.168.1.21", ip))
    };
    let inv20 = offer("192.168.1.20");
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", inv20.as_bytes()),
            1
        ),
        Verdict::Replace(_)
    ));
    let owned = p.pool.len();
    let inv21 = offer("192.168.1.21");
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.21:5060", "198.51.100.10:5060", inv21.as_bytes()),
            1
        ),
        Verdict::Drop
    ));
    assert_eq!(
        (p.calls.len(), p.pool.len(), p.pool.exhausted),
        (1, owned, 2)
    );
    // The next message is not refused for it.
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER),
            2
        ),
        Verdict::Replace(_)
    ));
}

#[test]
fn alg_off_garbage_and_unknown_flows_pass_unchanged() {
    let mut p = processor();
    p.policy.alg = false;
    let mut k = FakeKernel::default();
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", REGISTER),
            0
        ),
        Verdict::Accept
    ));
    k.commit(&mut p);
    assert!(k.programmed.is_empty());
    p.policy.alg = true;
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", b"\x00garbage"),
            0
        ),
        Verdict::Accept
    ));
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Inbound,
            &udp("198.51.100.66:5060", "198.51.100.1:7777", OK),
            0
        ),
        Verdict::Accept
    ));
    assert!(matches!(
        k.handle(&mut p, Hook::Outbound, &[0x60, 0, 0], 0),
        Verdict::Accept
    ));
    assert_eq!(p.counters.seen, 4);
    assert_eq!(p.counters.unparsable, 2);
    assert_eq!(p.counters.unchanged, 2);
}

/// Eight phones register and each places a call; what a replay after a reload
/// emits.
fn replay_of_a_fresh_processor() -> Vec<Action> {
    let mut p = processor();
    let mut k = FakeKernel::default();
    for i in 0..8u16 {
        let (ip, port) = (format!("192.168.1.{}", 20 + i), 5060 + 2 * i);
        let reg = format!("REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:{port};branch=z9hG4bKr{i};rport\r\nTo: <sip:{i}@pbx>\r\nCall-ID: r{i}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{i}@{ip}:{port}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n");
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp(
                &format!("{ip}:{port}"),
                "198.51.100.10:5060",
                reg.as_bytes(),
            ),
            0,
        );
        let ok = format!("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:{port};branch=z9hG4bKr{i}\r\nCall-ID: r{i}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{i}@198.51.100.1:{port}>;expires=120\r\nContent-Length: 0\r\n\r\n");
        k.handle(
            &mut p,
            Hook::Inbound,
            &udp(
                "198.51.100.10:5060",
                &format!("198.51.100.1:{port}"),
                ok.as_bytes(),
            ),
            1,
        );
        let sdp = format!(
            "v=0\r\nc=IN IP4 {ip}\r\nm=audio {} RTP/AVP 0\r\n",
            4000 + 2 * i
        );
        let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:{port};branch=z9hG4bKc{i}\r\nCall-ID: c{i}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp(
                &format!("{ip}:{port}"),
                "198.51.100.10:5060",
                inv.as_bytes(),
            ),
            2,
        );
    }
    assert_eq!((p.registrations.len(), p.calls.len()), (8, 8));
    p.replay(3)
}

#[test]
fn a_replay_comes_out_in_the_same_order_every_time() {
    let first = replay_of_a_fresh_processor();
    assert_eq!(
        first.len(),
        8 * (2 + 1),
        "per call 2 media SNAT (which mark media too), per phone 1"
    );
    for _ in 0..4 {
        assert_eq!(replay_of_a_fresh_processor(), first);
    }
}

/// What [`register_phone`] sends: the REGISTER, and the registrar's 200.
const PHONE_REGISTER: &[u8] = b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
const PHONE_REGISTERED: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060>;expires=120\r\nContent-Length: 0\r\n\r\n";

/// Phone 192.168.1.20 registers at 198.51.100.10 (at 0 s) and the registrar's 200
/// grants 120 s (at 1 s).
fn register_phone(p: &mut Processor, k: &mut FakeKernel) {
    k.handle(
        p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", PHONE_REGISTER),
        0,
    );
    k.handle(
        p,
        Hook::Inbound,
        &udp("198.51.100.10:5060", "198.51.100.1:5060", PHONE_REGISTERED),
        1,
    );
}

#[test]
fn registration_and_call_state_follow_the_datapath() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    register_phone(&mut p, &mut k);
    k.commit(&mut p);
    assert_eq!(
        k.actions,
        vec![
            Action::Reachable {
                registrar: "198.51.100.10".parse().unwrap(),
                public_port: 5060,
                private: "192.168.1.20:5060".parse().unwrap(),
                seconds: 150,
                refresh: false,
            },
            Action::FlowTimeout {
                private: "192.168.1.20:5060".parse().unwrap(),
                remote: "198.51.100.10:5060".parse().unwrap(),
                seconds: 150
            },
        ]
    );
    assert_eq!(p.registrations.len(), 1);

    // A call: the INVITE's SDP is rewritten with the port the state allocated.
    k.actions.clear();
    let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\nm=audio 4000 RTP/AVP 0\r\n";
    let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    let Verdict::Replace(out) = k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", inv.as_bytes()),
        2,
    ) else {
        panic!()
    };
    assert!(
        String::from_utf8_lossy(&out).contains("c=IN IP4 198.51.100.1\r\nm=audio 4000 RTP/AVP 0")
    );
    k.commit(&mut p);
    assert_eq!(k.before, 0, "media actions may trail the verdict");
    assert!(k.actions.contains(&Action::MediaSnat {
        private: "192.168.1.20:4000".parse().unwrap(),
        public_port: 4000
    }));
    assert_eq!(p.calls.len(), 1);

    // With the ALG off: nothing rewritten, registration kept alive, media still marked.
    let mut p = processor();
    p.policy.alg = false;
    let mut k = FakeKernel::default();
    k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", PHONE_REGISTER),
        0,
    );
    k.conntrack.push((
        "192.168.1.20:5060".parse().unwrap(),
        "198.51.100.10:5060".parse().unwrap(),
        "198.51.100.1:5060".parse().unwrap(),
    ));
    let ok_plain = String::from_utf8_lossy(PHONE_REGISTERED)
        .replace("198.51.100.1:5060>", "192.168.1.20:5060>");
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Inbound,
            &udp(
                "198.51.100.10:5060",
                "198.51.100.1:5060",
                ok_plain.as_bytes()
            ),
            1
        ),
        Verdict::Accept
    ));
    k.commit(&mut p);
    assert!(
        matches!(
            k.actions.as_slice(),
            [Action::FlowTimeout { seconds: 150, .. }]
        ),
        "{:?}",
        k.actions
    );
    assert!(matches!(
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", inv.as_bytes()),
            2
        ),
        Verdict::Accept
    ));
    k.commit(&mut p);
    assert!(k.actions.contains(&Action::MediaEndpoint {
        private: "192.168.1.20:4000".parse().unwrap()
    }));
    assert!(!k
        .actions
        .iter()
        .any(|a| matches!(a, Action::MediaSnat { .. })));
}

#[test]
fn the_core_answers_what_the_daemon_asks_snat_elements_and_a_status_snapshot() {
    let mut p = processor();
    let mut k = FakeKernel::default();
    register_phone(&mut p, &mut k);
    let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\nm=audio 4000 RTP/AVP 0\r\n";
    let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    k.handle(
        &mut p,
        Hook::Outbound,
        &udp("192.168.1.20:5060", "198.51.100.10:5060", inv.as_bytes()),
        2,
    );
    let private: SocketAddrV4 = "192.168.1.20:5060".parse().unwrap();
    assert_eq!(
        p.snat_elements(),
        vec![SnatElement {
            private,
            public_port: 5060,
            seconds: 3600
        }]
    );
    let s = p.snapshot(12);
    assert!(s.alg);
    assert_eq!(s.counters, p.counters());
    assert_eq!(
        s.mappings,
        vec![(
            "192.168.1.20:5060".to_string(),
            "198.51.100.1:5060".to_string()
        )]
    );
    assert_eq!(s.registrations.len(), 1);
    let r = &s.registrations[0];
    assert_eq!(
        (
            &r.aor[..],
            &r.private[..],
            &r.public[..],
            &r.registrar[..],
            r.expires_in
        ),
        (
            "sip:100@pbx",
            "192.168.1.20:5060",
            "198.51.100.1:5060",
            "198.51.100.10:5060",
            109
        )
    );
    assert_eq!(s.calls.len(), 1);
    let c = &s.calls[0];
    assert_eq!((&c.call_id[..], c.outbound, c.age), ("c1", true, 10));
    assert_eq!(c.streams.len(), 1);
    assert_eq!(
        (
            c.streams[0].private.as_deref(),
            c.streams[0].public.as_deref()
        ),
        (Some("192.168.1.20:4000"), Some("198.51.100.1:4000"))
    );
    let names: Vec<_> = s.limits.iter().map(|l| (l.name, l.now)).collect();
    assert_eq!(
        names,
        vec![
            ("calls", 1),
            ("registrations", 1),
            ("pending_registers", 0),
            ("transactions", p.restore.transactions() as u64),
            ("contacts", p.restore.contacts() as u64),
            ("spare_ports", 0)
        ]
    );
    // The external address is what the far end sees, and what status shows.
    let policy = Policy {
        external_ip: Some("203.0.113.7".parse().unwrap()),
        ..*p.policy()
    };
    p.set_policy(policy, p.wan_ip());
    let s = p.snapshot(12);
    assert_eq!(s.external_address, policy.external_ip);
    assert_eq!(s.mappings[0].1, "203.0.113.7:5060");
    assert_eq!(s.registrations[0].public, "203.0.113.7:5060");
    // No SNAT elements with the ALG off or without a WAN address.
    p.set_policy(
        Policy {
            alg: false,
            ..policy
        },
        p.wan_ip(),
    );
    assert!(p.snat_elements().is_empty());
    assert!(!p.snapshot(12).alg);
    p.set_policy(policy, None);
    assert!(p.snat_elements().is_empty());
    assert_eq!(p.snapshot(12).mappings[0].1, "203.0.113.7:5060");
}

/// The core, not the daemon, decides what a WAN change costs: the state made for a WAN
/// address lives as long as the router has that address.
#[test]
fn state_is_forgotten_only_when_the_wan_address_changes() {
    let registered = |p: &Processor| p.snat_elements().len() + p.replay(2).len();
    let wan = |ip: &str| Some(ip.parse().unwrap());
    let mut p = processor();
    let mut k = FakeKernel::default();
    register_phone(&mut p, &mut k);
    let before = registered(&p);
    assert_eq!(before, 2, "a mapping and a registration");
    // A reload with the same address (or a new WAN device that has it) keeps them.
    p.set_policy(Policy::default(), wan("198.51.100.1"));
    assert_eq!(registered(&p), before);
    // A PPPoE reconnect that gets the same address back: kept.
    p.set_policy(Policy::default(), None);
    p.set_policy(Policy::default(), wan("198.51.100.1"));
    assert_eq!(registered(&p), before);
    // external_address set: the ports are still the router's, kept.
    let fixed = Policy {
        external_ip: Some("203.0.113.7".parse().unwrap()),
        ..Policy::default()
    };
    p.set_policy(fixed, wan("198.51.100.1"));
    assert_eq!(registered(&p), before);
    // A new WAN address, even after a while without one: forgotten.
    p.set_policy(fixed, None);
    assert_eq!(
        p.replay(2).len(),
        1,
        "the registration is kept, no SNAT without a WAN"
    );
    p.set_policy(fixed, wan("198.51.100.2"));
    assert_eq!(registered(&p), 0);
}
