//! One whole SIP message on a relayed TCP connection ([`crate::relay`]): the same
//! engine, registration and call state as a queued datagram, sans-IO. The actions it
//! yields are those of a UDP message minus the ones about the phone's UDP signalling
//! flow (DNAT towards a registered phone, the UDP flow timeout): the relay holds the
//! TCP connection open itself.

use super::types::{Flow, Relayed};
use super::Processor;
use crate::engine::Direction;
use crate::state::actions::Action;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Actions about the phone's UDP signalling flow.
pub fn is_udp_signalling(a: &Action) -> bool {
    matches!(
        a,
        Action::Reachable { .. }
            | Action::Unreachable { .. }
            | Action::FlowTimeout { .. }
            | Action::Snat { .. }
    )
}

impl Processor {
    /// Where a new relayed connection of `phone` (its Via endpoint) leaves from: the
    /// WAN address and the phone's public port (its UDP mapping's, else one claimed
    /// from the pool and held while the phone has relayed connections); and the address
    /// its messages advertise. None without a WAN address, or when no public port is
    /// free for a phone without a UDP mapping (then the connection is not relayed).
    pub fn open_stream(&mut self, phone: SocketAddrV4) -> Option<(SocketAddrV4, Ipv4Addr)> {
        let (wan_ip, advertised) = (self.wan_ip?, self.advertised_ip()?);
        let port = match self.streams.get_mut(&phone) {
            Some((port, open)) => {
                *open += 1;
                *port
            }
            None => {
                let port = match self.mappings.by_private(phone) {
                    Some(m) => m.public_port,
                    // No public port free: the connection is not relayed.
                    None => self.pool.take(phone.port(), phone, false)?,
                };
                self.streams.insert(phone, (port, 1));
                port
            }
        };
        Some((SocketAddrV4::new(wan_ip, port), advertised))
    }

    /// A relayed connection of `phone` closed: its last one gives back a port claimed
    /// for it (not one its UDP mapping holds).
    pub fn close_stream(&mut self, phone: SocketAddrV4) {
        let Some((port, open)) = self.streams.get_mut(&phone) else {
            return;
        };
        *open -= 1;
        if *open > 0 {
            return;
        }
        let port = *port;
        self.streams.remove(&phone);
        if self.mappings.by_private(phone).is_none() {
            self.pool.release(port, phone);
        }
    }

    /// One whole SIP message on a relayed TCP connection of `conn.phone` (its Via
    /// endpoint) with the far end `conn.peer`, appearing as `conn.public`: the message
    /// to send instead (None: send it unchanged), and the actions to carry out before
    /// it is sent. The same steps as a datagram's ([`Processor::plan_message`]).
    pub fn stream_message(
        &mut self,
        direction: Direction,
        conn: &Relayed,
        message: &[u8],
        now: u64,
    ) -> (Option<Vec<u8>>, Vec<Action>) {
        self.counters.seen += 1;
        let mark = self.actions_mark();
        let flow = Flow {
            phone: conn.phone,
            peer: conn.peer,
            public: conn.public,
            transport: " over TCP",
        };
        let out = self.plan_message(message, direction, &flow, now, |p, plan| {
            if std::mem::take(&mut p.refused) {
                // No public port for its media: not sent (the phone's transaction times
                // out and it tries again), never sent with its private address.
                return Some(Vec::new());
            }
            let out = plan.map(|plan| plan.output());
            if out.is_some() {
                p.counters.rewritten += 1;
            }
            out
        });
        let mut actions = self.take_actions_since(mark);
        actions.retain(|a| !is_udp_signalling(a));
        (out, actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Policy;

    fn conn() -> Relayed {
        Relayed {
            phone: "192.168.1.20:5060".parse().unwrap(),
            peer: "198.51.100.10:5060".parse().unwrap(),
            public: "198.51.100.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn relayed_connections_hold_a_public_port_until_the_last_closes() {
        let mut p = Processor::new(Policy::default());
        let phone: SocketAddrV4 = "192.168.1.20:5060".parse().unwrap();
        assert_eq!(p.open_stream(phone), None, "no WAN address yet");
        p.wan_ip = Some("198.51.100.1".parse().unwrap());
        let (bind, advertised) = p.open_stream(phone).unwrap();
        assert_eq!(bind, "198.51.100.1:5060".parse().unwrap());
        assert_eq!(advertised, "198.51.100.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(p.pool.owner(5060), Some(phone));
        assert_eq!(
            p.open_stream(phone).unwrap().0,
            bind,
            "a second connection shares it"
        );
        p.close_stream(phone);
        assert_eq!(p.pool.owner(5060), Some(phone), "held while one is open");
        p.close_stream(phone);
        assert_eq!(p.pool.owner(5060), None, "given back with the last");
        p.close_stream(phone);
        assert_eq!(p.pool.owner(5060), None, "a stray close changes nothing");
    }

    /// AudioCodes-style over TCP: Via and Contact without a port. The relay's onward
    /// connection leaves from another public port, which the ALG writes; the way back
    /// gives the phone exactly what it wrote (issue #20).
    #[test]
    fn a_port_less_via_and_contact_over_tcp_come_back_as_the_phone_wrote_them() {
        let mut p = Processor::new(Policy::default());
        p.wan_ip = Some("198.51.100.1".parse().unwrap());
        let conn = Relayed {
            public: "198.51.100.1:40000".parse().unwrap(),
            ..conn()
        };
        let reg = b"REGISTER sip:198.51.100.10;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20;branch=z9hG4bKac1;alias\r\nTo: <sip:100@pbx>\r\nCall-ID: ac1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
        let (out, _) = p.stream_message(Direction::Outbound, &conn, reg, 0);
        assert_eq!(
            String::from_utf8(out.expect("rewritten")).unwrap(),
            "REGISTER sip:198.51.100.10;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.1:40000;branch=z9hG4bKac1;alias\r\nTo: <sip:100@pbx>\r\nCall-ID: ac1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:40000;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
        );
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 198.51.100.1:40000;branch=z9hG4bKac1;alias;received=198.51.100.1\r\nTo: <sip:100@pbx>;tag=s\r\nCall-ID: ac1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:40000;transport=tcp>;expires=300\r\nContent-Length: 0\r\n\r\n";
        let (back, _) = p.stream_message(Direction::Inbound, &conn, ok, 1);
        assert_eq!(
            String::from_utf8(back.expect("restored")).unwrap(),
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.168.1.20;branch=z9hG4bKac1;alias;received=192.168.1.20\r\nTo: <sip:100@pbx>;tag=s\r\nCall-ID: ac1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20;transport=tcp>;expires=300\r\nContent-Length: 0\r\n\r\n"
        );
        let inv = b"INVITE sip:100@198.51.100.1:40000;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.10:5060;branch=z9hG4bKin\r\nTo: <sip:100@pbx>\r\nCall-ID: in\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let (back, _) = p.stream_message(Direction::Inbound, &conn, inv, 2);
        assert_eq!(
            String::from_utf8(back.expect("restored")).unwrap(),
            "INVITE sip:100@192.168.1.20;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.10:5060;branch=z9hG4bKin\r\nTo: <sip:100@pbx>\r\nCall-ID: in\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_tcp_message_is_rewritten_and_tracked_like_udp_without_udp_flow_actions() {
        let mut p = Processor::new(Policy::default());
        p.wan_ip = Some("198.51.100.1".parse().unwrap());
        let reg = b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bK1\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20:5060;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
        let (out, actions) = p.stream_message(Direction::Outbound, &conn(), reg, 0);
        assert_eq!(
            out.expect("rewritten"),
            b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK1\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060;transport=tcp>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(actions.is_empty());
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK1\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060;transport=tcp>;expires=120\r\nContent-Length: 0\r\n\r\n";
        let (back, actions) = p.stream_message(Direction::Inbound, &conn(), ok, 1);
        assert!(back
            .expect("restored")
            .windows(45)
            .any(|w| w == b"Contact: <sip:100@192.168.1.20:5060;transport"));
        assert_eq!(p.registrations.len(), 1, "the registration is tracked");
        assert!(
            actions.is_empty(),
            "no UDP DNAT or UDP flow timeout for a TCP registration: {actions:?}"
        );
        // A call's media: the same actions as over UDP.
        let sdp = "v=0\r\nc=IN IP4 192.168.1.20\r\nm=audio 4000 RTP/AVP 0\r\n";
        let inv = format!("INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5060;branch=z9hG4bK2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
        let (out, actions) = p.stream_message(Direction::Outbound, &conn(), inv.as_bytes(), 2);
        assert!(String::from_utf8_lossy(&out.unwrap())
            .ends_with("c=IN IP4 198.51.100.1\r\nm=audio 4000 RTP/AVP 0\r\n"));
        assert!(actions.contains(&Action::MediaSnat {
            private: "192.168.1.20:4000".parse().unwrap(),
            public_port: 4000
        }));
        assert_eq!(p.calls.len(), 1);
        // What the UDP path collected meanwhile stays for it.
        assert_eq!(p.take_actions(), (Vec::new(), Vec::new()));
        // Garbage is passed unchanged and counted.
        assert_eq!(
            p.stream_message(Direction::Inbound, &conn(), b"\x00\x01", 3)
                .0,
            None
        );
        assert_eq!(p.counters.unparsable, 1);
        // ALG off: nothing rewritten.
        p.policy.alg = false;
        assert_eq!(
            p.stream_message(Direction::Outbound, &conn(), reg, 4).0,
            None
        );
    }
}
