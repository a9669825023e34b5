//! The core's types at its boundary: which hook queued a packet, the verdict, a
//! conntrack lookup the caller answers, the counters, and who a message is between.

use std::net::{Ipv4Addr, SocketAddrV4};

/// What the core needs of the configuration, built by the daemon from it and handed
/// over whole ([`Processor::new`](super::Processor::new),
/// [`Processor::set_policy`](super::Processor::set_policy)): the one copy of policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `alg`: rewrite SIP (off: only read it for registrations, calls, DSCP, timeouts).
    pub alg: bool,
    /// `media_source any`: media is accepted from any remote address, not only the
    /// one the SDP names.
    pub media_any: bool,
    /// `external_address`: what the messages advertise instead of the WAN address.
    pub external_ip: Option<Ipv4Addr>,
    /// Seconds an idle signalling mapping lives (`timeouts.signaling`).
    pub signaling_timeout: u32,
    /// Seconds a call's media may stay idle (`timeouts.media`).
    pub media_timeout: u32,
}

impl Default for Policy {
    /// The configuration's defaults with the ALG on (the tests' and benchmarks' policy).
    fn default() -> Self {
        Policy {
            alg: true,
            media_any: false,
            external_ip: None,
            signaling_timeout: 3600,
            media_timeout: 300,
        }
    }
}

/// The largest packet a verdict can carry (a netlink attribute's length is 16 bits,
/// its 4-byte header included); a rewritten packet over it
/// passes unchanged. The NFQUEUE codec has the same limit (`netlink::nfqueue`,
/// checked equal where both are visible: `daemon::datapath`).
pub const MAX_REPLACEMENT: usize = u16::MAX as usize - 4;

/// A relayed TCP connection's ends as the core sees them: the phone (its Via
/// endpoint), the far end, and the public address the connection leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    pub phone: SocketAddrV4,
    pub peer: SocketAddrV4,
    pub public: SocketAddrV4,
}

/// A signalling mapping the SNAT map must hold: the phone's private endpoint, its
/// public port on the WAN address, and the element's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnatElement {
    pub private: SocketAddrV4,
    pub public_port: u16,
    pub seconds: u32,
}

/// What packet handling may need to read from the kernel (conntrack): the NAT mapping
/// of a flow that predates the daemon. [`Processor::handle`](super::Processor::handle) returns it as a
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

/// The outcome of [`Processor::handle`](super::Processor::handle).
#[derive(Debug)]
pub enum Step {
    Verdict(Verdict),
    /// Call `handle` again for the same packet with the answer to this request;
    /// nothing of the packet was taken into account yet.
    Lookup(LookupRequest),
}

/// The answer to `request` if `resume` carries it.
pub(super) fn answer(
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
