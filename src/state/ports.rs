//! Public UDP ports on the WAN address that sipalg hands out, for signalling and media
//! alike, so that no two private endpoints ever share one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddrV4;

/// A map keyed by a port number.
pub type ByPort<V> = HashMap<u16, V, BuildHasherDefault<PortHasher>>;

/// Hashes a port with one multiplication instead of SipHash: there are only 65,536
/// ports, all of them hashing apart, so no sender can make a table of them degrade
/// much.
#[derive(Default)]
pub struct PortHasher(u64);

impl Hasher for PortHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u16(self.0 as u16 ^ u16::from(b));
        }
    }
    fn write_u16(&mut self, n: u16) {
        // Fibonacci hashing; the high half folded down for the table's low bits.
        let p = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = p ^ (p >> 32);
    }
}

#[derive(Debug)]
pub struct PortPool {
    owners: ByPort<SocketAddrV4>,
    /// Where replacement ports come from when a LAN host's own port is taken.
    pub spare: core::ops::RangeInclusive<u16>,
    /// Ports newly owned since [`PortPool::begin`], so [`PortPool::rollback`] can give
    /// them back (a message whose rewrite is skipped after its SDP ports were claimed).
    journal: Vec<u16>,
    /// A transaction is open (the journal is kept, emptied, for its capacity).
    journaling: bool,
    /// Ports of the spare range owned now (when all are, a search is pointless).
    spare_owned: usize,
    /// Requests refused because neither the wanted port nor a spare one was free.
    pub exhausted: u64,
    /// A request was refused since the last [`PortPool::take_refusal`].
    refused: bool,
    /// Where the next search of the spare range starts (offset in it).
    next_spare: u32,
}

impl Default for PortPool {
    fn default() -> Self {
        PortPool {
            owners: ByPort::default(),
            spare: 40000..=59999,
            journal: Vec::new(),
            journaling: false,
            spare_owned: 0,
            exhausted: 0,
            refused: false,
            next_spare: 0,
        }
    }
}

impl PortPool {
    pub fn owner(&self, port: u16) -> Option<SocketAddrV4> {
        self.owners.get(&port).copied()
    }

    fn free_for(&self, port: u16, private: SocketAddrV4) -> bool {
        port != 0 && self.owners.get(&port).is_none_or(|o| *o == private)
    }

    /// Gives `private` the public port `want` if it is free (or already its own), else
    /// a spare one. With `pair`, `port + 1` must be free as well (RTP + implied RTCP)
    /// and is reserved for `private` with its port + 1. None when nothing is free (every
    /// spare port is owned, 20,000 by default): counted in [`PortPool::exhausted`], and
    /// the caller must not use any port (handing out one that another endpoint owns
    /// would send its traffic to the wrong phone).
    pub fn take(&mut self, want: u16, private: SocketAddrV4, pair: bool) -> Option<u16> {
        let rtcp = SocketAddrV4::new(*private.ip(), private.port().wrapping_add(1));
        let ok = |pool: &Self, p: u16| {
            pool.free_for(p, private) && (!pair || (p < u16::MAX && pool.free_for(p + 1, rtcp)))
        };
        let port = if ok(self, want) {
            Some(want)
        } else {
            let (lo, hi) = (*self.spare.start(), *self.spare.end());
            let span = u32::from(hi - lo) + 1;
            // From just after the last spare port handed out: ports are mostly handed
            // out in order, so the search finds a free one at once instead of walking
            // over every port taken so far.
            let start = self.next_spare % span;
            let step = if pair { 2 } else { 1 };
            if self.spare_owned + step > span as usize {
                None
            } else {
                (0..span)
                    .step_by(step)
                    .map(|i| lo + (((start & !1) + i) % span) as u16)
                    .find(|&p| ok(self, p))
            }
        };
        let Some(port) = port else {
            self.exhausted += 1;
            self.refused = true;
            return None;
        };
        if self.spare.contains(&port) {
            self.next_spare = u32::from(port - self.spare.start()) + if pair { 2 } else { 1 };
        }
        self.own(port, private);
        if pair && port < u16::MAX {
            self.own(port + 1, rtcp);
        }
        Some(port)
    }

    /// Ports of the spare range owned now.
    pub fn spare_owned(&self) -> usize {
        self.spare_owned
    }

    /// Whether a [`PortPool::take`] was refused since the last call (and forgets it).
    pub fn take_refusal(&mut self) -> bool {
        std::mem::take(&mut self.refused)
    }

    fn own(&mut self, port: u16, private: SocketAddrV4) {
        if self.owners.insert(port, private).is_none() {
            if self.spare.contains(&port) {
                self.spare_owned += 1;
            }
            if self.journaling {
                self.journal.push(port);
            }
        }
    }

    fn disown(&mut self, port: u16) {
        if self.owners.remove(&port).is_some() && self.spare.contains(&port) {
            self.spare_owned -= 1;
        }
    }

    /// Reserves exactly `port` for `private` (RTCP that must be RTP + 1, or a mapping
    /// learned from conntrack).
    pub fn claim(&mut self, port: u16, private: SocketAddrV4) {
        self.own(port, private);
    }

    /// Starts a transaction: ports taken from now on can be given back together.
    pub fn begin(&mut self) {
        self.journal.clear();
        self.journaling = true;
    }

    /// Keeps what the transaction took.
    pub fn commit(&mut self) {
        self.journal.clear();
        self.journaling = false;
    }

    /// Frees every port the transaction newly took (ports already owned before it stay).
    pub fn rollback(&mut self) {
        if std::mem::take(&mut self.journaling) {
            let journal = std::mem::take(&mut self.journal);
            for &port in &journal {
                self.disown(port);
            }
            self.journal = journal;
            self.journal.clear();
        }
    }

    /// Frees `port` if `private` owns it.
    pub fn release(&mut self, port: u16, private: SocketAddrV4) {
        if self.owners.get(&port) == Some(&private) {
            self.disown(port);
        }
    }

    pub fn clear(&mut self) {
        self.owners.clear();
        self.spare_owned = 0;
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn own_port_when_free_spare_otherwise_pairs_stay_together() {
        let mut p = PortPool::default();
        assert_eq!(p.take(4000, a("192.168.1.20:4000"), true), Some(4000));
        assert_eq!(p.owner(4001), Some(a("192.168.1.20:4001")));
        // Same owner asking again gets the same port.
        assert_eq!(p.take(4000, a("192.168.1.20:4000"), true), Some(4000));
        // Another host with the same port gets an even spare pair.
        let other = p.take(4000, a("192.168.1.21:4000"), true).unwrap();
        assert!(p.spare.contains(&other) && other % 2 == 0, "{other}");
        assert_eq!(p.owner(other + 1), Some(a("192.168.1.21:4001")));
        // Releasing frees only the owner's port.
        p.release(4000, a("192.168.1.21:4000"));
        assert_eq!(p.owner(4000), Some(a("192.168.1.20:4000")));
        p.release(4000, a("192.168.1.20:4000"));
        assert_eq!(p.owner(4000), None);
    }

    #[test]
    fn a_rolled_back_transaction_returns_only_what_it_took() {
        let mut p = PortPool::default();
        p.take(4000, a("192.168.1.20:4000"), true);
        p.begin();
        assert_eq!(p.take(4000, a("192.168.1.20:4000"), true), Some(4000));
        let spare = p.take(4000, a("192.168.1.21:4000"), true).unwrap();
        p.claim(7001, a("192.168.1.21:7001"));
        p.rollback();
        assert_eq!(p.owner(4000), Some(a("192.168.1.20:4000")), "owned before");
        assert_eq!(p.owner(4001), Some(a("192.168.1.20:4001")));
        assert_eq!(
            (p.owner(spare), p.owner(spare + 1), p.owner(7001)),
            (None, None, None)
        );
        assert_eq!(p.len(), 2);
        p.begin();
        p.take(5000, a("192.168.1.20:5000"), false);
        p.commit();
        p.rollback();
        assert_eq!(p.owner(5000), Some(a("192.168.1.20:5000")), "committed");
    }

    #[test]
    fn when_every_spare_port_is_owned_a_request_is_refused_not_given_an_owned_port() {
        let mut p = PortPool {
            spare: 40000..=40003,
            ..PortPool::default()
        };
        assert_eq!(p.take(5060, a("192.168.1.20:5060"), false), Some(5060));
        let mut got = Vec::new();
        for i in 21..25 {
            got.push(
                p.take(5060, a(&format!("192.168.1.{i}:5060")), false)
                    .unwrap(),
            );
        }
        got.sort();
        assert_eq!(got, vec![40000, 40001, 40002, 40003]);
        assert!(!p.take_refusal());
        // The fifth colliding endpoint: nothing is free.
        assert_eq!(p.take(5060, a("192.168.1.30:5060"), false), None);
        assert_eq!(
            p.owner(5060),
            Some(a("192.168.1.20:5060")),
            "not taken over"
        );
        assert_eq!(
            (p.exhausted, p.take_refusal(), p.take_refusal()),
            (1, true, false)
        );
        // A pair needs two; its own free port is still fine.
        assert_eq!(p.take(4000, a("192.168.1.30:4000"), true), Some(4000));
        assert_eq!(p.take(4000, a("192.168.1.31:4000"), true), None);
        // A port given back serves the next one.
        p.release(40002, a("192.168.1.23:5060"));
        let third = p.take(5060, a("192.168.1.30:5060"), false);
        assert!(third.is_some_and(|x| p.spare.contains(&x)), "{third:?}");
        // Rolled back ports count as free again.
        p.begin();
        assert_eq!(p.take(6000, a("192.168.1.40:6000"), false), Some(6000));
        p.rollback();
        assert_eq!(p.owner(6000), None);
        assert_eq!(p.spare_owned, 4);
    }
}
