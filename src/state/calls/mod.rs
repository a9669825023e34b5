//! Calls (INVITE dialogs) and their media, from the SIP that crosses the router. Each
//! call keeps its own streams and pinholes, even when hundreds share one signalling
//! flow (a PBX on a trunk). Offers and answers in either direction (INVITE, re-INVITE,
//! UPDATE, PRACK, ACK, 1xx/2xx) move them; BYE, CANCEL, a failed initial INVITE and
//! idleness remove them.

mod media;
mod table;

pub use media::MediaPorts;

use super::actions::Action;
use super::ports::PortPool;
use super::restore::Prehashed;
use crate::engine::{Facts, MediaKind, Stream as SdpStream, StreamDirection};
use crate::wire::method::Method;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::net::{Ipv4Addr, SocketAddrV4};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Offer sent, no final answer yet.
    Early,
    Confirmed,
}

impl CallState {
    pub fn name(self) -> &'static str {
        match self {
            CallState::Early => "early",
            CallState::Confirmed => "confirmed",
        }
    }
}

/// One media stream of a call, as both sides announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub kind: MediaKind,
    pub direction: StreamDirection,
    /// The phone's media endpoint (RTP) and its RTCP port.
    pub private: Option<SocketAddrV4>,
    pub private_rtcp: u16,
    pub public_port: u16,
    pub public_rtcp: u16,
    /// The far end's media endpoint from its SDP.
    pub remote: Option<SocketAddrV4>,
    pub remote_rtcp: u16,
    /// Media packets phone → far end and far end → phone (from conntrack counters).
    pub packets_out: u64,
    pub packets_in: u64,
    /// When packets were first seen in either direction.
    pub flowing_since: Option<u64>,
    /// When the counters last grew.
    pub last_packet_at: Option<u64>,
}

impl Stream {
    fn empty(kind: MediaKind) -> Self {
        Stream {
            kind,
            direction: StreamDirection::SendRecv,
            private: None,
            private_rtcp: 0,
            public_port: 0,
            public_rtcp: 0,
            remote: None,
            remote_rtcp: 0,
            packets_out: 0,
            packets_in: 0,
            flowing_since: None,
            last_packet_at: None,
        }
    }

    /// One direction stayed silent for `after` seconds while the other flowed.
    pub fn one_way(&self, now: u64, after: u64) -> bool {
        let silent_one_side = (self.packets_in == 0) != (self.packets_out == 0);
        silent_one_side
            && self
                .flowing_since
                .is_some_and(|t| now.saturating_sub(t) >= after)
    }

    /// The phone's SDP stream `s` with its usable `endpoint` (port and address set).
    /// Only the phone's own address counts: no pinholes for other hosts (NAT
    /// slipstreaming).
    fn offered_by_phone(
        &mut self,
        s: &SdpStream,
        endpoint: Option<SocketAddrV4>,
        phone: SocketAddrV4,
    ) {
        match endpoint.filter(|e| e.ip() == phone.ip()) {
            Some(e) => {
                self.private = Some(e);
                self.private_rtcp = s.rtcp_port;
                self.public_port = if s.mapped { s.public_port } else { e.port() };
                self.public_rtcp = if s.mapped {
                    s.public_rtcp_port
                } else {
                    s.rtcp_port
                };
            }
            // Port 0: the stream is removed. 0.0.0.0 (old-style hold) keeps it.
            None if s.port == 0 => self.private = None,
            None => {}
        }
    }

    /// The far end's SDP stream `s` with its usable `endpoint`.
    fn offered_by_far_end(&mut self, s: &SdpStream, endpoint: Option<SocketAddrV4>) {
        match endpoint {
            Some(e) => {
                self.remote = Some(e);
                self.remote_rtcp = s.rtcp_port;
            }
            None if s.port == 0 => self.remote = None,
            None => {}
        }
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub call_id: String,
    /// The phone's signalling endpoint and the far end's.
    pub phone: SocketAddrV4,
    pub peer: SocketAddrV4,
    /// The phone placed the call.
    pub outbound: bool,
    pub state: CallState,
    pub created: u64,
    pub last_signal: u64,
    pub invite_cseq: Option<u32>,
    pub streams: Vec<Stream>,
    /// Its place in [`Calls`]' quiet order: (last signal, arrival number).
    quiet: (u64, u64),
    /// The keyed hash of (phone, Call-ID) it is indexed by, and the next call whose key
    /// hashes alike (a chain that a collision makes longer than one).
    hash: u64,
    next: Option<usize>,
}

impl Call {
    pub fn one_way(&self, now: u64, after: u64) -> bool {
        self.streams.iter().any(|s| s.one_way(now, after))
    }
}

/// A message as [`Calls::on_message`] was given it.
struct Message<'m, 'f> {
    facts: &'m Facts<'f>,
    phone: SocketAddrV4,
    peer: SocketAddrV4,
    from_phone: bool,
    now: u64,
}

impl Message<'_, '_> {
    /// An INVITE outside a dialog (no To tag): the only message that starts a call.
    fn is_initial_invite(&self) -> bool {
        Method::Invite.is(self.facts.method) && self.facts.to_tag.is_none()
    }
}

impl Call {
    /// What a message says of the call: when it last signalled, the CSeq of the INVITE
    /// that started it, whether it is confirmed, and its streams from an SDP. Each
    /// stream that changed goes into `changed` as (before, after); the far end's media
    /// ports that are the router's own public address (a LAN phone: hairpin) into
    /// `reflected`.
    fn update(
        &mut self,
        msg: &Message,
        policy: MediaPolicy,
        changed: &mut Vec<(Stream, Stream)>,
        reflected: &mut Vec<u16>,
    ) {
        let facts = msg.facts;
        self.last_signal = msg.now;
        if msg.is_initial_invite() {
            self.invite_cseq = facts.cseq;
        }
        if facts.status.is_some_and(|s| (200..300).contains(&s))
            && Method::Invite.is(facts.cseq_method)
        {
            self.state = CallState::Confirmed;
        }
        let Some(sdp) = facts.sdp.as_ref().filter(|s| !s.has_ice || !msg.from_phone) else {
            return;
        };
        for (i, s) in sdp.streams().iter().enumerate() {
            if self.streams.len() <= i {
                self.streams.push(Stream::empty(s.kind));
            }
            let before = self.streams[i];
            let st = &mut self.streams[i];
            st.kind = s.kind;
            st.direction = s.direction;
            let endpoint = s
                .endpoint()
                .filter(|e| e.port() != 0 && !e.ip().is_unspecified());
            if msg.from_phone {
                st.offered_by_phone(s, endpoint, msg.phone);
            } else {
                st.offered_by_far_end(s, endpoint);
                if let Some(e) = endpoint {
                    if policy.alg && policy.advertised == Some(*e.ip()) {
                        reflected.push(e.port());
                        reflected.push(s.rtcp_port);
                    }
                }
            }
            if *st != before {
                changed.push((before, *st));
            }
        }
    }
}

/// Media settings of the daemon that shape the actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Rewrite and open pinholes (`alg=1`); otherwise only observe and mark.
    pub alg: bool,
    /// Pinholes accept any source (`media_source any`), not only the far end's SDP address.
    pub any_source: bool,
    /// The address the ALG writes into SDP: when it comes back from outside, the far
    /// end is another LAN phone (hairpin).
    pub advertised: Option<Ipv4Addr>,
    /// With the ALG on, the media NAT maps also recognise media flows (their rules look
    /// the map up as a set, which Linux accepts from 6.5): no [`Action::MediaEndpoint`]
    /// is needed. Otherwise (an older kernel, or the ALG off) each media endpoint also
    /// goes into the endpoint set, which marks its flows.
    pub maps_mark_media: bool,
}

impl MediaPolicy {
    /// Whether media endpoints go into the endpoint set (see [`MediaPolicy::maps_mark_media`]).
    fn endpoint_set(self) -> bool {
        !self.alg || !self.maps_mark_media
    }
}

/// Calls kept at most (a home router or a small PBX needs far fewer).
pub const MAX_CALLS: usize = 4096;

/// The calls, plus indexes that keep every per-message operation O(1) or O(log n): the
/// calls by (phone, Call-ID), the order in which they last signalled (eviction takes the
/// first) and how many streams use each private media endpoint (shared-stream checks).
/// Whatever iterates the calls (replay, expiry, status) goes in key order (phone, then
/// Call-ID), so it produces actions in a deterministic order.
#[derive(Debug, Default)]
pub struct Calls {
    /// Each call in a slot that stays its own while it lives; freed slots are reused.
    slots: Vec<Option<Call>>,
    free: Vec<usize>,
    /// The first slot of the calls whose (phone, Call-ID) has this keyed hash (random
    /// per process: a far end cannot aim at collisions; they are chained anyway).
    index: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    keys: RandomState,
    /// Calls (slots) by (last signal, arrival number), the number breaking ties in
    /// arrival order; each call holds its own entry's key.
    quiet_order: BTreeMap<(u64, u64), usize>,
    next_stamp: u64,
    /// Streams (of all calls) whose private endpoint is this address.
    endpoint_users: HashMap<SocketAddrV4, u32>,
    /// Public media ports reflected to the LAN (hairpin), and where to.
    hairpins: BTreeMap<u16, SocketAddrV4>,
    /// The streams a message changed (before, after): kept for its capacity.
    changed: Vec<(Stream, Stream)>,
    /// The Call-ID and stream buffers of removed calls, emptied, for new calls.
    spare: Vec<(String, Vec<Stream>)>,
    /// Calls forgotten because [`MAX_CALLS`] were tracked (the quietest first).
    pub evicted: u64,
}

/// Buffers of removed calls kept for new ones (each at most a few hundred bytes).
const SPARE: usize = 16;

impl Calls {
    /// A message between `phone` (LAN signalling endpoint) and `peer`, in either
    /// direction (`from_phone`). `facts` are of the message as the phone sent it (with
    /// the public ports the engine chose) or as the far end sent it. The actions it
    /// causes are appended to `actions`.
    #[allow(clippy::too_many_arguments)] // the message, who sent it where, and the context
    pub fn on_message(
        &mut self,
        facts: &Facts,
        phone: SocketAddrV4,
        peer: SocketAddrV4,
        from_phone: bool,
        policy: MediaPolicy,
        pool: &mut PortPool,
        now: u64,
        actions: &mut Vec<Action>,
    ) {
        let Some(call_id) = facts.call_id else {
            return;
        };
        let call_id = match std::str::from_utf8(call_id) {
            Ok(id) => std::borrow::Cow::Borrowed(id),
            Err(_) => String::from_utf8_lossy(call_id),
        };
        let msg = Message {
            facts,
            phone,
            peer,
            from_phone,
            now,
        };
        let hash = self.hash(phone, &call_id);
        let slot = match self.find(hash, phone, &call_id) {
            Some(slot) => slot,
            // Only an initial INVITE starts a call.
            None if msg.is_initial_invite() => {
                self.start(hash, &call_id, &msg, policy, pool, actions)
            }
            None => return,
        };
        if self.ends(slot, facts) {
            if let Some(call) = self.remove(slot) {
                self.teardown(&call, policy, pool, actions);
                self.recycle(call);
            }
            return;
        }
        let mut changed = std::mem::take(&mut self.changed);
        changed.clear();
        let mut reflected = Vec::new();
        self.touch(slot, now);
        let call = self.slots[slot].as_mut().expect("present");
        call.update(&msg, policy, &mut changed, &mut reflected);
        for (before, after) in &changed {
            if before.private != after.private {
                self.endpoint_unused(before.private);
                self.endpoint_used(after.private);
            }
        }
        for port in reflected {
            self.reflect(port, pool, actions);
        }
        self.settle(slot, &changed, policy, pool, actions);
        self.changed = changed;
    }

    /// Stores a new call for an initial INVITE and returns its slot. When
    /// [`MAX_CALLS`] are tracked, the call that has been quiet longest goes first: a
    /// flood of INVITEs must not grow the state without bound.
    fn start(
        &mut self,
        hash: u64,
        call_id: &str,
        msg: &Message,
        policy: MediaPolicy,
        pool: &mut PortPool,
        actions: &mut Vec<Action>,
    ) -> usize {
        if self.len() >= MAX_CALLS {
            let oldest = self.quiet_order.first_key_value().map(|(_, &i)| i);
            if let Some(call) = oldest.and_then(|i| self.remove(i)) {
                self.teardown(&call, policy, pool, actions);
                self.recycle(call);
                self.evicted += 1;
            }
        }
        let (mut id, streams) = self.spare.pop().unwrap_or_default();
        id.push_str(call_id);
        self.insert(
            hash,
            Call {
                call_id: id,
                phone: msg.phone,
                peer: msg.peer,
                outbound: msg.from_phone,
                state: CallState::Early,
                created: msg.now,
                last_signal: msg.now,
                invite_cseq: msg.facts.cseq,
                streams,
                quiet: (0, 0),
                hash,
                next: None,
            },
        )
    }

    /// Whether the message ends the call in `slot`: a BYE, a CANCEL, or a final
    /// failure of the INVITE that started it while it is still early.
    fn ends(&self, slot: usize, facts: &Facts) -> bool {
        Method::Bye.is(facts.method)
            || Method::Cancel.is(facts.method)
            || (facts.status.is_some_and(|s| s >= 300)
                && Method::Invite.is(facts.cseq_method)
                && self.slots[slot]
                    .as_ref()
                    .is_some_and(|c| c.state == CallState::Early && c.invite_cseq == facts.cseq))
    }

    /// Makes the datapath follow the streams a message `changed` (before, after) in the
    /// call in `slot`: what changed is withdrawn (unless another call still uses the
    /// endpoint: then only this call's old pinholes go), what is now true announced.
    fn settle(
        &mut self,
        slot: usize,
        changed: &[(Stream, Stream)],
        policy: MediaPolicy,
        pool: &mut PortPool,
        actions: &mut Vec<Action>,
    ) {
        let call = self.slots[slot].as_ref().expect("present");
        // Another call's stream uses `private` (its own streams are not counted).
        let others = |calls: &Self, private: SocketAddrV4| {
            let own = call
                .streams
                .iter()
                .filter(|s| s.private == Some(private))
                .count() as u32;
            calls.users_of(private) > own
        };
        let mut withdrawn = Vec::new();
        for &(before, after) in changed {
            // Withdraw what changed.
            if let Some(old) = before.private {
                if after.private != Some(old) && !others(self, old) {
                    withdrawn.push(before);
                    Self::withdraw_endpoint(&before, policy, pool, actions);
                } else if before.remote != after.remote || before.public_port != after.public_port {
                    // The endpoint stays (another call uses it, or only the far end
                    // moved): this call's old pinholes go, unless another call has them.
                    self.remove_pinholes(&before, Some(slot), policy, actions);
                }
            }
            Self::announce(&after, before.private != after.private, policy, actions);
        }
        for s in &withdrawn {
            self.unreflect(s, actions);
        }
    }

    /// Removes calls that had neither signalling nor media (conntrack counters, see
    /// [`Calls::update_counters`]) for `idle` seconds.
    pub fn expire(
        &mut self,
        now: u64,
        idle: u64,
        policy: MediaPolicy,
        pool: &mut PortPool,
    ) -> Vec<Action> {
        let quiet = |t: u64| now.saturating_sub(t) >= idle;
        let stale: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i].as_ref().is_some_and(|c| {
                    quiet(c.last_signal)
                        && c.streams.iter().all(|s| s.last_packet_at.is_none_or(quiet))
                })
            })
            .collect();
        let mut actions = Vec::new();
        for i in self.in_key_order(stale) {
            if let Some(call) = self.remove(i) {
                self.teardown(&call, policy, pool, &mut actions);
                self.recycle(call);
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests;
