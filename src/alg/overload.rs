//! What to keep and what to shed when sipalgd cannot keep up (a registration storm after
//! a power cut, on a router CPU ten times slower than a PC core). Pure: the daemon
//! reports the facts of each queued packet as it reads it (its id, hook and bytes) and
//! asks which to decide next; this says which to drop.
//!
//! Nothing is ever passed unrewritten: a message that cannot be handled in time is
//! dropped, and its sender retransmits it (RFC 3261 §17.1.1.2 timer A, §17.1.2.2 timer
//! E; a UAS retransmits its 2xx, §13.3.1.4). What the kernel alone does once its queue
//! socket is full is drop the newest packets (tail drop, first come first served): the
//! daemon then spends its time on requests whose sender has already retransmitted them
//! (both copies are rewritten and forwarded, and the far end answers both), and the
//! responses that would complete transactions wait behind new requests, so the phones
//! retransmit more. The [`Backlog`] held here instead:
//!
//! - **drops a request (or response) whose retransmission is waiting behind it**: the
//!   same datagram (same addresses and ports, byte-identical SIP: RFC 3261 retransmits
//!   requests and responses unchanged) is decided once, as its newest copy;
//! - **decides responses and in-dialog requests first** ([`Class::Priority`]): each one
//!   completes work already done (a REGISTER forwarded, a call answered); losing one
//!   costs a whole retransmission cycle of its request and the far end's work again. New
//!   requests (REGISTER, INVITE, OPTIONS, SUBSCRIBE, CANCEL, ...) take at least a
//!   quarter of every burst while they wait, so they are never starved;
//! - **is bounded** ([`Limits`]): the daemon reads from the queue only while it has
//!   room ([`Backlog::has_room`]); beyond, the kernel's socket holds what waits and,
//!   when full, the kernel drops the newest (measured: reading a datagram only to drop
//!   it costs the CPU-starved daemon more than the kernel's drop, which happens before
//!   it). Should a datagram not fit all the same (a huge one), the oldest datagram that
//!   is not SIP goes first, then the oldest new request, and only then the oldest
//!   priority message. Order of arrival is kept within each class. (A CANCEL is a new
//!   request here: it must not overtake the INVITE it cancels.)
//!
//! Datagrams that are not SIP are never deduplicated; like everything else they are
//! decided (passed unchanged) unless the backlog is full.

use super::processor::Hook;
use crate::wire::ipv4::UdpPacket;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// How a waiting datagram is treated under overload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Responses, and requests within a dialog (ACK, BYE, PRACK, UPDATE, INFO,
    /// NOTIFY): decided first.
    Priority,
    /// Requests that start something: REGISTER, INVITE (also a re-INVITE, which cannot
    /// be told apart without parsing), OPTIONS, SUBSCRIBE, MESSAGE, CANCEL, ...
    New,
    /// Not a SIP message: shed first when the backlog is full.
    Other,
}

impl Class {
    fn index(self) -> usize {
        self as usize
    }
}

/// The class of an IPv4/UDP packet from its SIP start line (no header is parsed: this
/// runs for every packet, before anything else).
pub fn classify(packet: &[u8]) -> Class {
    let Ok(udp) = UdpPacket::parse(packet) else {
        return Class::Other;
    };
    let p = udp.payload();
    if p.starts_with(b"SIP/2.0 ") {
        return Class::Priority;
    }
    let Some(sp) = p.iter().take(20).position(|&b| b == b' ') else {
        return Class::Other;
    };
    if sp == 0 || !p[sp + 1..].starts_with(b"sip") && !p[sp + 1..].starts_with(b"tel:") {
        return Class::Other;
    }
    match &p[..sp] {
        b"ACK" | b"BYE" | b"PRACK" | b"UPDATE" | b"INFO" | b"NOTIFY" => Class::Priority,
        m if m.iter().all(u8::is_ascii_uppercase) => Class::New,
        _ => Class::Other,
    }
}

/// Two IPv4/UDP datagrams carry the same message: same addresses, ports and UDP
/// payload (the IP header's id and checksum differ between retransmissions).
fn same_message(a: &[u8], b: &[u8]) -> bool {
    match (UdpPacket::parse(a), UdpPacket::parse(b)) {
        (Ok(x), Ok(y)) => {
            x.source() == y.source()
                && x.destination() == y.destination()
                && x.payload() == y.payload()
        }
        _ => false,
    }
}

/// How much the backlog holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_packets: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    /// 2,048 datagrams or 2 MiB: about as many as the kernel's queue socket held alone
    /// before (with it, the daemon sees nearly all that waits, so responses can go
    /// first and retransmissions can replace their originals); the 2 MiB stop a few
    /// 64 KB datagrams from holding it all.
    fn default() -> Self {
        Limits {
            max_packets: 2048,
            max_bytes: 2 << 20,
        }
    }
}

/// What the backlog dropped, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// A newer copy of the same datagram was waiting (the sender had retransmitted it).
    pub duplicates: u64,
    /// The backlog was full.
    pub overflow: u64,
}

/// A datagram waiting to be decided.
#[derive(Debug)]
pub struct Held {
    pub id: u32,
    pub hook: Hook,
    pub packet: Vec<u8>,
    pub class: Class,
    seq: u64,
    hash: Option<u64>,
    dead: bool,
}

/// Datagrams read from the queue and not decided yet, per class in arrival order.
#[derive(Debug)]
pub struct Backlog {
    queues: [VecDeque<Held>; 3],
    live: usize,
    bytes: usize,
    /// Content hash → (class, seq) of the newest waiting copy.
    index: HashMap<u64, (Class, u64)>,
    seq: u64,
    key: u64,
    spare: Vec<Vec<u8>>,
    limits: Limits,
    pub shed: Shed,
}

/// Buffers kept for reuse (each at most this large).
const SPARE: usize = 256;
const SPARE_BYTES: usize = 4096;

impl Backlog {
    pub fn new(limits: Limits) -> Self {
        Backlog {
            queues: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            live: 0,
            bytes: 0,
            index: HashMap::new(),
            seq: 0,
            key: std::collections::hash_map::RandomState::new().hash_one(0u64),
            spare: Vec::new(),
            limits,
            shed: Shed::default(),
        }
    }

    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether `n` more datagrams of up to `bytes` each fit without dropping anything.
    /// The daemon reads from the queue only while they do: what does not fit waits in
    /// the kernel's socket, and once that is full the kernel drops the newest (which
    /// costs the daemon nothing; shedding here would cost it reading them).
    pub fn has_room(&self, n: usize, bytes: usize) -> bool {
        self.live + n <= self.limits.max_packets && self.bytes + n * bytes <= self.limits.max_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// A hash of what makes two datagrams the same message: addresses, ports and the
    /// UDP payload (a retransmission has a new IP id and checksum), keyed per process.
    fn content_hash(&self, hook: Hook, packet: &[u8]) -> Option<u64> {
        let udp = UdpPacket::parse(packet).ok()?;
        let mut h = self.key ^ (hook == Hook::Inbound) as u64;
        let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        let (s, d) = (udp.source(), udp.destination());
        h = mix(h, u64::from(u32::from(*s.ip())) << 16 | u64::from(s.port()));
        h = mix(h, u64::from(u32::from(*d.ip())) << 16 | u64::from(d.port()));
        let payload = udp.payload();
        let mut chunks = payload.chunks_exact(8);
        for c in &mut chunks {
            h = mix(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        Some(mix(
            h,
            u64::from_le_bytes(last) ^ (payload.len() as u64) << 56,
        ))
    }

    /// The waiting datagram of `class` with arrival number `seq`, if still waiting.
    #[cfg(test)]
    fn find(&mut self, class: Class, seq: u64) -> Option<&mut Held> {
        let q = &mut self.queues[class.index()];
        let i = q.binary_search_by_key(&seq, |h| h.seq).ok()?;
        q.get_mut(i).filter(|h| !h.dead)
    }

    /// Marks a waiting datagram dropped (its buffer is reused) and returns its id.
    fn drop_held(
        h: &mut Held,
        live: &mut usize,
        bytes: &mut usize,
        spare: &mut Vec<Vec<u8>>,
    ) -> u32 {
        h.dead = true;
        *live -= 1;
        *bytes -= h.packet.len();
        let mut b = std::mem::take(&mut h.packet);
        if spare.len() < SPARE && b.capacity() <= SPARE_BYTES {
            b.clear();
            spare.push(b);
        }
        h.id
    }

    /// Takes in a datagram just read from the queue; the ids of the datagrams to drop
    /// now (an older copy of it, or what no longer fits) are appended to `shed`.
    pub fn admit(&mut self, id: u32, hook: Hook, packet: &[u8], shed: &mut Vec<u32>) {
        let class = classify(packet);
        let hash = if class == Class::Other {
            None
        } else {
            self.content_hash(hook, packet)
        };
        if let Some(h) = hash {
            if let Some(&(c, seq)) = self.index.get(&h) {
                let Backlog {
                    queues,
                    live,
                    bytes,
                    spare,
                    ..
                } = self;
                let q = &mut queues[c.index()];
                if let Ok(i) = q.binary_search_by_key(&seq, |x| x.seq) {
                    let old = &mut q[i];
                    if !old.dead && old.hook == hook && same_message(&old.packet, packet) {
                        shed.push(Self::drop_held(old, live, bytes, spare));
                        self.shed.duplicates += 1;
                    }
                }
            }
        }
        self.seq += 1;
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.extend_from_slice(packet);
        self.live += 1;
        self.bytes += buf.len();
        self.queues[class.index()].push_back(Held {
            id,
            hook,
            packet: buf,
            class,
            seq: self.seq,
            hash,
            dead: false,
        });
        if let Some(h) = hash {
            self.index.insert(h, (class, self.seq));
        }
        while self.live > self.limits.max_packets || self.bytes > self.limits.max_bytes {
            let Some(id) = self.drop_oldest() else { break };
            shed.push(id);
            self.shed.overflow += 1;
        }
    }

    /// Drops the oldest waiting datagram that is not SIP, else the oldest new request,
    /// else the oldest priority message.
    fn drop_oldest(&mut self) -> Option<u32> {
        for class in [Class::Other, Class::New, Class::Priority] {
            self.trim(class);
            let Backlog {
                queues,
                live,
                bytes,
                spare,
                index,
                ..
            } = self;
            if let Some(mut h) = queues[class.index()].pop_front() {
                if let Some(k) = h.hash {
                    if index.get(&k) == Some(&(class, h.seq)) {
                        index.remove(&k);
                    }
                }
                return Some(Self::drop_held(&mut h, live, bytes, spare));
            }
        }
        None
    }

    /// Pops dropped entries off the front of a class's queue.
    fn trim(&mut self, class: Class) {
        let q = &mut self.queues[class.index()];
        while q.front().is_some_and(|h| h.dead) {
            q.pop_front();
        }
    }

    fn pop(&mut self, class: Class) -> Option<Held> {
        self.trim(class);
        let h = self.queues[class.index()].pop_front()?;
        self.live -= 1;
        self.bytes -= h.packet.len();
        if let Some(k) = h.hash {
            if self.index.get(&k) == Some(&(class, h.seq)) {
                self.index.remove(&k);
            }
        }
        Some(h)
    }

    fn front_seq(&mut self, class: Class) -> Option<u64> {
        self.trim(class);
        self.queues[class.index()].front().map(|h| h.seq)
    }

    /// The next datagrams to decide, at most `max`, appended to `out`: priority ones
    /// first, but while new requests (or non-SIP datagrams) wait they get at least a
    /// quarter of the burst; those two classes in their order of arrival.
    pub fn take(&mut self, max: usize, out: &mut Vec<Held>) {
        let others_wait =
            |b: &mut Self| b.front_seq(Class::New).is_some() || b.front_seq(Class::Other).is_some();
        let reserve = if others_wait(self) {
            max.div_ceil(4)
        } else {
            0
        };
        let mut n = 0;
        while n < max - reserve {
            let Some(h) = self.pop(Class::Priority) else {
                break;
            };
            out.push(h);
            n += 1;
        }
        while n < max {
            let next = match (self.front_seq(Class::New), self.front_seq(Class::Other)) {
                (Some(a), Some(b)) => Some(if a < b { Class::New } else { Class::Other }),
                (Some(_), None) => Some(Class::New),
                (None, Some(_)) => Some(Class::Other),
                (None, None) => None,
            };
            let h = match next {
                Some(c) => self.pop(c),
                None => self.pop(Class::Priority),
            };
            let Some(h) = h else { break };
            out.push(h);
            n += 1;
        }
    }

    /// Gives back a decided datagram's buffer for a later one.
    pub fn recycle(&mut self, mut packet: Vec<u8>) {
        if self.spare.len() < SPARE && packet.capacity() <= SPARE_BYTES {
            packet.clear();
            self.spare.push(packet);
        }
    }

    /// Every content hash in the index names a datagram still waiting, with that hash.
    #[cfg(test)]
    fn index_is_consistent(&mut self) -> bool {
        let entries: Vec<(u64, (Class, u64))> = self.index.iter().map(|(k, v)| (*k, *v)).collect();
        entries
            .into_iter()
            .all(|(k, (c, s))| self.find(c, s).is_some_and(|h| h.hash == Some(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet with IP id `ip_id` (a retransmission gets a new one).
    fn udp(src: &str, dst: &str, payload: &[u8], ip_id: u16) -> Vec<u8> {
        let mut p = crate::alg::processor::tests::udp(src, dst, payload);
        p[4..6].copy_from_slice(&ip_id.to_be_bytes());
        p
    }

    const PHONE: &str = "192.168.1.20:5060";
    const SERVER: &str = "198.51.100.10:5060";

    fn register(n: u32) -> Vec<u8> {
        format!("REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{n}\r\nCSeq: {n} REGISTER\r\nContent-Length: 0\r\n\r\n").into_bytes()
    }

    fn ok(n: u32) -> Vec<u8> {
        format!("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK{n}\r\nCSeq: {n} REGISTER\r\nContent-Length: 0\r\n\r\n").into_bytes()
    }

    /// Admits phone 192.168.1.20's REGISTER number `n` as packet `id`.
    fn admit_register(b: &mut Backlog, shed: &mut Vec<u32>, id: u32, n: u32, ip_id: u16) {
        b.admit(
            id,
            Hook::Outbound,
            &udp(PHONE, SERVER, &register(n), ip_id),
            shed,
        );
    }

    fn ids(held: &[Held]) -> Vec<u32> {
        held.iter().map(|h| h.id).collect()
    }

    #[test]
    fn classes_from_the_start_line() {
        let c = |p: &[u8]| classify(&udp(PHONE, SERVER, p, 1));
        assert_eq!(c(b"SIP/2.0 200 OK\r\n\r\n"), Class::Priority);
        assert_eq!(c(b"ACK sip:b@x SIP/2.0\r\n\r\n"), Class::Priority);
        assert_eq!(c(b"BYE sip:b@x SIP/2.0\r\n\r\n"), Class::Priority);
        assert_eq!(c(b"NOTIFY sips:b@x SIP/2.0\r\n\r\n"), Class::Priority);
        assert_eq!(c(b"REGISTER sip:x SIP/2.0\r\n\r\n"), Class::New);
        assert_eq!(c(b"INVITE tel:+123 SIP/2.0\r\n\r\n"), Class::New);
        assert_eq!(
            c(b"CANCEL sip:b@x SIP/2.0\r\n\r\n"),
            Class::New,
            "must not overtake its INVITE"
        );
        assert_eq!(c(b"OPTIONS sip:b@x SIP/2.0\r\n\r\n"), Class::New);
        assert_eq!(c(b"GET / HTTP/1.1\r\n\r\n"), Class::Other);
        assert_eq!(c(b"\x00\x01garbage"), Class::Other);
        assert_eq!(c(b""), Class::Other);
        assert_eq!(c(b"\r\n\r\n"), Class::Other, "a keep-alive");
        assert_eq!(classify(&[0x45, 0, 0]), Class::Other, "not even IPv4/UDP");
    }

    #[test]
    fn a_retransmission_waiting_behind_its_original_replaces_it() {
        let mut b = Backlog::new(Limits::default());
        let mut shed = Vec::new();
        admit_register(&mut b, &mut shed, 1, 1, 100);
        admit_register(&mut b, &mut shed, 2, 2, 101);
        // The phone retransmits REGISTER 1: a new IP id, the same SIP.
        admit_register(&mut b, &mut shed, 3, 1, 102);
        assert_eq!(shed, vec![1]);
        assert_eq!(
            b.shed,
            Shed {
                duplicates: 1,
                overflow: 0
            }
        );
        // The same SIP between other endpoints, or the other way, is another message.
        b.admit(
            4,
            Hook::Outbound,
            &udp("192.168.1.21:5060", SERVER, &register(1), 1),
            &mut shed,
        );
        b.admit(
            5,
            Hook::Inbound,
            &udp(PHONE, SERVER, &register(1), 1),
            &mut shed,
        );
        assert_eq!(shed, vec![1]);
        assert!(b.index_is_consistent());
        let mut out = Vec::new();
        b.take(64, &mut out);
        assert_eq!(ids(&out), vec![2, 3, 4, 5], "arrival order kept");
        assert!(b.is_empty() && b.index.is_empty());
        // Once decided, a later copy is a new message again (decided, not shed).
        admit_register(&mut b, &mut shed, 6, 1, 103);
        assert_eq!(shed, vec![1]);
    }

    #[test]
    fn responses_and_in_dialog_requests_go_first_but_new_requests_are_not_starved() {
        let mut b = Backlog::new(Limits::default());
        let mut shed = Vec::new();
        for i in 0..10 {
            b.admit(
                i,
                Hook::Outbound,
                &udp(PHONE, SERVER, &register(i), 1),
                &mut shed,
            );
        }
        for i in 10..20 {
            b.admit(
                i,
                Hook::Inbound,
                &udp(SERVER, "198.51.100.1:5060", &ok(i), 1),
                &mut shed,
            );
        }
        let mut out = Vec::new();
        b.take(8, &mut out);
        assert_eq!(
            ids(&out),
            vec![10, 11, 12, 13, 14, 15, 0, 1],
            "6 responses, then 2 (a quarter) new"
        );
        out.clear();
        b.take(8, &mut out);
        assert_eq!(ids(&out), vec![16, 17, 18, 19, 2, 3, 4, 5]);
        out.clear();
        b.take(8, &mut out);
        assert_eq!(ids(&out), vec![6, 7, 8, 9]);
        assert!(shed.is_empty());
    }

    #[test]
    fn when_full_garbage_goes_first_then_the_oldest_new_request_then_priority() {
        let mut b = Backlog::new(Limits {
            max_packets: 4,
            max_bytes: 1 << 20,
        });
        let mut shed = Vec::new();
        b.admit(1, Hook::Inbound, &udp(SERVER, PHONE, &ok(1), 1), &mut shed);
        admit_register(&mut b, &mut shed, 2, 2, 1);
        b.admit(
            3,
            Hook::Outbound,
            &udp(PHONE, SERVER, b"\x00junk", 1),
            &mut shed,
        );
        admit_register(&mut b, &mut shed, 4, 4, 1);
        assert!(shed.is_empty());
        admit_register(&mut b, &mut shed, 5, 5, 1);
        assert_eq!(shed, vec![3], "the garbage");
        b.admit(6, Hook::Inbound, &udp(SERVER, PHONE, &ok(6), 1), &mut shed);
        assert_eq!(shed, vec![3, 2], "then the oldest new request");
        b.admit(7, Hook::Inbound, &udp(SERVER, PHONE, &ok(7), 1), &mut shed);
        b.admit(8, Hook::Inbound, &udp(SERVER, PHONE, &ok(8), 1), &mut shed);
        assert_eq!(shed, vec![3, 2, 4, 5]);
        b.admit(9, Hook::Inbound, &udp(SERVER, PHONE, &ok(9), 1), &mut shed);
        assert_eq!(shed, vec![3, 2, 4, 5, 1], "only priority left: its oldest");
        assert_eq!(
            b.shed,
            Shed {
                duplicates: 0,
                overflow: 5
            }
        );
        assert_eq!(b.len(), 4);
        assert!(b.index_is_consistent());
        let mut out = Vec::new();
        b.take(64, &mut out);
        assert_eq!(ids(&out), vec![6, 7, 8, 9]);
    }

    #[test]
    fn room_for_a_read() {
        let mut b = Backlog::new(Limits {
            max_packets: 3,
            max_bytes: 3000,
        });
        assert!(b.has_room(3, 1000) && !b.has_room(4, 100) && !b.has_room(1, 3001));
        let mut shed = Vec::new();
        admit_register(&mut b, &mut shed, 1, 1, 1);
        assert!(b.has_room(2, 1000) && !b.has_room(3, 100));
    }

    #[test]
    fn bytes_are_bounded_too() {
        let mut b = Backlog::new(Limits {
            max_packets: 100,
            max_bytes: 10_000,
        });
        let mut shed = Vec::new();
        let big = vec![0xffu8; 4000];
        for i in 0..3 {
            b.admit(i, Hook::Outbound, &udp(PHONE, SERVER, &big, 1), &mut shed);
        }
        assert_eq!(shed, vec![0]);
        assert!(b.bytes <= 10_000);
    }

    #[test]
    fn a_duplicate_already_shed_or_decided_is_not_shed_twice() {
        let mut b = Backlog::new(Limits {
            max_packets: 2,
            max_bytes: 1 << 20,
        });
        let mut shed = Vec::new();
        let r = udp(PHONE, SERVER, &register(1), 1);
        b.admit(1, Hook::Outbound, &r, &mut shed);
        admit_register(&mut b, &mut shed, 2, 2, 1);
        admit_register(&mut b, &mut shed, 3, 3, 1);
        assert_eq!(shed, vec![1], "overflow");
        b.admit(4, Hook::Outbound, &r, &mut shed);
        assert_eq!(shed, vec![1, 2], "1 is gone already: 4 is new, 2 overflows");
        assert!(b.index_is_consistent());
        let mut out = Vec::new();
        b.take(64, &mut out);
        assert_eq!(ids(&out), vec![3, 4]);
    }
}
