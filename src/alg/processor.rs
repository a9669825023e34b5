//! The ALG for one queued packet: find the flow's NAT mapping (our own table, else
//! conntrack for flows that predate us, else a new mapping programmed into the SNAT map
//! before the verdict), run the engine, and rebuild the packet with lengths and
//! checksums fixed. Anything that cannot be handled is accepted unchanged.
//!
//! It performs no IO: what the datapath must do comes out as [`Action`]s, split into
//! those that must be committed before this message's verdict and those that may
//! trail it; a flow that predates us needs conntrack, which comes back as a
//! [`LookupRequest`] the caller answers and resumes the packet with. So this logic runs
//! in tests without netlink.

use crate::engine::{self, AssumeRewritten, Direction, Facts, KeepPorts, Memory, Nat, PortMap};
use crate::state::actions::Action;
use crate::state::calls::{Calls, MediaPolicy, MediaPorts};
use crate::state::mappings::{Mappings, Program};
use crate::state::ports::PortPool;
use crate::state::registrations::Registrations;
use crate::state::restore::Restore;
use crate::wire::ipv4::UdpPacket;
use crate::wire::method::Method;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// What packet handling may need to read from the kernel (conntrack): the NAT mapping
/// of a flow that predates the daemon. [`Processor::handle`] returns it as a
/// [`Step::Lookup`]; the caller finds the answer and resumes the packet with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupRequest {
    /// The public source an existing outbound flow `src -> dst` was NATed to.
    NatOfOutbound {
        src: SocketAddrV4,
        dst: SocketAddrV4,
    },
    /// The private source of the flow whose replies go `src -> public_dst`.
    PrivateOfInbound {
        src: SocketAddrV4,
        public_dst: SocketAddrV4,
    },
}

/// A lookup's answer (`None`: no such flow), to resume a packet with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub request: LookupRequest,
    pub answer: Option<SocketAddrV4>,
}

/// The outcome of [`Processor::handle`].
#[derive(Debug)]
pub enum Step {
    Verdict(Verdict),
    /// Call `handle` again for the same packet with the answer to this request;
    /// nothing of the packet was taken into account yet.
    Lookup(LookupRequest),
}

/// The answer to `request` if `resume` carries it.
fn answer(
    resume: Option<&Resume>,
    request: LookupRequest,
) -> Result<Option<SocketAddrV4>, LookupRequest> {
    match resume {
        Some(r) if r.request == request => Ok(r.answer),
        _ => Err(request),
    }
}

/// Which hook queued the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// postrouting towards the WAN: LAN → WAN.
    Outbound,
    /// prerouting from the WAN: WAN → LAN.
    Inbound,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub seen: u64,
    pub rewritten: u64,
    pub unchanged: u64,
    pub unparsable: u64,
    pub verdict_errors: u64,
    pub program_errors: u64,
    /// Messages towards the LAN that carried the public mapping where the ALG had not
    /// written it (a NAT-aware phone's) or no longer knew (fail-open): left as received.
    pub not_restored: u64,
    /// Packets the kernel dropped at the queue because sipalgd could not keep up (the
    /// queue or our socket was full): their senders retransmit. Counted by the daemon
    /// from gaps in the queue's packet ids; the status report takes the kernel's
    /// figure (`/proc/net/netfilter/nfnetlink_queue`, readable by root only) when larger.
    pub queue_dropped: u64,
}

#[derive(Debug)]
pub enum Verdict {
    Accept,
    /// Accept with this new packet (IP header onwards).
    Replace(Vec<u8>),
    /// Drop it: it cannot leave rewritten (no public port is free for its signalling
    /// or media), and it must not leave with private addresses. Its sender retransmits.
    Drop,
}

/// Who a SIP message is between: the phone (its private signalling address), the far
/// end, and the phone's public address as the far end sees it; `transport` labels the
/// debug log (`""` for UDP, `" over TCP"`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    pub phone: SocketAddrV4,
    pub peer: SocketAddrV4,
    pub public: SocketAddrV4,
    pub transport: &'static str,
}

/// Per-daemon packet handling state: the pure state machines plus counters.
pub struct Processor {
    pub alg: bool,
    pub media_any: bool,
    /// The kernel looks the media NAT maps up as sets (Linux 6.5+), so they mark media
    /// flows themselves ([`MediaPolicy::maps_mark_media`]); the daemon probes it.
    pub maps_mark_media: bool,
    /// The WAN interface's IPv4 address (what SNAT uses and what arrives on the WAN).
    pub wan_ip: Option<Ipv4Addr>,
    /// `external_address`: what the messages advertise instead of the WAN address.
    pub external_ip: Option<Ipv4Addr>,
    pub signaling_timeout: u32,
    pub pool: PortPool,
    pub mappings: Mappings,
    pub calls: Calls,
    pub registrations: Registrations,
    /// What the ALG rewrote on the way out, so that only that is restored.
    pub restore: Restore,
    pub counters: Counters,
    /// Relayed TCP connections per phone endpoint: the public port they leave from and
    /// how many are open ([`Processor::open_stream`]).
    pub(crate) streams: BTreeMap<SocketAddrV4, (u16, usize)>,
    /// Actions that must be in the datapath before the verdicts of the messages
    /// handled since the last [`Processor::take_actions`].
    before: Vec<Action>,
    /// Actions of those messages that may follow their verdicts (nothing in them is
    /// needed by the messages themselves).
    trailing: Vec<Action>,
    /// Buffers of sent verdicts given back ([`Processor::recycle`]) for new packets.
    buffers: Vec<Vec<u8>>,
    /// The message being planned could not get a public port for its media.
    pub(crate) refused: bool,
}

/// Packet buffers kept for reuse: a burst's worth (the daemon's burst is 64 packets),
/// each at most this large (a SIP datagram is usually below the MTU).
const SPARE_BUFFERS: usize = 64;
const SPARE_BUFFER_BYTES: usize = 4096;

impl Processor {
    pub fn new(alg: bool, signaling_timeout: u32) -> Self {
        Processor {
            alg,
            media_any: false,
            maps_mark_media: true,
            wan_ip: None,
            external_ip: None,
            signaling_timeout,
            pool: PortPool::default(),
            mappings: Mappings::new(),
            calls: Calls::default(),
            registrations: Registrations::default(),
            restore: Restore::default(),
            counters: Counters::default(),
            streams: BTreeMap::new(),
            before: Vec::new(),
            trailing: Vec::new(),
            buffers: Vec::new(),
            refused: false,
        }
    }

    /// Gives back the packet of a [`Verdict::Replace`] once it is sent: its buffer
    /// serves a later rewritten packet.
    pub fn recycle(&mut self, mut packet: Vec<u8>) {
        if self.buffers.len() < SPARE_BUFFERS && packet.capacity() <= SPARE_BUFFER_BYTES {
            packet.clear();
            self.buffers.push(packet);
        }
    }

    /// The policy from the configuration and the WAN address: the one place where the
    /// config becomes the ALG's behaviour.
    pub fn configure(&mut self, c: &crate::config::Config, wan_ip: Option<Ipv4Addr>) {
        self.alg = c.alg;
        self.media_any = c.media_source == crate::config::MediaSource::Any;
        self.signaling_timeout = c.timeouts.signaling;
        self.external_ip = c.external_address;
        self.wan_ip = wan_ip;
    }

    /// Every action that rebuilds the datapath for the live calls and registrations
    /// (a new table starts empty), in a deterministic order.
    pub fn replay(&self, now: u64) -> Vec<Action> {
        let policy = self.policy();
        let mut actions = self.calls.replay(policy);
        if policy.alg {
            for r in self.registrations.iter() {
                let left =
                    r.expires_at.saturating_sub(now) as u32 + crate::state::registrations::MARGIN;
                actions.push(Action::Reachable {
                    registrar: *r.registrar.ip(),
                    public_port: r.public_port,
                    private: r.private,
                    seconds: left,
                    refresh: false,
                });
            }
        }
        actions
    }

    /// Forgets every mapping, call and registration (the WAN changed under them).
    pub fn forget(&mut self) {
        self.mappings.clear();
        self.calls.clear();
        self.registrations.clear();
        self.pool.clear();
    }

    pub fn advertised_ip(&self) -> Option<Ipv4Addr> {
        self.external_ip.or(self.wan_ip)
    }

    pub fn policy(&self) -> MediaPolicy {
        MediaPolicy {
            alg: self.alg,
            any_source: self.media_any,
            advertised: self.advertised_ip(),
            maps_mark_media: self.maps_mark_media,
        }
    }

    /// How many actions are collected (before, trailing): a mark for
    /// [`Processor::take_actions_since`].
    pub fn actions_mark(&self) -> (usize, usize) {
        (self.before.len(), self.trailing.len())
    }

    /// The actions collected after `mark` (all of them, in order), leaving those before.
    pub fn take_actions_since(&mut self, mark: (usize, usize)) -> Vec<Action> {
        let mut a = self.before.split_off(mark.0.min(self.before.len()));
        a.extend(self.trailing.split_off(mark.1.min(self.trailing.len())));
        a
    }

    /// The actions collected since the last call: (before the verdicts, may trail them).
    pub fn take_actions(&mut self) -> (Vec<Action>, Vec<Action>) {
        (
            std::mem::take(&mut self.before),
            std::mem::take(&mut self.trailing),
        )
    }

    /// Like [`Processor::take_actions`], appending to the caller's vectors (every
    /// vector keeps its capacity from burst to burst).
    pub fn append_actions(&mut self, before: &mut Vec<Action>, trailing: &mut Vec<Action>) {
        before.append(&mut self.before);
        trailing.append(&mut self.trailing);
    }

    /// Finds (or creates) the mapping of an outbound flow from `src` to `dst`; a new
    /// SNAT element is an action before the verdict (NAT is decided on the flow's
    /// first packet).
    fn outbound_mapping(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        wan_ip: Ipv4Addr,
        now: u64,
        resume: Option<&Resume>,
    ) -> Result<Option<u16>, LookupRequest> {
        let timeout = self.signaling_timeout;
        if self.mappings.by_private(src).is_none() {
            if let Some(public) = answer(resume, LookupRequest::NatOfOutbound { src, dst })? {
                if *public.ip() == wan_ip {
                    // The flow predates us (e.g. a restart): keep what the kernel chose,
                    // and make new flows from this endpoint use it too.
                    self.mappings
                        .observed(&mut self.pool, src, public.port(), now);
                    self.before.push(Action::Snat {
                        private: src,
                        public_port: public.port(),
                        seconds: timeout,
                        refresh: false,
                    });
                    return Ok(Some(public.port()));
                }
            }
        }
        let Some((m, program)) =
            self.mappings
                .outbound(&mut self.pool, src, now, u64::from(timeout / 2))
        else {
            return Ok(None);
        };
        if let Program::Snat {
            private,
            public_port,
            refresh,
        } = program
        {
            self.before.push(Action::Snat {
                private,
                public_port,
                seconds: timeout,
                refresh,
            });
        }
        Ok(Some(m.public_port))
    }

    fn inbound_mapping(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        now: u64,
        resume: Option<&Resume>,
    ) -> Result<Option<SocketAddrV4>, LookupRequest> {
        if let Some(m) = self.mappings.by_public_port(dst.port()).copied() {
            self.mappings.touch(m.private, now);
            return Ok(Some(m.private));
        }
        let request = LookupRequest::PrivateOfInbound {
            src,
            public_dst: dst,
        };
        let Some(private) = answer(resume, request)? else {
            return Ok(None);
        };
        self.mappings
            .observed(&mut self.pool, private, dst.port(), now);
        Ok(Some(private))
    }

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
                let port = if self.alg {
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
            Ok(()) if out.len() > crate::netlink::nfqueue::MAX_REPLACEMENT => {
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

    /// What every SIP message goes through, a queued datagram or a message on a relayed
    /// TCP connection: the engine with the ALG's NAT (an identity mapping with the ALG
    /// off, which still reads registrations, calls, DSCP and timeouts), media-port
    /// claims kept only if the message is rewritten with them (a skipped rewrite, e.g.
    /// too many edits, gives them back), the restoration memory, the counters and the
    /// registration and call state. `finish` gets the plan to apply, or `None` when
    /// the message passes unchanged (unparsable, nothing to change, or the ALG off).
    /// The plan is borrowed from the result the engine built it in (about 2.7 KB with
    /// its inline edit list), never moved.
    #[inline]
    pub(crate) fn plan_message<R>(
        &mut self,
        message: &[u8],
        direction: Direction,
        flow: &Flow,
        now: u64,
        finish: impl FnOnce(&mut Self, Option<&engine::Plan<'_>>) -> R,
    ) -> R {
        let Flow {
            phone,
            peer,
            public,
            transport,
        } = *flow;
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
        // A refusal before this message (its signalling mapping's, a relayed
        // connection's) is not this message's.
        self.pool.take_refusal();
        self.refused = false;
        self.pool.begin();
        let mut media = MediaPorts {
            pool: &mut self.pool,
        };
        let ports: &mut dyn PortMap = if self.alg { &mut media } else { &mut keep };
        let (mut at, mut stateless) = (self.restore.at(now), AssumeRewritten);
        let memory: &mut dyn Memory = if self.alg { &mut at } else { &mut stateless };
        let result = engine::plan_with(message, direction, &nat, ports, memory);
        let Ok(plan) = &result else {
            self.pool.rollback();
            self.counters.unparsable += 1;
            return finish(self, None);
        };
        if self.pool.take_refusal() && self.alg && plan.facts.skipped.is_none() {
            // A media port could not be had: nothing of this message is kept (its
            // ports go back, no call state), and it must not leave (see Verdict::Drop).
            self.pool.rollback();
            self.refused = true;
            return finish(self, None);
        }
        if plan.facts.skipped.is_some() {
            self.pool.rollback();
        } else {
            self.pool.commit();
        }
        if direction == Direction::Inbound && self.alg {
            let r = &plan.restoration;
            if !r.kept.is_empty() || r.streams_kept > 0 {
                self.counters.not_restored += 1;
            }
            if log::log_enabled!(log::Level::Debug) {
                for line in plan.restoration_lines() {
                    log::debug!("to {phone}{transport}: {line}");
                }
            }
        }
        self.track(&plan.facts, direction, phone, peer, public, now);
        if plan.is_unchanged() || !self.alg {
            self.counters.unchanged += 1;
            return finish(self, None);
        }
        finish(self, Some(plan))
    }

    /// Feeds a message's facts to the registration and call state. Actions caused by
    /// the far end's messages go before its verdict (its own media may follow it at
    /// once); the phone's may trail: what a phone's message asks for (its media
    /// mapping, pinholes for the far end) is needed a network round trip later at the
    /// earliest, never by the message itself.
    pub(crate) fn track(
        &mut self,
        facts: &Facts,
        direction: Direction,
        phone: SocketAddrV4,
        peer: SocketAddrV4,
        public: SocketAddrV4,
        now: u64,
    ) {
        let from_phone = direction == Direction::Outbound;
        let policy = self.policy();
        let actions = if from_phone {
            &mut self.trailing
        } else {
            &mut self.before
        };
        if from_phone && Method::Register.is(facts.method) {
            self.registrations.on_request(facts, phone, now);
        } else if !from_phone && facts.status.is_some() && Method::Register.is(facts.cseq_method) {
            let mut registered = self
                .registrations
                .on_response(facts, phone, public, peer, now);
            if !self.alg {
                // Reachability through our DNAT is an ALG feature; keeping the flow alive is not.
                registered.retain(|a| matches!(a, Action::FlowTimeout { .. }));
            }
            actions.append(&mut registered);
        }
        self.calls.on_message(
            facts,
            phone,
            peer,
            from_phone,
            policy,
            &mut self.pool,
            now,
            actions,
        );
    }

    /// Periodic work: expire registrations, idle calls and idle signalling mappings.
    /// Returns the actions that withdraw them from the datapath.
    #[must_use]
    pub fn housekeeping(&mut self, now: u64, media_timeout: u32) -> Vec<Action> {
        let mut actions = self.registrations.expire(now);
        let policy = self.policy();
        actions.extend(
            self.calls
                .expire(now, u64::from(media_timeout), policy, &mut self.pool),
        );
        self.restore.expire(now);
        let regs = &self.registrations;
        self.mappings.expire(
            &mut self.pool,
            now,
            u64::from(self.signaling_timeout),
            |m| regs.get(m.private).is_some(),
        );
        actions
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::ipv4::checksums_ok;

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
    pub(crate) fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
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
        let mut p = Processor::new(true, 3600);
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
        assert!(
            String::from_utf8_lossy(v.payload()).contains("Contact: <sip:100@198.51.100.1:5060>")
        );
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
        assert!(text.contains("Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=192.168.1.20;rport=5060"), "{text}");
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
        let _ = p.housekeeping(40, 300);
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
            let reg = String::from_utf8_lossy(REGISTER)
                .replace("192.168.1.20", &format!("192.168.1.{i}"));
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
        p.alg = false;
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
        p.alg = true;
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

    #[test]
    fn registration_and_call_state_follow_the_datapath() {
        let mut p = processor();
        let mut k = FakeKernel::default();
        let reg = b"REGISTER sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport\r\nTo: <sip:100@pbx>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.20:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", reg),
            0,
        );
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@198.51.100.1:5060>;expires=120\r\nContent-Length: 0\r\n\r\n";
        k.handle(
            &mut p,
            Hook::Inbound,
            &udp("198.51.100.10:5060", "198.51.100.1:5060", ok),
            1,
        );
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
        assert!(String::from_utf8_lossy(&out)
            .contains("c=IN IP4 198.51.100.1\r\nm=audio 4000 RTP/AVP 0"));
        k.commit(&mut p);
        assert_eq!(k.before, 0, "media actions may trail the verdict");
        assert!(k.actions.contains(&Action::MediaSnat {
            private: "192.168.1.20:4000".parse().unwrap(),
            public_port: 4000
        }));
        assert_eq!(p.calls.len(), 1);

        // With the ALG off: nothing rewritten, registration kept alive, media still marked.
        let mut p = processor();
        p.alg = false;
        let mut k = FakeKernel::default();
        k.handle(
            &mut p,
            Hook::Outbound,
            &udp("192.168.1.20:5060", "198.51.100.10:5060", reg),
            0,
        );
        k.conntrack.push((
            "192.168.1.20:5060".parse().unwrap(),
            "198.51.100.10:5060".parse().unwrap(),
            "198.51.100.1:5060".parse().unwrap(),
        ));
        let ok_plain =
            String::from_utf8_lossy(ok).replace("198.51.100.1:5060>", "192.168.1.20:5060>");
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
}
