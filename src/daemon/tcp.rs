//! Wiring of the TCP relay ([`crate::relay`]) to the daemon's state: each whole
//! message a relayed connection carries goes through the same engine, registration
//! and call state as a queued UDP datagram ([`Processor::stream_message`]), and the
//! onward connection leaves from the public port the phone's UDP signalling has (or
//! would get) from the same port pool.

use super::packet::{Kernel, Processor};
use super::Shared;
use crate::engine::{self, AssumeRewritten, Direction, KeepPorts, Memory, Nat, PortMap};
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
        // The same restoration memory as UDP: a response on the connection is restored
        // only if the ALG rewrote its request.
        let (mut at, mut stateless) = (self.restore.at(now), AssumeRewritten);
        let memory: &mut dyn Memory = if self.alg { &mut at } else { &mut stateless };
        let result = engine::plan_with(message, direction, &nat, ports, memory);
        let Ok(plan) = &result else {
            self.counters.unparsable += 1;
            return None;
        };
        if direction == Direction::Inbound && self.alg {
            let r = &plan.restoration;
            if !r.kept.is_empty() || r.streams_kept > 0 {
                self.counters.not_restored += 1;
            }
            if log::log_enabled!(log::Level::Debug) {
                for line in plan.restoration_lines() {
                    log::debug!("to {phone} over TCP: {line}");
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Vec<Action>);

    impl Kernel for Recorder {
        fn program_snat(
            &mut self,
            _: SocketAddrV4,
            _: SocketAddrV4,
            _: u32,
        ) -> std::io::Result<()> {
            panic!("a TCP message never programs the UDP SNAT map")
        }
        fn nat_of_outbound(&mut self, _: SocketAddrV4, _: SocketAddrV4) -> Option<SocketAddrV4> {
            None
        }
        fn private_of_inbound(&mut self, _: SocketAddrV4, _: SocketAddrV4) -> Option<SocketAddrV4> {
            None
        }
        fn apply(&mut self, actions: &[Action], _: Ipv4Addr) -> std::io::Result<()> {
            self.0.extend_from_slice(actions);
            Ok(())
        }
    }

    fn conn() -> Conn {
        Conn {
            phone: "192.168.1.20:5060".parse().unwrap(),
            source: "192.168.1.20:41000".parse().unwrap(),
            peer: "198.51.100.10:5060".parse().unwrap(),
            public: "198.51.100.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn a_tcp_message_is_rewritten_and_tracked_like_udp_without_udp_flow_actions() {
        let mut p = Processor::new(true, 3600);
        p.wan_ip = Some("198.51.100.1".parse().unwrap());
        let mut k = Recorder::default();
        let reg = b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bK1\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20:5060;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
        let out = p
            .stream_message(Direction::Outbound, &conn(), reg, 0, &mut k)
            .expect("rewritten");
        assert_eq!(
            out,
            b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK1\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
        );
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK1\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060;transport=tcp>;expires=120\r\nContent-Length: 0\r\n\r\n";
        let back = p
            .stream_message(Direction::Inbound, &conn(), ok, 1, &mut k)
            .expect("restored");
        assert!(back
            .windows(45)
            .any(|w| w == b"Contact: <sip:100@192.168.1.20:5060;transport"));
        assert_eq!(p.registrations.len(), 1, "the registration is tracked");
        assert!(
            k.0.iter().all(|a| !is_udp_signalling(a)),
            "no UDP DNAT or UDP flow timeout for a TCP registration: {:?}",
            k.0
        );
        // A call's media: the same actions as over UDP.
        let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\nm=audio 4000 RTP/AVP 0\r\n";
        let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bK2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
        let out = p
            .stream_message(Direction::Outbound, &conn(), inv.as_bytes(), 2, &mut k)
            .unwrap();
        assert!(String::from_utf8_lossy(&out)
            .ends_with("c=IN IP4 198.51.100.1\r\nm=audio 4000 RTP/AVP 0\r\n"));
        assert!(k.0.contains(&Action::MediaSnat {
            private: "192.168.1.20:4000".parse().unwrap(),
            public_port: 4000
        }));
        assert_eq!(p.calls.len(), 1);
        // Garbage is passed unchanged and counted.
        assert_eq!(
            p.stream_message(Direction::Inbound, &conn(), b"\x00\x01", 3, &mut k),
            None
        );
        assert_eq!(p.counters.unparsable, 1);
        // ALG off: nothing rewritten.
        p.alg = false;
        assert_eq!(
            p.stream_message(Direction::Outbound, &conn(), reg, 4, &mut k),
            None
        );
    }
}
