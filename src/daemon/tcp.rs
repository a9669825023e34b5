//! Wiring of the TCP relay ([`crate::relay`]) to the daemon's state: each whole
//! message a relayed connection carries goes through the same engine, registration
//! and call state as a queued UDP datagram ([`Processor::stream_message`]), and the
//! onward connection leaves from the public port the phone's UDP signalling has (or
//! would get) from the same port pool.

use super::packet::{Kernel, Processor};
use super::Shared;
use crate::engine::{self, Direction, KeepPorts, Nat, PortMap};
use crate::relay::{Conn, Handler, Onward};
use crate::state::actions::Action;
use crate::state::calls::MediaPorts;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};

/// The kernel as seen from a TCP message: the media actions are the same as for UDP;
/// the signalling flow's own UDP state (DNAT towards a registered phone, the UDP flow
/// timeout) does not apply to a connection the relay holds open itself.
struct TcpKernel<'a>(&'a mut dyn Kernel);

impl Kernel for TcpKernel<'_> {
    fn program_snat(&mut self, _: SocketAddrV4, _: SocketAddrV4, _: u32) -> std::io::Result<()> {
        Ok(())
    }
    fn nat_of_outbound(&mut self, _: SocketAddrV4, _: SocketAddrV4) -> Option<SocketAddrV4> {
        None
    }
    fn private_of_inbound(&mut self, _: SocketAddrV4, _: SocketAddrV4) -> Option<SocketAddrV4> {
        None
    }
    fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> std::io::Result<()> {
        let media: Vec<Action> = actions
            .iter()
            .filter(|a| !is_udp_signalling(a))
            .copied()
            .collect();
        if media.is_empty() {
            return Ok(());
        }
        self.0.apply(&media, wan_ip)
    }
}

/// Actions about the phone's UDP signalling flow.
pub fn is_udp_signalling(a: &Action) -> bool {
    matches!(
        a,
        Action::Reachable { .. } | Action::Unreachable { .. } | Action::FlowTimeout { .. }
    )
}

impl Processor {
    /// One whole SIP message on a relayed TCP connection of `conn.phone` (its Via
    /// endpoint) with the far end `conn.peer`, appearing as `conn.public`: the message
    /// to send instead, or None to send it unchanged. State is fed as for UDP.
    pub fn stream_message(
        &mut self,
        direction: Direction,
        conn: &Conn,
        message: &[u8],
        now: u64,
        k: &mut dyn Kernel,
    ) -> Option<Vec<u8>> {
        self.counters.seen += 1;
        let mut k = TcpKernel(k);
        let (phone, public) = (conn.phone, conn.public);
        let nat = if self.alg {
            Nat {
                private: phone,
                public,
            }
        } else {
            Nat {
                private: phone,
                public: phone,
            }
        };
        let mut keep = KeepPorts;
        let mut media = MediaPorts {
            pool: &mut self.pool,
        };
        let ports: &mut dyn PortMap = if self.alg { &mut media } else { &mut keep };
        let result = engine::plan(message, direction, &nat, ports);
        let Ok(plan) = &result else {
            self.counters.unparsable += 1;
            return None;
        };
        self.track(
            &plan.facts,
            direction,
            phone,
            conn.peer,
            public,
            now,
            &mut k,
        );
        self.flush(&mut k);
        if plan.is_unchanged() || !self.alg {
            self.counters.unchanged += 1;
            return None;
        }
        self.counters.rewritten += 1;
        Some(plan.output())
    }
}

/// The relay's [`Handler`]: the daemon's shared state plus the public ports the
/// relay's connections hold.
pub struct Relay {
    pub shared: Arc<Mutex<Shared>>,
    /// Public port and number of connections of each phone endpoint.
    held: Mutex<HashMap<SocketAddrV4, (u16, usize)>>,
}

impl Relay {
    pub fn new(shared: Arc<Mutex<Shared>>) -> Self {
        Relay {
            shared,
            held: Mutex::new(HashMap::new()),
        }
    }
}

impl Handler for Relay {
    fn now(&self) -> u64 {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).now()
    }

    fn open(&self, phone: SocketAddrV4) -> Option<Onward> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let p = &mut s.processor;
        let (wan_ip, advertised) = (p.wan_ip?, p.advertised_ip()?);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let port = match held.get_mut(&phone) {
            Some((port, n)) => {
                *n += 1;
                *port
            }
            None => {
                let port = match p.mappings.by_private(phone) {
                    Some(m) => m.public_port,
                    None => p.pool.take(phone.port(), phone, false),
                };
                held.insert(phone, (port, 1));
                port
            }
        };
        Some(Onward {
            bind: SocketAddrV4::new(wan_ip, port),
            advertised,
        })
    }

    fn message(&self, direction: Direction, conn: &Conn, message: &[u8]) -> Option<Vec<u8>> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let now = s.now();
        let Shared {
            processor, kernel, ..
        } = &mut *s;
        processor.stream_message(direction, conn, message, now, kernel)
    }

    fn closed(&self, conn: &Conn) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let Some((port, n)) = held.get_mut(&conn.phone) else {
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        let port = *port;
        held.remove(&conn.phone);
        drop(held);
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let p = &mut s.processor;
        if p.mappings.by_private(conn.phone).is_none() {
            p.pool.release(port, conn.phone);
        }
    }
}
