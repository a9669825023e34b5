//! The ALG's state machine: the struct and its small API. What one message goes
//! through is in the files beside it: a queued datagram ([`super::datagram`]), its
//! flow's NAT mapping ([`super::nat`]), the engine and the registration and call
//! state ([`super::message`]), a relayed TCP message ([`super::stream`]), when periodic
//! work is due ([`super::timers`]) and what the status report shows
//! ([`super::snapshot`]).
//!
//! It performs no IO: what the datapath must do comes out as [`Action`]s, split into
//! those that must be committed before this message's verdict and those that may
//! trail it; a flow that predates us needs conntrack, which comes back as a
//! [`LookupRequest`](super::LookupRequest) the caller answers and resumes the packet
//! with. So this logic runs in tests without netlink.

use super::timers::Timers;
use super::types::{Counters, Policy, SnatElement};
use crate::state::actions::Action;
use crate::state::calls::{Calls, MediaPolicy};
use crate::state::mappings::Mappings;
use crate::state::ports::PortPool;
use crate::state::registrations::Registrations;
use crate::state::restore::Restore;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Per-daemon packet handling state: the pure state machines plus counters. Its fields
/// are the core's own: the daemon asks through the methods.
pub struct Processor {
    /// What the configuration asks of the core ([`Processor::set_policy`]).
    pub(super) policy: Policy,
    /// The kernel looks the media NAT maps up as sets (Linux 6.5+), so they mark media
    /// flows themselves ([`MediaPolicy::maps_mark_media`]); the daemon probes it.
    pub(super) maps_mark_media: bool,
    /// The WAN interface's IPv4 address (what SNAT uses and what arrives on the WAN).
    pub(super) wan_ip: Option<Ipv4Addr>,
    /// The last WAN address seen: the one the mappings, calls and registrations were
    /// made for (it stays while the WAN has none).
    pub(super) state_wan: Option<Ipv4Addr>,
    pub(super) pool: PortPool,
    pub(super) mappings: Mappings,
    pub(super) calls: Calls,
    pub(super) registrations: Registrations,
    /// What the ALG rewrote on the way out, so that only that is restored.
    pub(super) restore: Restore,
    pub(super) counters: Counters,
    /// Relayed TCP connections per phone endpoint: the public port they leave from and
    /// how many are open ([`Processor::open_stream`]).
    pub(super) streams: BTreeMap<SocketAddrV4, (u16, usize)>,
    /// Actions that must be in the datapath before the verdicts of the messages
    /// handled since the last [`Processor::take_actions`].
    pub(super) before: Vec<Action>,
    /// Actions of those messages that may follow their verdicts (nothing in them is
    /// needed by the messages themselves).
    pub(super) trailing: Vec<Action>,
    /// Buffers of sent verdicts given back ([`Processor::recycle`]) for new packets.
    pub(super) buffers: Vec<Vec<u8>>,
    /// The message being planned could not get a public port for its media.
    pub(super) refused: bool,
    /// When the periodic work is next due ([`Processor::poll_timeout`]).
    pub(super) timers: Timers,
}

/// Packet buffers kept for reuse: a burst's worth (the daemon's burst is 64 packets),
/// each at most this large (a SIP datagram is usually below the MTU).
pub(super) const SPARE_BUFFERS: usize = 64;
pub(super) const SPARE_BUFFER_BYTES: usize = 4096;

impl Processor {
    /// A processor with this policy, no WAN address yet.
    pub fn new(policy: Policy) -> Self {
        Processor {
            policy,
            maps_mark_media: true,
            wan_ip: None,
            state_wan: None,
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
            timers: Timers::default(),
        }
    }

    /// Gives back the packet of a [`Verdict::Replace`](super::Verdict::Replace) once it
    /// is sent: its buffer serves a later rewritten packet.
    pub fn recycle(&mut self, mut packet: Vec<u8>) {
        if self.buffers.len() < SPARE_BUFFERS && packet.capacity() <= SPARE_BUFFER_BYTES {
            packet.clear();
            self.buffers.push(packet);
        }
    }

    /// The policy the daemon built from the configuration, and the WAN address: the one
    /// place where the config becomes the ALG's behaviour. When the router gets a WAN
    /// address other than the last one (DHCP, a PPPoE reconnect), every mapping, call
    /// and registration is forgotten: they were made for the old address, which SNAT no
    /// longer uses and the peers can no longer reach. They are kept through a reload,
    /// a new WAN device with the same address, a WAN without an address for a while,
    /// and a change of `external_address` (the mappings' ports are still the router's:
    /// forgetting them would hand a port that live flows hold to another phone); the
    /// daemon's next install puts them back.
    pub fn set_policy(&mut self, policy: Policy, wan_ip: Option<Ipv4Addr>) {
        if let (Some(new), Some(old)) = (wan_ip, self.state_wan) {
            if new != old {
                self.forget();
            }
        }
        self.state_wan = wan_ip.or(self.state_wan);
        self.policy = policy;
        self.wan_ip = wan_ip;
    }

    /// The policy in force (what the ruleset is built for).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the kernel looks the media maps up as sets (probed by the daemon).
    pub fn set_maps_mark_media(&mut self, yes: bool) {
        self.maps_mark_media = yes;
    }

    pub fn maps_mark_media(&self) -> bool {
        self.maps_mark_media
    }

    pub fn wan_ip(&self) -> Option<Ipv4Addr> {
        self.wan_ip
    }

    /// Every action that rebuilds the datapath for the live calls and registrations
    /// (a new table starts empty), in a deterministic order.
    pub fn replay(&self, now: u64) -> Vec<Action> {
        let policy = self.media_policy();
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

    /// Forgets every mapping, call and registration.
    fn forget(&mut self) {
        self.mappings.clear();
        self.calls.clear();
        self.registrations.clear();
        self.pool.clear();
    }

    /// What the messages advertise: `external_address`, else the WAN address.
    pub fn advertised_ip(&self) -> Option<Ipv4Addr> {
        self.policy.external_ip.or(self.wan_ip)
    }

    /// What the call state needs of the policy.
    pub(super) fn media_policy(&self) -> MediaPolicy {
        MediaPolicy {
            alg: self.policy.alg,
            any_source: self.policy.media_any,
            advertised: self.advertised_ip(),
            maps_mark_media: self.maps_mark_media,
        }
    }

    /// The signalling mappings the SNAT map must hold (a new table starts empty): none
    /// without a WAN address or with the ALG off.
    pub fn snat_elements(&self) -> Vec<SnatElement> {
        if self.wan_ip.is_none() || !self.policy.alg {
            return Vec::new();
        }
        self.mappings
            .iter()
            .map(|m| SnatElement {
                private: m.private,
                public_port: m.public_port,
                seconds: self.policy.signaling_timeout,
            })
            .collect()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Actions the datapath could not carry out.
    pub fn count_program_errors(&mut self, n: u64) {
        self.counters.program_errors += n;
    }

    /// Verdicts the kernel refused or that could not be sent.
    pub fn count_verdict_errors(&mut self, n: u64) {
        self.counters.verdict_errors += n;
    }

    /// Packets the kernel dropped at the queue (gaps in its packet ids).
    pub fn count_queue_dropped(&mut self, n: u64) {
        self.counters.queue_dropped += n;
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
}
