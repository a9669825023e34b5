//! A call's media in the datapath: the public ports the engine asks for
//! ([`MediaPorts`]), and the actions that announce, withdraw and reflect (hairpin) a
//! stream's endpoint, pinholes and NAT, for one message, at teardown and on replay.

use super::{Call, Calls, MediaPolicy, Stream};
use crate::engine::{MediaRequest, PortMap, Role};
use crate::state::actions::Action;
use crate::state::ports::PortPool;
use std::net::{Ipv4Addr, SocketAddrV4};

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
    /// The far end's SDP names the router's own public media port `public_port`: if the
    /// ALG gave it to a LAN phone, media to it from the LAN is reflected there.
    pub(super) fn reflect(&mut self, public_port: u16, pool: &PortPool, actions: &mut Vec<Action>) {
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
    pub(super) fn unreflect(&mut self, s: &Stream, actions: &mut Vec<Action>) {
        for public_port in [s.public_port, s.public_rtcp] {
            if self.hairpins.remove(&public_port).is_some() {
                actions.push(Action::RemoveHairpin { public_port });
            }
        }
    }

    /// Actions that make a stream's current state true in the datapath.
    pub(super) fn announce(
        s: &Stream,
        new_endpoint: bool,
        policy: MediaPolicy,
        actions: &mut Vec<Action>,
    ) {
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
    pub(super) fn remove_pinholes(
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

    pub(super) fn withdraw_endpoint(
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
    pub(super) fn teardown(
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
}
