//! Calls (INVITE dialogs) and their media, from the SIP that crosses the router. Each
//! call keeps its own streams and pinholes, even when hundreds share one signalling
//! flow (a PBX on a trunk). Offers and answers in either direction (INVITE, re-INVITE,
//! UPDATE, PRACK, ACK, 1xx/2xx) move them; BYE, CANCEL, a failed initial INVITE and
//! idleness remove them.

use super::actions::Action;
use super::ports::PortPool;
use super::restore::Prehashed;
use crate::engine::{Facts, MediaKind, MediaRequest, PortMap, Role, StreamDirection};
use crate::wire::method::Method;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault};
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

/// Answers the engine's [`MediaRequest`]s from the shared [`PortPool`]: the phone's own
/// port when free, RTP and RTCP kept as a pair when RTCP is implied.
pub struct MediaPorts<'a> {
    pub pool: &'a mut PortPool,
}

impl PortMap for MediaPorts<'_> {
    /// When no port is free, the phone's own port number is returned without claiming
    /// it, and the pool records the refusal ([`PortPool::take_refusal`]): the caller
    /// must not let the message out with it.
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        match (r.role, r.required) {
            (Role::Rtcp, Some(p)) => {
                self.pool.claim(p, r.private);
                p
            }
            (Role::Rtcp, None) => self
                .pool
                .take(r.private.port(), r.private, false)
                .unwrap_or(r.private.port()),
            (Role::Rtp, _) => self
                .pool
                .take(r.private.port(), r.private, true)
                .unwrap_or(r.private.port()),
        }
    }

    /// A public port the pool gave this phone (a stream the ALG mapped for it).
    fn mapped(&mut self, private_ip: std::net::Ipv4Addr, public_port: u16) -> Option<u16> {
        self.pool
            .owner(public_port)
            .filter(|o| *o.ip() == private_ip)
            .map(|o| o.port())
    }
}

impl Calls {
    fn hash(&self, phone: SocketAddrV4, call_id: &str) -> u64 {
        self.keys.hash_one((phone, call_id))
    }

    /// The slot of the call (phone, Call-ID) whose key hashes to `hash`.
    fn find(&self, hash: u64, phone: SocketAddrV4, call_id: &str) -> Option<usize> {
        let mut at = self.index.get(&hash).copied();
        while let Some(i) = at {
            let c = self.slots[i].as_ref()?;
            if c.phone == phone && c.call_id == call_id {
                return Some(i);
            }
            at = c.next;
        }
        None
    }

    /// Stores a new call (its key not present) and returns its slot.
    fn insert(&mut self, hash: u64, mut call: Call) -> usize {
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        call.hash = hash;
        call.next = self.index.insert(hash, i);
        self.slots[i] = Some(call);
        i
    }

    /// Records that the call in `slot` signalled at `now` (O(log n)).
    fn touch(&mut self, slot: usize, now: u64) {
        let Some(call) = self.slots[slot].as_mut() else {
            return;
        };
        let old = call.quiet;
        let n = if old.1 == 0 {
            self.next_stamp += 1;
            self.next_stamp
        } else {
            old.1
        };
        if old == (now, n) {
            return; // signalled again within the same second: in place already
        }
        call.quiet = (now, n);
        if old.1 != 0 {
            self.quiet_order.remove(&old);
        }
        self.quiet_order.insert((now, n), slot);
    }

    /// Removes a call and its index entries.
    fn remove(&mut self, slot: usize) -> Option<Call> {
        let call = self.slots.get_mut(slot)?.take()?;
        if self.index.get(&call.hash) == Some(&slot) {
            match call.next {
                Some(next) => self.index.insert(call.hash, next),
                None => self.index.remove(&call.hash),
            };
        } else {
            // Further down a chain of calls whose keys hash alike.
            let mut at = self.index.get(&call.hash).copied();
            while let Some(c) = at.and_then(|i| self.slots[i].as_mut()) {
                if c.next == Some(slot) {
                    c.next = call.next;
                    break;
                }
                at = c.next;
            }
        }
        self.free.push(slot);
        self.quiet_order.remove(&call.quiet);
        for s in &call.streams {
            self.endpoint_unused(s.private);
        }
        Some(call)
    }

    /// Keeps a removed call's buffers for a new call.
    fn recycle(&mut self, call: Call) {
        let (mut id, mut streams) = (call.call_id, call.streams);
        if self.spare.len() < SPARE && id.capacity() <= 256 && streams.capacity() <= 8 {
            id.clear();
            streams.clear();
            self.spare.push((id, streams));
        }
    }

    /// The slots of the live calls in key order (phone, then Call-ID).
    fn in_key_order(&self, mut slots: Vec<usize>) -> Vec<usize> {
        let key = |i: &usize| {
            let c = self.slots[*i].as_ref().expect("a live slot");
            (c.phone, c.call_id.as_str())
        };
        slots.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        slots
    }

    fn endpoint_used(&mut self, p: Option<SocketAddrV4>) {
        if let Some(p) = p {
            *self.endpoint_users.entry(p).or_default() += 1;
        }
    }

    fn endpoint_unused(&mut self, p: Option<SocketAddrV4>) {
        if let Some(p) = p {
            if let Some(n) = self.endpoint_users.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.endpoint_users.remove(&p);
                }
            }
        }
    }

    /// Streams of all calls that use `private`.
    fn users_of(&self, private: SocketAddrV4) -> u32 {
        self.endpoint_users.get(&private).copied().unwrap_or(0)
    }

    /// The calls in key order (phone, then Call-ID).
    pub fn iter(&self) -> impl Iterator<Item = &Call> {
        let live = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect();
        self.in_key_order(live)
            .into_iter()
            .filter_map(|i| self.slots[i].as_ref())
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, phone: SocketAddrV4, call_id: &str) -> Option<&Call> {
        let slot = self.find(self.hash(phone, call_id), phone, call_id)?;
        self.slots[slot].as_ref()
    }

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
        let hash = self.hash(phone, &call_id);
        let is_invite_request = Method::Invite.is(facts.method);
        let slot = match self.find(hash, phone, &call_id) {
            Some(slot) => slot,
            None => {
                // Only an initial INVITE starts a call.
                if !(is_invite_request && facts.to_tag.is_none()) {
                    return;
                }
                if self.len() >= MAX_CALLS {
                    // A flood of INVITEs must not grow the state without bound: the call
                    // that has been quiet longest goes.
                    let oldest = self.quiet_order.first_key_value().map(|(_, &i)| i);
                    if let Some(call) = oldest.and_then(|i| self.remove(i)) {
                        self.teardown(&call, policy, pool, actions);
                        self.recycle(call);
                        self.evicted += 1;
                    }
                }
                let (mut id, streams) = self.spare.pop().unwrap_or_default();
                id.push_str(&call_id);
                self.insert(
                    hash,
                    Call {
                        call_id: id,
                        phone,
                        peer,
                        outbound: from_phone,
                        state: CallState::Early,
                        created: now,
                        last_signal: now,
                        invite_cseq: facts.cseq,
                        streams,
                        quiet: (0, 0),
                        hash,
                        next: None,
                    },
                )
            }
        };
        // Ending the call.
        let ends = Method::Bye.is(facts.method)
            || Method::Cancel.is(facts.method)
            || (facts.status.is_some_and(|s| s >= 300)
                && Method::Invite.is(facts.cseq_method)
                && self.slots[slot]
                    .as_ref()
                    .is_some_and(|c| c.state == CallState::Early && c.invite_cseq == facts.cseq));
        if ends {
            if let Some(call) = self.remove(slot) {
                self.teardown(&call, policy, pool, actions);
                self.recycle(call);
            }
            return;
        }
        let mut old_streams = std::mem::take(&mut self.changed);
        old_streams.clear();
        let mut reflected = Vec::new();
        self.touch(slot, now);
        let call = self.slots[slot].as_mut().expect("present");
        call.last_signal = now;
        if is_invite_request && facts.to_tag.is_none() {
            call.invite_cseq = facts.cseq;
        }
        if facts.status.is_some_and(|s| (200..300).contains(&s))
            && Method::Invite.is(facts.cseq_method)
        {
            call.state = CallState::Confirmed;
        }
        if let Some(sdp) = facts.sdp.as_ref().filter(|s| !s.has_ice || !from_phone) {
            for (i, s) in sdp.streams().iter().enumerate() {
                if call.streams.len() <= i {
                    call.streams.push(Stream::empty(s.kind));
                }
                let before = call.streams[i];
                let st = &mut call.streams[i];
                st.kind = s.kind;
                st.direction = s.direction;
                let endpoint = s
                    .endpoint()
                    .filter(|e| e.port() != 0 && !e.ip().is_unspecified());
                if from_phone {
                    // Only the phone's own address: no pinholes for other hosts (NAT
                    // slipstreaming).
                    let endpoint = endpoint.filter(|e| e.ip() == phone.ip());
                    match endpoint {
                        Some(e) => {
                            st.private = Some(e);
                            st.private_rtcp = s.rtcp_port;
                            st.public_port = if s.mapped { s.public_port } else { e.port() };
                            st.public_rtcp = if s.mapped {
                                s.public_rtcp_port
                            } else {
                                s.rtcp_port
                            };
                        }
                        // Port 0: the stream is removed. 0.0.0.0 (old-style hold) keeps it.
                        None if s.port == 0 => st.private = None,
                        None => {}
                    }
                } else {
                    match endpoint {
                        Some(e) => {
                            st.remote = Some(e);
                            st.remote_rtcp = s.rtcp_port;
                            if policy.alg && policy.advertised == Some(*e.ip()) {
                                reflected.push(e.port());
                                reflected.push(s.rtcp_port);
                            }
                        }
                        None if s.port == 0 => st.remote = None,
                        None => {}
                    }
                }
                if *st != before {
                    old_streams.push((before, *st));
                }
            }
        }
        for (before, after) in &old_streams {
            if before.private != after.private {
                self.endpoint_unused(before.private);
                self.endpoint_used(after.private);
            }
        }
        for port in reflected {
            self.reflect(port, pool, actions);
        }
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
        for &(before, after) in &old_streams {
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
        self.changed = old_streams;
    }

    /// The far end's SDP names the router's own public media port `public_port`: if the
    /// ALG gave it to a LAN phone, media to it from the LAN is reflected there.
    fn reflect(&mut self, public_port: u16, pool: &PortPool, actions: &mut Vec<Action>) {
        let Some(private) = pool.owner(public_port) else {
            return;
        };
        if self.hairpins.insert(public_port, private) != Some(private) {
            actions.push(Action::Hairpin {
                public_port,
                private,
            });
        }
    }

    /// Ends the reflection of a withdrawn stream's public ports.
    fn unreflect(&mut self, s: &Stream, actions: &mut Vec<Action>) {
        for public_port in [s.public_port, s.public_rtcp] {
            if self.hairpins.remove(&public_port).is_some() {
                actions.push(Action::RemoveHairpin { public_port });
            }
        }
    }

    /// Actions that make a stream's current state true in the datapath.
    fn announce(s: &Stream, new_endpoint: bool, policy: MediaPolicy, actions: &mut Vec<Action>) {
        let Some(private) = s.private else { return };
        let rtcp = SocketAddrV4::new(*private.ip(), s.private_rtcp);
        if new_endpoint && policy.endpoint_set() {
            actions.push(Action::MediaEndpoint { private });
            actions.push(Action::MediaEndpoint { private: rtcp });
        }
        if !policy.alg {
            return;
        }
        if new_endpoint {
            actions.push(Action::MediaSnat {
                private,
                public_port: s.public_port,
            });
            actions.push(Action::MediaSnat {
                private: rtcp,
                public_port: s.public_rtcp,
            });
        }
        let remote: Option<Option<Ipv4Addr>> = if policy.any_source {
            new_endpoint.then_some(None)
        } else {
            s.remote.map(|r| Some(*r.ip()))
        };
        if let Some(remote) = remote {
            actions.push(Action::Pinhole {
                remote,
                public_port: s.public_port,
                private,
            });
            actions.push(Action::Pinhole {
                remote,
                public_port: s.public_rtcp,
                private: rtcp,
            });
        }
    }

    /// Removes the pinholes from the far end's SDP address to stream `s`'s public ports
    /// (`media_source sdp`) that no live call other than `own` has: a stream whose
    /// endpoint another call shares keeps only what that call needs.
    fn remove_pinholes(
        &self,
        s: &Stream,
        own: Option<usize>,
        policy: MediaPolicy,
        actions: &mut Vec<Action>,
    ) {
        if !policy.alg || policy.any_source {
            return;
        }
        let (Some(_), Some(r)) = (s.private, s.remote) else {
            return;
        };
        for public_port in [s.public_port, s.public_rtcp] {
            let elsewhere = self.slots.iter().enumerate().any(|(i, c)| {
                Some(i) != own
                    && c.as_ref().is_some_and(|c| {
                        c.streams.iter().any(|o| {
                            o.private.is_some()
                                && o.remote.map(|x| *x.ip()) == Some(*r.ip())
                                && (o.public_port == public_port || o.public_rtcp == public_port)
                        })
                    })
            });
            if !elsewhere {
                actions.push(Action::RemovePinhole {
                    remote: Some(*r.ip()),
                    public_port,
                });
            }
        }
    }

    fn withdraw_endpoint(
        s: &Stream,
        policy: MediaPolicy,
        pool: &mut PortPool,
        actions: &mut Vec<Action>,
    ) {
        let Some(private) = s.private else { return };
        let rtcp = SocketAddrV4::new(*private.ip(), s.private_rtcp);
        if policy.endpoint_set() {
            actions.push(Action::RemoveMediaEndpoint { private });
            actions.push(Action::RemoveMediaEndpoint { private: rtcp });
        }
        if policy.alg {
            let remote = if policy.any_source {
                None
            } else {
                s.remote.map(|r| *r.ip())
            };
            if policy.any_source || remote.is_some() {
                actions.push(Action::RemovePinhole {
                    remote,
                    public_port: s.public_port,
                });
                actions.push(Action::RemovePinhole {
                    remote,
                    public_port: s.public_rtcp,
                });
            }
            actions.push(Action::RemoveMediaSnat { private });
            actions.push(Action::RemoveMediaSnat { private: rtcp });
        }
        pool.release(s.public_port, private);
        pool.release(s.public_rtcp, rtcp);
    }

    /// Withdraws the streams of a call already removed with [`Calls::remove`], except
    /// endpoints another call still uses.
    fn teardown(
        &mut self,
        call: &Call,
        policy: MediaPolicy,
        pool: &mut PortPool,
        actions: &mut Vec<Action>,
    ) {
        for s in &call.streams {
            let Some(p) = s.private else { continue };
            if self.users_of(p) == 0 {
                Self::withdraw_endpoint(s, policy, pool, actions);
                self.unreflect(s, actions);
            } else {
                self.remove_pinholes(s, None, policy, actions);
            }
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

    /// Updates the per-stream media counters: `counts(private)` gives (phone → far end,
    /// far end → phone) packets for a private media endpoint.
    pub fn update_counters(
        &mut self,
        now: u64,
        counts: impl Fn(SocketAddrV4) -> Option<(u64, u64)>,
    ) {
        for call in self.slots.iter_mut().flatten() {
            for s in &mut call.streams {
                let Some(p) = s.private else { continue };
                if let Some((out, inn)) = counts(p) {
                    if s.flowing_since.is_none() && out + inn > 0 {
                        s.flowing_since = Some(now);
                    }
                    if out + inn > s.packets_out + s.packets_in {
                        s.last_packet_at = Some(now);
                    }
                    s.packets_out = out;
                    s.packets_in = inn;
                }
            }
        }
    }

    /// Every action needed to rebuild the datapath from scratch (after a reload).
    pub fn replay(&self, policy: MediaPolicy) -> Vec<Action> {
        let mut actions = Vec::new();
        for c in self.iter() {
            for s in &c.streams {
                Self::announce(s, true, policy, &mut actions);
            }
        }
        if policy.alg {
            actions.extend(
                self.hairpins
                    .iter()
                    .map(|(&public_port, &private)| Action::Hairpin {
                        public_port,
                        private,
                    }),
            );
        }
        actions
    }

    pub fn clear(&mut self) {
        *self = Calls::default();
    }
}

#[cfg(test)]
mod tests;
