//! The relay's counters, shown by `sipalgd status`, and the connections being relayed.

use super::Conn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Counters, shown by `sipalgd status`. `AtomicUsize`, not `AtomicU64`: 32-bit MIPS
/// (ath79, ramips) has no 64-bit atomics (the cross stage builds for it).
#[derive(Debug, Default)]
pub struct Stats {
    pub active: AtomicUsize,
    /// Bytes held in all connections' buffers.
    pub buffered: AtomicUsize,
    pub accepted: AtomicUsize,
    pub refused: AtomicUsize,
    pub messages: AtomicUsize,
    pub rewritten: AtomicUsize,
    pub closed_unframable: AtomicUsize,
    pub timed_out: AtomicUsize,
    pub onward_failed: AtomicUsize,
    /// The connections being relayed (with an onward connection), and since when.
    open: Mutex<Vec<(Conn, u64)>>,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: u64,
    pub accepted: u64,
    pub refused: u64,
    pub messages: u64,
    pub rewritten: u64,
    pub closed_unframable: u64,
    pub timed_out: u64,
    pub onward_failed: u64,
}

impl Stats {
    /// The connections being relayed, oldest first, with the time each was opened.
    pub fn connections(&self) -> Vec<(Conn, u64)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn opened(&self, c: Conn, now: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((c, now));
    }

    pub(super) fn closed(&self, c: &Conn) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open
            .iter()
            .position(|(o, _)| o.source == c.source && o.peer == c.peer)
        {
            open.remove(i);
        }
    }

    /// One side of a connection now holds `now` bytes where it held `*accounted`:
    /// [`Stats::buffered`] follows, and `*accounted` becomes `now`.
    pub(super) fn account(&self, accounted: &mut usize, now: usize) {
        let before = *accounted;
        if now > before {
            self.buffered.fetch_add(now - before, Ordering::Relaxed);
        } else {
            self.buffered.fetch_sub(before - now, Ordering::Relaxed);
        }
        *accounted = now;
    }

    pub fn counts(&self) -> Counts {
        let l = |a: &AtomicUsize| a.load(Ordering::Relaxed) as u64;
        Counts {
            active: self.active.load(Ordering::Relaxed) as u64,
            accepted: l(&self.accepted),
            refused: l(&self.refused),
            messages: l(&self.messages),
            rewritten: l(&self.rewritten),
            closed_unframable: l(&self.closed_unframable),
            timed_out: l(&self.timed_out),
            onward_failed: l(&self.onward_failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn conn(source: &str, peer: &str) -> Conn {
        let a = |s: &str| s.parse::<SocketAddrV4>().unwrap();
        Conn {
            phone: a(source),
            source: a(source),
            peer: a(peer),
            public: a("203.0.113.1:40000"),
        }
    }

    #[test]
    fn counts_are_a_snapshot_of_every_counter() {
        let s = Stats::default();
        let counters = [
            &s.active,
            &s.accepted,
            &s.refused,
            &s.messages,
            &s.rewritten,
            &s.closed_unframable,
            &s.timed_out,
            &s.onward_failed,
        ];
        for (i, c) in counters.into_iter().enumerate() {
            for _ in 0..=i {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert_eq!(
            s.counts(),
            Counts {
                active: 1,
                accepted: 2,
                refused: 3,
                messages: 4,
                rewritten: 5,
                closed_unframable: 6,
                timed_out: 7,
                onward_failed: 8,
            }
        );
        assert_eq!(s.buffered.load(Ordering::Relaxed), 0, "not a count");
    }

    #[test]
    fn open_connections_are_listed_oldest_first_until_closed() {
        let s = Stats::default();
        let a = conn("192.168.1.20:40001", "198.51.100.10:5060");
        let b = conn("192.168.1.21:40001", "198.51.100.10:5060");
        let a2 = conn("192.168.1.20:40002", "198.51.100.10:5060");
        s.opened(a, 10);
        s.opened(b, 11);
        s.opened(a2, 12);
        assert_eq!(s.connections(), vec![(a, 10), (b, 11), (a2, 12)]);
        // Found by its source and peer: the phone and public endpoints may have changed.
        s.closed(&Conn {
            phone: "192.168.1.21:5060".parse().unwrap(),
            public: "203.0.113.1:1".parse().unwrap(),
            ..b
        });
        assert_eq!(s.connections(), vec![(a, 10), (a2, 12)]);
        s.closed(&conn("192.168.1.22:40001", "198.51.100.10:5060"));
        assert_eq!(
            s.connections().len(),
            2,
            "an unknown connection changes nothing"
        );
        s.closed(&a2);
        s.closed(&a);
        assert!(s.connections().is_empty());
    }

    #[test]
    fn buffered_bytes_follow_each_side() {
        let s = Stats::default();
        let (mut one, mut two) = (0, 0);
        s.account(&mut one, 100);
        s.account(&mut two, 30);
        assert_eq!(s.buffered.load(Ordering::Relaxed), 130);
        s.account(&mut one, 40);
        assert_eq!((one, s.buffered.load(Ordering::Relaxed)), (40, 70));
        s.account(&mut two, 30);
        assert_eq!(s.buffered.load(Ordering::Relaxed), 70, "no change");
        s.account(&mut one, 0);
        s.account(&mut two, 0);
        assert_eq!(s.buffered.load(Ordering::Relaxed), 0);
    }
}
