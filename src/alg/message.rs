//! What every SIP message goes through, a queued datagram or a message on a relayed
//! TCP connection: the engine, the restoration memory, the counters, and the
//! registration and call state its facts feed.

use super::types::Flow;
use super::Processor;
use crate::engine::{self, AssumeRewritten, Direction, Facts, KeepPorts, Memory, Nat, PortMap};
use crate::state::actions::Action;
use crate::state::calls::MediaPorts;
use crate::wire::method::Method;
use std::net::SocketAddrV4;

impl Processor {
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
    pub(super) fn plan_message<R>(
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
        let alg = self.policy.alg;
        let nat = if alg {
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
        let ports: &mut dyn PortMap = if alg { &mut media } else { &mut keep };
        let (mut at, mut stateless) = (self.restore.at(now), AssumeRewritten);
        let memory: &mut dyn Memory = if alg { &mut at } else { &mut stateless };
        let result = engine::plan_with(message, direction, &nat, ports, memory);
        let Ok(plan) = &result else {
            self.pool.rollback();
            self.counters.unparsable += 1;
            return finish(self, None);
        };
        if self.pool.take_refusal() && alg && plan.facts.skipped.is_none() {
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
        if direction == Direction::Inbound && alg {
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
        if plan.is_unchanged() || !alg {
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
    pub(super) fn track(
        &mut self,
        facts: &Facts,
        direction: Direction,
        phone: SocketAddrV4,
        peer: SocketAddrV4,
        public: SocketAddrV4,
        now: u64,
    ) {
        let from_phone = direction == Direction::Outbound;
        let policy = self.media_policy();
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
            if !self.policy.alg {
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
}
