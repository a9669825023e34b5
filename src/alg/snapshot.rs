//! What the core shows in the status report: the policy in force, the counters, the
//! signalling mappings, registrations, calls and every cap of the state, as plain
//! values the daemon renders (`daemon::status`).

use super::media::ONE_WAY_AFTER;
use super::types::Counters;
use super::Processor;
use std::net::Ipv4Addr;

/// A snapshot of the core's state at one time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub alg: bool,
    pub external_address: Option<Ipv4Addr>,
    pub counters: Counters,
    /// Signalling mappings: (private, public) endpoints.
    pub mappings: Vec<(String, String)>,
    /// By private endpoint.
    pub registrations: Vec<RegistrationStatus>,
    /// Oldest first.
    pub calls: Vec<CallStatus>,
    pub limits: Vec<LimitStatus>,
}

/// One cap of the daemon's state (docs/performance.md lists them all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitStatus {
    /// `calls`, `registrations`, ...
    pub name: &'static str,
    /// How many are held now.
    pub now: u64,
    pub max: u64,
    /// What happens at the cap: `evicted` (the oldest/quietest goes) or `refused`.
    pub at_cap: &'static str,
    /// How often it happened since the start.
    pub count: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RegistrationStatus {
    pub aor: String,
    pub private: String,
    pub public: String,
    pub registrar: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CallStatus {
    pub call_id: String,
    pub state: &'static str,
    pub outbound: bool,
    pub age: u64,
    pub phone: String,
    pub peer: String,
    pub one_way: bool,
    pub streams: Vec<StreamStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamStatus {
    pub kind: &'static str,
    pub private: Option<String>,
    pub public: Option<String>,
    pub remote: Option<String>,
    pub packets_out: u64,
    pub packets_in: u64,
    pub one_way: bool,
}

impl Processor {
    /// The status report's view of the core at `now` (s).
    pub fn snapshot(&self, now: u64) -> Snapshot {
        Snapshot {
            alg: self.policy.alg,
            external_address: self.policy.external_ip,
            counters: self.counters,
            mappings: self
                .mappings
                .iter()
                .map(|m| (m.private.to_string(), self.public(m.public_port)))
                .collect(),
            registrations: self.registration_status(now),
            calls: self.call_status(now),
            limits: self.limits(),
        }
    }

    /// How many calls and registrations are held.
    pub fn sizes(&self) -> (usize, usize) {
        (self.calls.len(), self.registrations.len())
    }

    /// A public endpoint as the far end sees it (`-` without an address).
    fn public(&self, port: u16) -> String {
        self.advertised_ip()
            .map_or("-".into(), |ip| format!("{ip}:{port}"))
    }

    fn registration_status(&self, now: u64) -> Vec<RegistrationStatus> {
        let mut registrations: Vec<RegistrationStatus> = self
            .registrations
            .iter()
            .map(|r| RegistrationStatus {
                aor: r.aor.clone(),
                private: r.private.to_string(),
                public: self.public(r.public_port),
                registrar: r.registrar.to_string(),
                expires_in: r.expires_at.saturating_sub(now),
            })
            .collect();
        registrations.sort_by(|a, b| a.private.cmp(&b.private));
        registrations
    }

    fn call_status(&self, now: u64) -> Vec<CallStatus> {
        let mut calls: Vec<CallStatus> = self
            .calls
            .iter()
            .map(|c| CallStatus {
                call_id: c.call_id.clone(),
                state: c.state.name(),
                outbound: c.outbound,
                age: now.saturating_sub(c.created),
                phone: c.phone.to_string(),
                peer: c.peer.to_string(),
                one_way: c.one_way(now, ONE_WAY_AFTER),
                streams: c
                    .streams
                    .iter()
                    .filter(|s| s.private.is_some() || s.remote.is_some())
                    .map(|s| StreamStatus {
                        kind: s.kind.name(),
                        private: s.private.map(|p| p.to_string()),
                        public: s.private.map(|_| self.public(s.public_port)),
                        remote: s.remote.map(|r| r.to_string()),
                        packets_out: s.packets_out,
                        packets_in: s.packets_in,
                        one_way: s.one_way(now, ONE_WAY_AFTER),
                    })
                    .collect(),
            })
            .collect();
        calls.sort_by_key(|c| std::cmp::Reverse(c.age));
        calls
    }

    /// Every cap of the state, how full it is and what happened at it.
    fn limits(&self) -> Vec<LimitStatus> {
        use crate::state::{calls, registrations, restore::Restore};
        let limit = |name, now: usize, max: usize, at_cap, count| LimitStatus {
            name,
            now: now as u64,
            max: max as u64,
            at_cap,
            count,
        };
        let (pool, regs, restore) = (&self.pool, &self.registrations, &self.restore);
        vec![
            limit(
                "calls",
                self.calls.len(),
                calls::MAX_CALLS,
                "evicted",
                self.calls.evicted,
            ),
            limit(
                "registrations",
                regs.len(),
                registrations::MAX_REGISTRATIONS,
                "refused",
                regs.refused,
            ),
            limit(
                "pending_registers",
                regs.pending(),
                registrations::MAX_PENDING,
                "evicted",
                regs.pending_evicted,
            ),
            limit(
                "transactions",
                restore.transactions(),
                Restore::MAX_TRANSACTIONS,
                "evicted",
                restore.transactions_evicted,
            ),
            limit(
                "contacts",
                restore.contacts(),
                Restore::MAX_CONTACTS,
                "evicted",
                restore.contacts_evicted,
            ),
            limit(
                "spare_ports",
                pool.spare_owned(),
                pool.spare.len(),
                "refused",
                pool.exhausted,
            ),
        ]
    }
}
