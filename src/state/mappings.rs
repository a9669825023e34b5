//! Signalling NAT mappings: which public port each LAN SIP endpoint (`ip:port`) appears
//! as on the WAN. The daemon owns these mappings (it programs them into its SNAT map
//! before the first packet of a flow is let through), so it never has to read them back
//! from the packet: with the iptables NFQUEUE fallback, packets are queued before NAT.

use super::ports::{ByPort, PortPool};
use std::collections::BTreeMap;
use std::net::SocketAddrV4;

/// Where a mapping came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Chosen by us and programmed into the SNAT map.
    Programmed,
    /// Found in conntrack (the flow existed before we saw it, e.g. after a restart).
    Observed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub private: SocketAddrV4,
    pub public_port: u16,
    pub origin: Origin,
    /// When the SNAT map element was last (re)programmed.
    pub programmed_at: u64,
    pub last_seen: u64,
}

/// What the caller must do to the datapath after a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Nothing,
    /// Add (or, `refresh`, restart the lifetime of) the SNAT element `private -> public_port`.
    Snat {
        private: SocketAddrV4,
        public_port: u16,
        refresh: bool,
    },
}

#[derive(Debug, Default)]
pub struct Mappings {
    /// In key order: what is built from it (SNAT elements, status) is deterministic.
    by_private: BTreeMap<SocketAddrV4, Mapping>,
    by_public: ByPort<SocketAddrV4>,
}

impl Mappings {
    pub fn new() -> Self {
        Mappings::default()
    }

    pub fn len(&self) -> usize {
        self.by_private.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_private.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.by_private.values()
    }

    pub fn by_private(&self, private: SocketAddrV4) -> Option<&Mapping> {
        self.by_private.get(&private)
    }

    pub fn by_public_port(&self, port: u16) -> Option<&Mapping> {
        self.by_public
            .get(&port)
            .and_then(|p| self.by_private.get(p))
    }

    /// The mapping of an outbound packet's source, creating one if needed. The LAN host
    /// keeps its own port when no other endpoint has it. `refresh_after` is how old an
    /// SNAT element may get before it is programmed again. None: a new endpoint, and no
    /// public port is free ([`PortPool::take`]).
    pub fn outbound(
        &mut self,
        pool: &mut PortPool,
        private: SocketAddrV4,
        now: u64,
        refresh_after: u64,
    ) -> Option<(Mapping, Program)> {
        if let Some(m) = self.by_private.get_mut(&private) {
            m.last_seen = now;
            if now.saturating_sub(m.programmed_at) >= refresh_after {
                m.programmed_at = now;
                return Some((
                    *m,
                    Program::Snat {
                        private,
                        public_port: m.public_port,
                        refresh: true,
                    },
                ));
            }
            return Some((*m, Program::Nothing));
        }
        let public_port = pool.take(private.port(), private, false)?;
        let m = Mapping {
            private,
            public_port,
            origin: Origin::Programmed,
            programmed_at: now,
            last_seen: now,
        };
        self.insert(m);
        Some((
            m,
            Program::Snat {
                private,
                public_port,
                refresh: false,
            },
        ))
    }

    /// Records a mapping learned from conntrack.
    pub fn observed(
        &mut self,
        pool: &mut PortPool,
        private: SocketAddrV4,
        public_port: u16,
        now: u64,
    ) -> Mapping {
        pool.claim(public_port, private);
        let m = Mapping {
            private,
            public_port,
            origin: Origin::Observed,
            programmed_at: now,
            last_seen: now,
        };
        if let Some(old) = self.by_public.get(&public_port).copied() {
            self.by_private.remove(&old);
        }
        self.insert(m);
        m
    }

    pub fn touch(&mut self, private: SocketAddrV4, now: u64) {
        if let Some(m) = self.by_private.get_mut(&private) {
            m.last_seen = now;
        }
    }

    fn insert(&mut self, m: Mapping) {
        if let Some(old) = self.by_private.insert(m.private, m) {
            self.by_public.remove(&old.public_port);
        }
        self.by_public.insert(m.public_port, m.private);
    }

    /// Forgets mappings idle for `idle` seconds or more (unless `keep` says otherwise,
    /// e.g. a live registration) and returns them.
    pub fn expire(
        &mut self,
        pool: &mut PortPool,
        now: u64,
        idle: u64,
        keep: impl Fn(&Mapping) -> bool,
    ) -> Vec<Mapping> {
        let gone: Vec<Mapping> = self
            .by_private
            .values()
            .filter(|m| now.saturating_sub(m.last_seen) >= idle && !keep(m))
            .copied()
            .collect();
        for m in &gone {
            self.by_private.remove(&m.private);
            self.by_public.remove(&m.public_port);
            pool.release(m.public_port, m.private);
        }
        gone
    }

    pub fn clear(&mut self) {
        self.by_private.clear();
        self.by_public.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_the_phones_port_when_free_and_picks_another_when_taken() {
        let (mut m, mut pool) = (Mappings::new(), PortPool::default());
        let (one, p1) = m
            .outbound(&mut pool, a("192.168.1.20:5060"), 0, 1800)
            .unwrap();
        assert_eq!(one.public_port, 5060);
        assert_eq!(
            p1,
            Program::Snat {
                private: a("192.168.1.20:5060"),
                public_port: 5060,
                refresh: false,
            }
        );
        let (two, p2) = m
            .outbound(&mut pool, a("192.168.1.21:5060"), 0, 1800)
            .unwrap();
        assert_ne!(two.public_port, 5060);
        assert!(pool.spare.contains(&two.public_port));
        assert_eq!(
            p2,
            Program::Snat {
                private: a("192.168.1.21:5060"),
                public_port: two.public_port,
                refresh: false,
            }
        );
        assert_eq!(
            m.by_public_port(5060).unwrap().private,
            a("192.168.1.20:5060")
        );
        assert_eq!(
            m.by_public_port(two.public_port).unwrap().private,
            a("192.168.1.21:5060")
        );
        assert_eq!(pool.owner(two.public_port), Some(a("192.168.1.21:5060")));
    }

    #[test]
    fn refreshes_the_element_only_when_old() {
        let (mut m, mut pool) = (Mappings::new(), PortPool::default());
        m.outbound(&mut pool, a("192.168.1.20:5060"), 0, 100);
        assert_eq!(
            m.outbound(&mut pool, a("192.168.1.20:5060"), 50, 100)
                .unwrap()
                .1,
            Program::Nothing
        );
        assert!(matches!(
            m.outbound(&mut pool, a("192.168.1.20:5060"), 100, 100)
                .unwrap()
                .1,
            Program::Snat { refresh: true, .. }
        ));
        assert_eq!(
            m.outbound(&mut pool, a("192.168.1.20:5060"), 150, 100)
                .unwrap()
                .1,
            Program::Nothing
        );
    }

    #[test]
    fn observed_mappings_are_kept_and_expire_unless_kept_alive() {
        let (mut m, mut pool) = (Mappings::new(), PortPool::default());
        m.observed(&mut pool, a("192.168.1.20:5060"), 61000, 0);
        assert_eq!(
            m.outbound(&mut pool, a("192.168.1.20:5060"), 10, 100)
                .unwrap()
                .0
                .public_port,
            61000
        );
        assert_eq!(pool.owner(61000), Some(a("192.168.1.20:5060")));
        assert!(m.expire(&mut pool, 50, 60, |_| false).is_empty());
        assert!(
            m.expire(&mut pool, 500, 60, |_| true).is_empty(),
            "a registration keeps it"
        );
        let gone = m.expire(&mut pool, 500, 60, |_| false);
        assert_eq!(gone.len(), 1);
        assert!(m.is_empty() && m.by_public_port(61000).is_none());
        assert_eq!(pool.owner(61000), None);
    }

    #[test]
    fn spare_ports_never_collide() {
        let (mut m, mut pool) = (Mappings::new(), PortPool::default());
        pool.spare = 40000..=40002;
        let ports: Vec<u16> = (0..4)
            .map(|i| {
                m.outbound(
                    &mut pool,
                    SocketAddrV4::new([10, 0, 0, i].into(), 5060),
                    0,
                    9,
                )
                .unwrap()
                .0
                .public_port
            })
            .collect();
        assert_eq!(ports[0], 5060);
        let mut rest = ports[1..].to_vec();
        rest.sort();
        assert_eq!(rest, vec![40000, 40001, 40002]);
    }
}
