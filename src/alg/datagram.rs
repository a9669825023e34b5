//! One queued datagram: its flow's mapping, the message through the core, and the
//! packet rebuilt with lengths and checksums fixed. Anything that cannot be handled is
//! accepted unchanged.

use super::types::{Flow, Hook, LookupRequest, Resume, Step, Verdict, MAX_REPLACEMENT};
use super::Processor;
use crate::engine::{self, Direction};
use crate::wire::ipv4::UdpPacket;
use std::net::SocketAddrV4;

impl Processor {
    /// Handles one queued packet: its verdict (the actions it needs are collected for
    /// [`Processor::take_actions`]), or a conntrack lookup it needs first: then call it
    /// again for the same packet with the answer in `resume`.
    pub fn handle(&mut self, hook: Hook, packet: &[u8], now: u64, resume: Option<&Resume>) -> Step {
        let counters = self.counters;
        match self.decide(hook, packet, now, resume) {
            Ok(v) => Step::Verdict(v),
            Err(request) => {
                // Nothing but the counters changed before a lookup point.
                self.counters = counters;
                Step::Lookup(request)
            }
        }
    }

    fn decide(
        &mut self,
        hook: Hook,
        packet: &[u8],
        now: u64,
        resume: Option<&Resume>,
    ) -> Result<Verdict, LookupRequest> {
        self.counters.seen += 1;
        let Ok(pkt) = UdpPacket::parse(packet) else {
            self.counters.unparsable += 1;
            return Ok(Verdict::Accept);
        };
        let (Some(wan_ip), Some(advertised)) = (self.wan_ip, self.advertised_ip()) else {
            return Ok(self.pass(pkt.payload()));
        };
        let (src, dst) = (pkt.source(), pkt.destination());
        let (direction, phone, peer, public_port) = match hook {
            Hook::Outbound => {
                if *src.ip() == wan_ip {
                    return Ok(self.pass(pkt.payload()));
                }
                // With the ALG off, masquerade picks the port and nothing needs it here.
                let port = if self.policy.alg {
                    match self.outbound_mapping(src, dst, wan_ip, now, resume)? {
                        Some(port) => port,
                        // A new endpoint and no public port free: it cannot leave
                        // rewritten, so it does not leave (counted by the pool).
                        None => return Ok(Verdict::Drop),
                    }
                } else {
                    src.port()
                };
                (Direction::Outbound, src, dst, port)
            }
            Hook::Inbound => {
                if *dst.ip() != wan_ip {
                    return Ok(self.pass(pkt.payload()));
                }
                let Some(private) = self.inbound_mapping(src, dst, now, resume)? else {
                    return Ok(self.pass(pkt.payload()));
                };
                (Direction::Inbound, private, src, dst.port())
            }
        };
        let public = SocketAddrV4::new(advertised, public_port);
        let payload = pkt.payload();
        let flow = Flow {
            phone,
            peer,
            public,
            transport: "",
        };
        self.plan_message(payload, direction, &flow, now, |p, plan| {
            if std::mem::take(&mut p.refused) {
                return Ok(Verdict::Drop);
            }
            let Some(plan) = plan else {
                return Ok(Verdict::Accept);
            };
            Ok(p.rebuild(&pkt, payload, plan))
        })
    }

    /// The datagram with `plan` applied, lengths and checksums fixed.
    fn rebuild(&mut self, pkt: &UdpPacket<'_>, payload: &[u8], plan: &engine::Plan<'_>) -> Verdict {
        let mut out = self.buffers.pop().unwrap_or_default();
        out.reserve_exact(pkt.headers_len() + plan.edits.output_len(payload.len()));
        match pkt.rebuild(&mut out, |o| plan.write_into(o)) {
            // A verdict carries at most this much (a netlink attribute).
            Ok(()) if out.len() > MAX_REPLACEMENT => {
                self.counters.unparsable += 1;
                Verdict::Accept
            }
            Ok(()) => {
                self.counters.rewritten += 1;
                Verdict::Replace(out)
            }
            Err(_) => {
                self.counters.unparsable += 1;
                Verdict::Accept
            }
        }
    }

    /// Counts a packet passed without rewriting (still checks it frames as SIP).
    fn pass(&mut self, payload: &[u8]) -> Verdict {
        if crate::wire::sip::Message::parse(payload).is_ok() {
            self.counters.unchanged += 1;
        } else {
            self.counters.unparsable += 1;
        }
        Verdict::Accept
    }
}
