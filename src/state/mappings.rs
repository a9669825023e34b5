//! Signalling NAT mappings: which public port each LAN SIP endpoint (`ip:port`) appears
//! as on the WAN. The daemon owns these mappings (it programs them into its SNAT map
//! before the first packet of a flow is let through), so it never has to read them back
//! from the packet: with the iptables NFQUEUE fallback, packets are queued before NAT.

use std::collections::HashMap;
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
    /// Add (or refresh) the SNAT element `private -> public_port`.
    Snat {
        private: SocketAddrV4,
        public_port: u16,
    },
}

#[derive(Debug)]
pub struct Mappings {
    by_private: HashMap<SocketAddrV4, Mapping>,
    by_public: HashMap<u16, SocketAddrV4>,
    /// Public ports are chosen from here when the LAN host's own port is taken.
    pub spare_ports: core::ops::RangeInclusive<u16>,
}

impl Default for Mappings {
    fn default() -> Self {
        Self::new()
    }
}

impl Mappings {
    pub fn new() -> Self {
        Mappings {
            by_private: HashMap::new(),
            by_public: HashMap::new(),
            spare_ports: 40000..=49999,
        }
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
    /// keeps its own port when no other host has it. `refresh_after` is how old an SNAT
    /// element may get before it is programmed again.
    pub fn outbound(
        &mut self,
        private: SocketAddrV4,
        now: u64,
        refresh_after: u64,
    ) -> (Mapping, Program) {
        if let Some(m) = self.by_private.get_mut(&private) {
            m.last_seen = now;
            if m.origin == Origin::Programmed
                && now.saturating_sub(m.programmed_at) >= refresh_after
            {
                m.programmed_at = now;
                return (
                    *m,
                    Program::Snat {
                        private,
                        public_port: m.public_port,
                    },
                );
            }
            return (*m, Program::Nothing);
        }
        let public_port = self.free_port(private.port());
        let m = Mapping {
            private,
            public_port,
            origin: Origin::Programmed,
            programmed_at: now,
            last_seen: now,
        };
        self.insert(m);
        (
            m,
            Program::Snat {
                private,
                public_port,
            },
        )
    }

    /// Records a mapping learned from conntrack.
    pub fn observed(&mut self, private: SocketAddrV4, public_port: u16, now: u64) -> Mapping {
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

    fn free_port(&self, wanted: u16) -> u16 {
        if wanted != 0 && !self.by_public.contains_key(&wanted) {
            return wanted;
        }
        let span = u32::from(*self.spare_ports.end() - *self.spare_ports.start()) + 1;
        let start = u32::from(wanted) % span;
        (0..span)
            .map(|i| *self.spare_ports.start() + ((start + i) % span) as u16)
            .find(|p| !self.by_public.contains_key(p))
            .unwrap_or(wanted)
    }

    /// Forgets mappings idle for `idle` seconds or more and returns them.
    pub fn expire(&mut self, now: u64, idle: u64) -> Vec<Mapping> {
        let gone: Vec<Mapping> = self
            .by_private
            .values()
            .filter(|m| now.saturating_sub(m.last_seen) >= idle)
            .copied()
            .collect();
        for m in &gone {
            self.by_private.remove(&m.private);
            self.by_public.remove(&m.public_port);
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
        let mut m = Mappings::new();
        let (one, p1) = m.outbound(a("192.168.1.20:5060"), 0, 1800);
        assert_eq!(one.public_port, 5060);
        assert_eq!(
            p1,
            Program::Snat {
                private: a("192.168.1.20:5060"),
                public_port: 5060
            }
        );
        let (two, p2) = m.outbound(a("192.168.1.21:5060"), 0, 1800);
        assert_ne!(two.public_port, 5060);
        assert!(m.spare_ports.contains(&two.public_port));
        assert_eq!(
            p2,
            Program::Snat {
                private: a("192.168.1.21:5060"),
                public_port: two.public_port
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
    }

    #[test]
    fn refreshes_the_element_only_when_old() {
        let mut m = Mappings::new();
        m.outbound(a("192.168.1.20:5060"), 0, 100);
        assert_eq!(
            m.outbound(a("192.168.1.20:5060"), 50, 100).1,
            Program::Nothing
        );
        assert!(matches!(
            m.outbound(a("192.168.1.20:5060"), 100, 100).1,
            Program::Snat { .. }
        ));
        assert_eq!(
            m.outbound(a("192.168.1.20:5060"), 150, 100).1,
            Program::Nothing
        );
    }

    #[test]
    fn observed_mappings_are_not_reprogrammed_and_expire() {
        let mut m = Mappings::new();
        m.observed(a("192.168.1.20:5060"), 61000, 0);
        assert_eq!(
            m.outbound(a("192.168.1.20:5060"), 5000, 100),
            (
                m.by_private(a("192.168.1.20:5060")).copied().unwrap(),
                Program::Nothing
            )
        );
        assert_eq!(
            m.outbound(a("192.168.1.20:5060"), 5000, 100).0.public_port,
            61000
        );
        assert!(m.expire(5010, 60).is_empty());
        let gone = m.expire(5060, 60);
        assert_eq!(gone.len(), 1);
        assert!(m.is_empty() && m.by_public_port(61000).is_none());
    }

    #[test]
    fn spare_ports_wrap_and_never_collide() {
        let mut m = Mappings::new();
        m.spare_ports = 40000..=40002;
        let ports: Vec<u16> = (0..4)
            .map(|i| {
                m.outbound(SocketAddrV4::new([10, 0, 0, i].into(), 5060), 0, 9)
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
