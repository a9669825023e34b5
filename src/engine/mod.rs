//! The pure rewrite core (sans-IO): given one SIP message and the NAT mapping of the
//! flow it travels on, decide the minimal byte edits that make it correct on the other
//! side, and report what the message means for the stateful layer.
//!
//! - Outbound (LAN → WAN): the sender's private `ip:port` becomes the public one in the
//!   top Via sent-by, Contact, a Record-Route it added, and SDP `o=`, `c=`, `m=` ports
//!   (through a [`PortMap`] supplied by the caller) and `a=rtcp`.
//! - Inbound (WAN → LAN): exactly what the ALG rewrote on the way out is given back its
//!   private value, and nothing else ([`restore`]): a response's top Via
//!   (sent-by/`received`/`rport`) and Contact when the ALG rewrote them in the request it
//!   answers, a request's Request-URI (and Route) when it is aimed at a Contact (or
//!   Record-Route) the ALG rewrote, SDP streams the ALG mapped for this phone. What the
//!   phone wrote itself, and the far end's own addresses, stay. From/To are never
//!   rewritten.
//!
//! Everything else stays byte-identical; Content-Length follows body edits. No sockets,
//! no clock, no allocation unless the message changes.
// The pure core has no `unsafe` of its own (docs/architecture.md). An exception must
// be measured against a crate first and allowed where it is, with the figures
// (`#[allow(unsafe_code)]`); none is today (issue #21 replaced the last two).
#![deny(unsafe_code)]

pub mod edit;
pub mod facts;
mod headers;
pub mod restore;
mod sdp;

pub use edit::{Edit, Edits, Field};
pub use facts::{Contact, Facts, MediaKind, Sdp, Skip, Stream, StreamDirection};
pub use restore::{AssumeRewritten, Memory, Recall, Recalled, Restoration, Rewrites, Written};

use crate::wire::method::Method;
use crate::wire::sip::{FrameError, Framer, Message};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Which way a message crosses the NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// LAN → WAN: from the private side.
    Outbound,
    /// WAN → LAN: towards the private side.
    Inbound,
}

/// The NAT mapping of the signalling flow: the LAN host's address and the public
/// address it appears as on the WAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat {
    pub private: SocketAddrV4,
    pub public: SocketAddrV4,
}

/// RTP or RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Rtp,
    Rtcp,
}

/// A question from the core to the stateful layer: which public port does this private
/// media endpoint get?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRequest {
    /// Index of the `m=` line in the SDP.
    pub index: usize,
    pub kind: MediaKind,
    pub role: Role,
    pub private: SocketAddrV4,
    /// For an RTCP port that the SDP does not state (`RTP + 1`), the public port it
    /// must get so that the implied pairing still holds.
    pub required: Option<u16>,
}

/// Answers [`MediaRequest`]s. The daemon's state allocates ports and programs the
/// datapath; tests and `sipalgd rewrite` keep the private port.
pub trait PortMap {
    fn public_port(&mut self, request: &MediaRequest) -> u16;
    /// Towards the LAN: the private port of the phone at `private_ip` that the ALG
    /// mapped to `public_port` for media, if it did (then an SDP stream on that public
    /// port is restored). By default nothing was mapped.
    fn mapped(&mut self, _private_ip: Ipv4Addr, _public_port: u16) -> Option<u16> {
        None
    }
}

/// Keeps every media port as the phone chose it (and, statelessly, takes a stream on the
/// public address to be one it mapped, with the same port).
pub struct KeepPorts;

impl PortMap for KeepPorts {
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        r.required.unwrap_or(r.private.port())
    }
    fn mapped(&mut self, _: Ipv4Addr, public_port: u16) -> Option<u16> {
        Some(public_port)
    }
}

impl<F: FnMut(&MediaRequest) -> u16> PortMap for F {
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        self(r)
    }
}

/// The input could not be framed as a SIP message; pass it on unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparsable(pub FrameError);

/// The outcome for one message: the edits to make (possibly none) and the facts.
pub struct Plan<'a> {
    pub facts: Facts<'a>,
    pub edits: Edits,
    /// Inbound: what was (not) restored and why.
    pub restoration: Restoration,
    message: &'a [u8],
}

impl<'a> Plan<'a> {
    pub fn is_unchanged(&self) -> bool {
        self.edits.is_empty()
    }

    pub fn original(&self) -> &'a [u8] {
        self.message
    }

    /// Appends the rewritten message to `out`.
    pub fn write_into(&self, out: &mut Vec<u8>) {
        self.edits.apply_into(self.message, out);
    }

    /// The rewritten message (one allocation).
    pub fn output(&self) -> Vec<u8> {
        self.edits.apply(self.message)
    }

    /// Why things were or were not restored (inbound), one line each.
    pub fn restoration_lines(&self) -> Vec<String> {
        self.restoration
            .lines(self.facts.branch, self.facts.cseq_method)
    }
}

/// Plans the rewrite of one SIP message crossing the NAT in `direction`, with no memory
/// of the outbound side: an inbound message is treated as coming back after the ALG
/// rewrote the phone's messages ([`AssumeRewritten`]). The daemon uses [`plan_with`].
#[inline]
pub fn plan<'a>(
    message: &'a [u8],
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
) -> Result<Plan<'a>, Unparsable> {
    plan_with(message, direction, nat, ports, &mut AssumeRewritten)
}

/// Plans the rewrite of one SIP message crossing the NAT in `direction`: outbound, what
/// the ALG did is told to `memory`; inbound, `memory` decides what is restored.
#[inline]
pub fn plan_with<'a>(
    message: &'a [u8],
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
    memory: &mut dyn Memory,
) -> Result<Plan<'a>, Unparsable> {
    let mut framer = Message::framer(message).map_err(Unparsable)?;
    // Inlined, and built inside the result it returns: the plan (about 2.7 KB with its
    // inline edit list) is filled where the caller keeps it instead of being copied
    // there. Callers that borrow it from the result (`let Ok(p) = &result`) copy none.
    let mut result = Ok(Plan {
        facts: Facts {
            method: framer.method(),
            status: framer.status(),
            ..Facts::default()
        },
        edits: Edits::new(),
        restoration: Restoration::default(),
        message,
    });
    if let Ok(plan) = &mut result {
        if let Err(e) = fill(plan, &mut framer, direction, nat, ports, memory) {
            return Err(Unparsable(e));
        }
    }
    result
}

// Always inlined into `plan_with`: left to LLVM, the restoration code made it stop
// inlining `fill` and the framer's line reader, +0.9 k instructions per INVITE.
#[inline(always)]
fn fill<'a>(
    plan: &mut Plan<'a>,
    framer: &mut Framer<'a>,
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
    memory: &mut dyn Memory,
) -> Result<(), FrameError> {
    let Plan {
        facts,
        edits,
        restoration,
        message,
    } = plan;
    let message: &'a [u8] = message;
    let scan = headers::scan(framer, direction, nat, facts, edits)?;
    if direction == Direction::Inbound && !scan.secure {
        recall(message, &scan, nat, facts, edits, memory, restoration);
    }
    let mut nat_aware = scan.nat_aware;
    if let Some(body) = scan.sdp_body.clone() {
        let leave_alone = scan.secure || (direction == Direction::Outbound && nat_aware);
        let sdp = sdp::plan(
            message,
            body.clone(),
            direction,
            nat,
            ports,
            edits,
            leave_alone,
        );
        nat_aware |= sdp.nat_aware;
        restoration.streams_restored = sdp.restored;
        restoration.streams_kept = sdp.kept;
        facts.sdp = Some(sdp.facts);
        let delta = edits.delta_within(body);
        if delta != 0 {
            if let Some((range, declared)) = scan.content_length.clone() {
                let new = declared as isize + delta;
                edits.replace(
                    message,
                    range,
                    Field::ContentLength,
                    crate::wire::text::Inline::number(new as u32),
                );
            }
        }
    }
    let skip = if scan.secure {
        Some(Skip::Secure)
    } else if direction == Direction::Outbound && nat_aware {
        Some(Skip::NatAware)
    } else if edits.overflowed() {
        Some(Skip::TooManyEdits)
    } else {
        None
    };
    if skip.is_some() {
        edits.clear();
        if let Some(sdp) = facts.sdp.as_mut() {
            sdp::unmap(sdp);
        }
    }
    facts.skipped = skip;
    if direction == Direction::Outbound && !scan.secure {
        tell(message, &scan, nat, facts, edits, memory);
    }
    Ok(())
}

/// Inbound: keeps the restoration candidates the memory of the outbound side allows,
/// each given back what the phone wrote there when the memory knows it.
// Out of line, as `tell`: rarely needed in full, and kept out of `fill`'s size.
#[inline(never)]
fn recall(
    message: &[u8],
    scan: &headers::Scan,
    nat: &Nat,
    facts: &Facts,
    edits: &mut Edits,
    memory: &mut dyn Memory,
    restoration: &mut Restoration,
) {
    let recall = if let Some(status) = facts.status {
        // A missing part keys nothing the memory holds (it records complete keys only).
        let answer = restore::Answer {
            branch: facts.branch.or(facts.call_id).unwrap_or_default(),
            method: facts.cseq_method.unwrap_or_default(),
            sent_by: scan.sent_by.clone().map_or(&[][..], |r| &message[r]),
            status,
            candidates: edits
                .iter()
                .fold(Rewrites::NONE, |c, e| c.with(Rewrites::of(e.field))),
        };
        let r = memory.response(nat, &answer);
        restoration.transaction = Some(r.recalled);
        r
    } else {
        if edits.is_empty() {
            return;
        }
        let r = memory.request(nat);
        restoration.contact = Some(r.recalled);
        r
    };
    let via_planned = drop_restorations(message, edits, &recall, restoration);
    // A response's sent-by keys the transaction: it is exactly what the ALG wrote, also
    // when that was the address alone (the phone's Via named another port than the one
    // it sends from), which is not this mapping's `ip:port` and so was not planned.
    if let (false, true, Some(phone), Some(range)) = (
        via_planned,
        recall.recalled.rewrites().contains(Rewrites::VIA),
        recall.written.of(Field::ViaSentBy),
        scan.sent_by.clone(),
    ) {
        if facts.status.is_some() {
            edits.replace(message, range, Field::ViaSentBy, *phone);
            restoration.restored = restoration.restored.with(Rewrites::VIA);
        }
    }
}

/// Keeps the planned restorations the memory allows, each writing what the phone wrote
/// when that is known. Returns whether a Via sent-by restoration was planned.
fn drop_restorations(
    message: &[u8],
    edits: &mut Edits,
    recall: &Recall,
    restoration: &mut Restoration,
) -> bool {
    let allowed = recall.recalled.rewrites();
    let (mut restored, mut kept) = (Rewrites::NONE, Rewrites::NONE);
    let mut via_planned = false;
    edits.retain(|e| {
        via_planned |= e.field == Field::ViaSentBy;
        let class = Rewrites::of(e.field);
        if !allowed.contains(class) {
            kept = kept.with(class);
            return false;
        }
        restored = restored.with(class);
        match recall.written.of(e.field) {
            Some(phone) if &message[e.range()] == phone.as_bytes() => false,
            Some(phone) => {
                e.set_replacement(*phone);
                true
            }
            None => true,
        }
    });
    restoration.restored = restored;
    restoration.kept = kept;
    via_planned
}

/// Outbound: tells the memory what the ALG did to this message.
#[inline(never)]
fn tell(
    message: &[u8],
    scan: &headers::Scan,
    nat: &Nat,
    facts: &Facts,
    edits: &Edits,
    memory: &mut dyn Memory,
) {
    let mut rewrote = Rewrites::NONE;
    let mut sent_by = scan.sent_by.clone().map(|r| &message[r]);
    let mut phone_wrote = restore::Wrote::default();
    for e in edits.iter() {
        rewrote = rewrote.with(Rewrites::of(e.field));
        // What the phone wrote where the ALG wrote the public mapping (a Contact or
        // Record-Route whose port the ALG could not map is not what comes back).
        let slot = match e.field {
            Field::ViaSentBy => {
                sent_by = Some(e.replacement());
                &mut phone_wrote.via
            }
            Field::Contact => &mut phone_wrote.contact,
            Field::RecordRoute => &mut phone_wrote.record_route,
            _ => continue,
        };
        if slot.is_none() && (e.field == Field::ViaSentBy || e.is_mapping()) {
            *slot = Some(&message[e.range()]);
        }
    }
    let registration = Method::Register
        .is(facts.method)
        .then(|| {
            facts
                .contacts()
                .iter()
                .filter_map(|c| facts.contact_expiry(c))
                .max()
        })
        .flatten();
    memory.sent(
        nat,
        &restore::Sent {
            request: facts.is_request(),
            branch: facts.branch.or(facts.call_id),
            method: facts.cseq_method,
            sent_by,
            phone_wrote,
            rewrote,
            has_contact: facts.contact_count > 0,
            nat_aware: facts.skipped == Some(Skip::NatAware),
            registration,
        },
    );
}

#[cfg(test)]
mod tests;
