//! Registrations seen in the SIP that crosses the router: a phone's REGISTER going out
//! and the registrar's 2xx coming back. A live registration keeps the phone reachable
//! on its public contact (from the registrar and the trusted sources only) and its
//! signalling flow alive until the registration expires, whatever the router's UDP
//! timeouts are.

use super::actions::Action;
use crate::engine::Facts;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Seconds a binding is kept past its expiry (re-REGISTER races, clock skew).
pub const MARGIN: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Address of record (the To URI).
    pub aor: String,
    /// The phone's signalling endpoint.
    pub private: SocketAddrV4,
    pub public_port: u16,
    pub registrar: SocketAddrV4,
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    aor: String,
    requested: Option<u32>,
    /// When it was (last) seen, and its place in [`Registrations::order`].
    at: u64,
    seq: u64,
}

/// Registrations tracked at most. A new phone beyond it is not tracked (its REGISTER
/// is still rewritten; it stays reachable from its registrar through its own flow, not
/// from the trusted sources) and counted in [`Registrations::refused`]; phones already
/// registered keep refreshing.
pub const MAX_REGISTRATIONS: usize = 16384;
/// REGISTERs awaiting their response at most (one per phone in a storm of
/// [`MAX_REGISTRATIONS`] phones); beyond it the oldest is forgotten, counted in
/// [`Registrations::pending_evicted`]. An unanswered one is forgotten after
/// [`PENDING_FOR`] seconds in any case.
pub const MAX_PENDING: usize = 16384;
/// RFC 3261 timer F (32 s) with a margin: no final response comes later.
pub const PENDING_FOR: u64 = 64;

type PendingKey = (SocketAddrV4, String, u32);

#[derive(Debug, Default)]
pub struct Registrations {
    /// In key order: expiry and replay emit actions deterministically.
    live: BTreeMap<SocketAddrV4, Registration>,
    /// REGISTERs awaiting their response, by (phone, Call-ID, CSeq).
    pending: HashMap<PendingKey, Pending>,
    /// The order they arrived in: (key, seq); an entry whose seq no longer matches is
    /// stale (answered, or seen again later).
    order: VecDeque<(PendingKey, u64)>,
    seq: u64,
    /// New registrations not tracked because [`MAX_REGISTRATIONS`] were.
    pub refused: u64,
    /// Pending REGISTERs forgotten unanswered because [`MAX_PENDING`] were waiting.
    pub pending_evicted: u64,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Registrations {
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.live.values()
    }

    pub fn get(&self, private: SocketAddrV4) -> Option<&Registration> {
        self.live.get(&private)
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// REGISTERs waiting for their response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A REGISTER from `phone` (its facts as sent, before rewriting) at `now`.
    pub fn on_request(&mut self, facts: &Facts, phone: SocketAddrV4, now: u64) {
        let (Some(call_id), Some(cseq)) = (facts.call_id, facts.cseq) else {
            return;
        };
        let requested = if facts.contact_star {
            Some(0)
        } else {
            facts
                .contacts()
                .iter()
                .find_map(|c| facts.contact_expiry(c))
                .or(facts.expires)
        };
        let key = (phone, text(call_id), cseq);
        self.seq += 1;
        let seq = self.seq;
        let fresh = Pending {
            aor: facts.to_uri.map(text).unwrap_or_default(),
            requested,
            at: now,
            seq,
        };
        if self.pending.insert(key.clone(), fresh).is_none() {
            while self.pending.len() > MAX_PENDING {
                let Some((old, old_seq)) = self.order.pop_front() else {
                    break;
                };
                if self.pending.get(&old).is_some_and(|p| p.seq == old_seq) {
                    self.pending.remove(&old);
                    self.pending_evicted += 1;
                }
            }
        }
        self.order.push_back((key, seq));
        if self.order.len() > 2 * MAX_PENDING.max(self.pending.len()) {
            let pending = &self.pending;
            self.order
                .retain(|(k, seq)| pending.get(k).is_some_and(|p| p.seq == *seq));
        }
    }

    /// The response to a REGISTER, on its way from `registrar` to `phone`, which appears
    /// on the WAN as `public` (what the registrar saw). Facts are of the message as it
    /// arrived.
    pub fn on_response(
        &mut self,
        facts: &Facts,
        phone: SocketAddrV4,
        public: SocketAddrV4,
        registrar: SocketAddrV4,
        now: u64,
    ) -> Vec<Action> {
        let (Some(call_id), Some(cseq), Some(status)) = (facts.call_id, facts.cseq, facts.status)
        else {
            return Vec::new();
        };
        if status < 200 {
            return Vec::new();
        }
        let Some(pending) = self.pending.remove(&(phone, text(call_id), cseq)) else {
            return Vec::new();
        };
        if status >= 300 {
            return Vec::new();
        }
        let expiry = granted(facts, phone, public, pending.requested);
        let mut actions = Vec::new();
        if expiry == 0 || pending.requested == Some(0) {
            if let Some(old) = self.live.remove(&phone) {
                actions.push(Action::Unreachable {
                    registrar: *old.registrar.ip(),
                    public_port: old.public_port,
                });
            }
            return actions;
        }
        let seconds = expiry.saturating_add(MARGIN);
        if !self.live.contains_key(&phone) && self.live.len() >= MAX_REGISTRATIONS {
            self.refused += 1;
            return actions;
        }
        let mut refresh = false;
        if let Some(old) = self.live.get(&phone) {
            if old.registrar.ip() != registrar.ip() || old.public_port != public.port() {
                actions.push(Action::Unreachable {
                    registrar: *old.registrar.ip(),
                    public_port: old.public_port,
                });
            } else {
                refresh = true;
            }
        }
        self.live.insert(
            phone,
            Registration {
                aor: pending.aor,
                private: phone,
                public_port: public.port(),
                registrar,
                expires_at: now + u64::from(expiry),
            },
        );
        actions.push(Action::Reachable {
            registrar: *registrar.ip(),
            public_port: public.port(),
            private: phone,
            seconds,
            refresh,
        });
        actions.push(Action::FlowTimeout {
            private: phone,
            remote: registrar,
            seconds,
        });
        actions
    }

    /// Drops registrations past their expiry (plus the margin), and REGISTERs that
    /// never got a final response.
    pub fn expire(&mut self, now: u64) -> Vec<Action> {
        while let Some((k, seq)) = self.order.front() {
            match self.pending.get(k) {
                Some(p) if p.seq == *seq && now < p.at + PENDING_FOR => break,
                Some(p) if p.seq == *seq => {
                    self.pending.remove(k);
                }
                _ => {}
            }
            self.order.pop_front();
        }
        let gone: Vec<SocketAddrV4> = self
            .live
            .values()
            .filter(|r| now >= r.expires_at + u64::from(MARGIN))
            .map(|r| r.private)
            .collect();
        gone.iter()
            .filter_map(|p| self.live.remove(p))
            .map(|r| Action::Unreachable {
                registrar: *r.registrar.ip(),
                public_port: r.public_port,
            })
            .collect()
    }

    pub fn registrar_of(&self, private: SocketAddrV4) -> Option<Ipv4Addr> {
        self.live.get(&private).map(|r| *r.registrar.ip())
    }

    pub fn clear(&mut self) {
        self.live.clear();
        self.pending.clear();
        self.order.clear();
    }
}

/// The expiry in seconds the registrar granted the binding of `phone` (seen on the WAN
/// as `public`) in its 2xx, which lists the bindings with their expiries: ours is the
/// one that names our public mapping (or the phone itself, when nothing rewrote); 0
/// when ours is not among them (not registered).
fn granted(
    facts: &Facts,
    phone: SocketAddrV4,
    public: SocketAddrV4,
    requested: Option<u32>,
) -> u32 {
    let ours = facts
        .contacts()
        .iter()
        .find(|c| c.address == Some(public) || c.address == Some(phone));
    let granted = match ours {
        Some(c) => facts.contact_expiry(c),
        None if facts.contacts().is_empty() => requested.or(facts.expires),
        None => Some(0), // our binding is not among the registrar's: not registered
    };
    granted.unwrap_or(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{plan, Direction, KeepPorts, Nat};

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn facts_of(msg: &str, f: impl FnOnce(&Facts)) {
        let m = msg.replace('\n', "\r\n");
        let nat = Nat {
            private: a("10.9.9.9:1"),
            public: a("10.9.9.8:1"),
        };
        let p = plan(m.as_bytes(), Direction::Outbound, &nat, &mut KeepPorts).unwrap();
        f(&p.facts);
    }

    const PHONE: &str = "192.168.1.20:5060";
    const PUBLIC: &str = "198.51.100.1:5060";
    const REGISTRAR: &str = "198.51.100.10:5060";

    fn register(r: &mut Registrations, expires: u32, call: &str, cseq: u32) {
        facts_of(
            &format!("REGISTER sip:198.51.100.10 SIP/2.0\nTo: <sip:100@pbx.example.net>\nCall-ID: {call}\nCSeq: {cseq} REGISTER\nContact: <sip:100@192.168.1.20:5060>\nExpires: {expires}\n\n"),
            |f| r.on_request(f, a(PHONE), 0),
        );
    }

    fn ok(
        r: &mut Registrations,
        contact_expires: u32,
        call: &str,
        cseq: u32,
        now: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        facts_of(
            &format!("SIP/2.0 200 OK\nCall-ID: {call}\nCSeq: {cseq} REGISTER\nContact: <sip:100@198.51.100.1:5060>;expires={contact_expires}, <sip:100@203.0.113.77:5060>;expires=9999\n\n"),
            |f| out = r.on_response(f, a(PHONE), a(PUBLIC), a(REGISTRAR), now),
        );
        out
    }

    #[test]
    fn expiry_comes_from_the_2xx_binding() {
        let mut r = Registrations::default();
        register(&mut r, 3600, "r1", 1);
        let acts = ok(&mut r, 600, "r1", 1, 100);
        assert_eq!(
            acts,
            vec![
                Action::Reachable {
                    registrar: "198.51.100.10".parse().unwrap(),
                    public_port: 5060,
                    private: a(PHONE),
                    seconds: 630,
                    refresh: false,
                },
                Action::FlowTimeout {
                    private: a(PHONE),
                    remote: a(REGISTRAR),
                    seconds: 630
                },
            ]
        );
        let reg = r.get(a(PHONE)).unwrap();
        assert_eq!(
            (reg.aor.as_str(), reg.expires_at),
            ("sip:100@pbx.example.net", 700)
        );
        // The same binding again: a refresh of the same elements.
        register(&mut r, 3600, "r1", 2);
        let again = ok(&mut r, 600, "r1", 2, 100);
        assert!(
            matches!(again[0], Action::Reachable { refresh: true, .. }),
            "{again:?}"
        );
        assert!(r.expire(729).is_empty());
        assert_eq!(
            r.expire(730),
            vec![Action::Unreachable {
                registrar: "198.51.100.10".parse().unwrap(),
                public_port: 5060
            }]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn challenges_and_unrelated_responses_change_nothing() {
        let mut r = Registrations::default();
        register(&mut r, 3600, "r2", 1);
        let mut out = Vec::new();
        facts_of(
            "SIP/2.0 401 Unauthorized\nCall-ID: r2\nCSeq: 1 REGISTER\n\n",
            |f| out = r.on_response(f, a(PHONE), a(PUBLIC), a(REGISTRAR), 0),
        );
        assert!(out.is_empty() && r.is_empty());
        assert!(
            ok(&mut r, 600, "r2", 2, 0).is_empty(),
            "no REGISTER with CSeq 2 was seen"
        );
    }

    #[test]
    fn unregister_removes_the_binding() {
        let mut r = Registrations::default();
        register(&mut r, 3600, "r3", 1);
        ok(&mut r, 3600, "r3", 1, 0);
        register(&mut r, 0, "r3", 2);
        let acts = ok(&mut r, 0, "r3", 2, 10);
        assert_eq!(
            acts,
            vec![Action::Unreachable {
                registrar: "198.51.100.10".parse().unwrap(),
                public_port: 5060
            }]
        );
        assert!(r.is_empty());
    }

    fn register_from(r: &mut Registrations, phone: SocketAddrV4, now: u64) {
        facts_of(
            &format!("REGISTER sip:198.51.100.10 SIP/2.0\nTo: <sip:{}@pbx>\nCall-ID: c{}\nCSeq: 1 REGISTER\nContact: <sip:x@{phone}>\nExpires: 600\n\n", phone.port(), phone.port()),
            |f| r.on_request(f, phone, now),
        );
    }

    fn ok_to(r: &mut Registrations, phone: SocketAddrV4, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        facts_of(
            &format!("SIP/2.0 200 OK\nCall-ID: c{}\nCSeq: 1 REGISTER\nContact: <sip:x@{phone}>;expires=600\n\n", phone.port()),
            |f| out = r.on_response(f, phone, phone, a(REGISTRAR), now),
        );
        out
    }

    #[test]
    fn a_storm_of_more_registers_than_the_pending_cap_forgets_only_the_oldest() {
        let mut r = Registrations::default();
        let phone = |i: usize| {
            SocketAddrV4::new(
                [10, 0, (i >> 8) as u8, i as u8].into(),
                5060 + (i % 7) as u16,
            )
        };
        // Every phone of a storm sends its REGISTER before any response is back.
        for i in 0..MAX_PENDING + 10 {
            register_from(&mut r, phone(i), 0);
        }
        assert_eq!((r.pending(), r.pending_evicted), (MAX_PENDING, 10));
        // The ten oldest are forgotten (the phones retransmit); every other one is
        // answered and registered (before issue #22 all pending ones were cleared).
        assert!(ok_to(&mut r, phone(5), 1).is_empty());
        for i in 10..MAX_PENDING + 10 {
            assert!(!ok_to(&mut r, phone(i), 1).is_empty(), "phone {i}");
        }
        assert_eq!(r.len(), MAX_PENDING);
        assert_eq!(r.pending(), 0);
        // A retransmission of a forgotten one is awaited again (here answered at the
        // registration cap: refused, see the next test).
        register_from(&mut r, phone(5), 2);
        assert_eq!(r.pending(), 1);
        assert!(ok_to(&mut r, phone(5), 2).is_empty());
        assert_eq!((r.pending(), r.refused), (0, 1));
    }

    #[test]
    fn unanswered_registers_are_forgotten_after_timer_f() {
        let mut r = Registrations::default();
        register_from(&mut r, a(PHONE), 0);
        register_from(&mut r, a("192.168.1.21:5060"), 40);
        r.expire(PENDING_FOR - 1);
        assert_eq!(r.pending(), 2);
        r.expire(PENDING_FOR);
        assert_eq!(r.pending(), 1, "only the older one");
        assert!(ok_to(&mut r, a(PHONE), PENDING_FOR).is_empty());
        assert!(!ok_to(&mut r, a("192.168.1.21:5060"), PENDING_FOR).is_empty());
    }

    #[test]
    fn beyond_the_registration_cap_new_phones_are_refused_registered_ones_refresh() {
        let mut r = Registrations::default();
        let phone = |i: usize| SocketAddrV4::new([10, 1, (i >> 8) as u8, i as u8].into(), 5060);
        for i in 0..MAX_REGISTRATIONS {
            register_from(&mut r, phone(i), 0);
            assert!(!ok_to(&mut r, phone(i), 0).is_empty());
        }
        register_from(&mut r, phone(MAX_REGISTRATIONS), 1);
        assert!(ok_to(&mut r, phone(MAX_REGISTRATIONS), 1).is_empty());
        assert_eq!((r.len(), r.refused), (MAX_REGISTRATIONS, 1));
        assert!(r.get(phone(MAX_REGISTRATIONS)).is_none());
        // A registered phone refreshes at the cap.
        register_from(&mut r, phone(0), 2);
        assert!(!ok_to(&mut r, phone(0), 2).is_empty());
        assert_eq!(r.get(phone(0)).unwrap().expires_at, 602);
        // Once one expires, a new phone is taken again.
        r.expire(630);
        assert_eq!(r.len(), 1, "only the refreshed one is left");
        register_from(&mut r, phone(MAX_REGISTRATIONS), 631);
        assert!(!ok_to(&mut r, phone(MAX_REGISTRATIONS), 631).is_empty());
    }
}
