//! The pure rewrite core (sans-IO): given one SIP message and the NAT mapping of the
//! flow it travels on, decide the minimal byte edits that make it correct on the other
//! side, and report what the message means for the stateful layer.
//!
//! - Outbound (LAN → WAN): the sender's private `ip:port` becomes the public one in the
//!   top Via sent-by, Contact, a Record-Route it added, and SDP `o=`, `c=`, `m=` ports
//!   (through a [`PortMap`] supplied by the caller) and `a=rtcp`.
//! - Inbound (WAN → LAN): wherever this flow's public mapping appears (Request-URI, top
//!   Via sent-by/`received`/`rport`, Contact, Route, Record-Route, From, To) the private
//!   address is restored. The far end's own addresses stay.
//!
//! Everything else stays byte-identical; Content-Length follows body edits. No sockets,
//! no clock, no allocation unless the message changes.

pub mod edit;
pub mod facts;
mod headers;
#[doc(hidden)]
pub mod invariants;
mod sdp;

pub use edit::{Edit, Edits, Field};
pub use facts::{Contact, Facts, MediaKind, Sdp, Skip, Stream, StreamDirection};

use crate::wire::sip::{FrameError, Framer, Message};
use std::net::SocketAddrV4;

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
}

/// Keeps every media port as the phone chose it.
pub struct KeepPorts;

impl PortMap for KeepPorts {
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        r.required.unwrap_or(r.private.port())
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
}

/// Plans the rewrite of one SIP message crossing the NAT in `direction`.
#[inline]
pub fn plan<'a>(
    message: &'a [u8],
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
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
        message,
    });
    if let Ok(plan) = &mut result {
        if let Err(e) = fill(plan, &mut framer, direction, nat, ports) {
            return Err(Unparsable(e));
        }
    }
    result
}

fn fill<'a>(
    plan: &mut Plan<'a>,
    framer: &mut Framer<'a>,
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
) -> Result<(), FrameError> {
    let Plan {
        facts,
        edits,
        message,
    } = plan;
    let message: &'a [u8] = message;
    let scan = headers::scan(framer, direction, nat, facts, edits)?;
    let mut nat_aware = scan.nat_aware;
    if let Some(body) = scan.sdp_body {
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
        facts.sdp = Some(sdp.facts);
        let delta = edits.delta_within(body);
        if delta != 0 {
            if let Some((range, declared)) = scan.content_length {
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
    Ok(())
}

#[cfg(test)]
mod tests;
