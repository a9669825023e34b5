//! What the ALG did on the way out, kept so that the way back restores exactly that
//! (the engine's [`Memory`]; see `engine::restore`).
//!
//! - Client transactions of the phones: key = the phone, the top Via branch (the
//!   Call-ID without one), the CSeq method and the sent-by as written on the wire (RFC
//!   3261 §17.1.3 matching). Value = which of Via/Contact/Record-Route the ALG rewrote
//!   (possibly none: a NAT-aware phone), and the sent-by the phone wrote, which is
//!   what a response's top Via is given back (a port-less `192.168.1.191` stays
//!   port-less). Lifetime in RFC 3261 timer terms: 32 s (64·T1,
//!   timers B/F) from the last request retransmission; an INVITE's provisional response
//!   extends it to 10 min (a proxy gives up after timer C, > 3 min; a UA may ring
//!   longer), its final response sets it to 32 s (the 2xx is retransmitted, and forked,
//!   for 64·T1).
//! - The phones' contacts: per private endpoint, whether the ALG rewrote its Contact
//!   (and Record-Route), to which public mapping, and the `host[:port]` the phone wrote
//!   there (what a 2xx's Contact, a Request-URI, a Route are given back). Recorded from
//!   the messages in which
//!   the ALG rewrote one (flags accumulate) and from those a NAT-aware sender left with
//!   its own public Contact (which reset them: from then on its requests are left
//!   alone); a message whose Contact is another host's (a PBX forwarding) changes
//!   nothing. Lifetime: a REGISTER's expiry + 32 s, else 2 h from the last such message
//!   (a dialog's target).
//!
//! Both tables are capped ([`Restore::MAX_TRANSACTIONS`], [`Restore::MAX_CONTACTS`]):
//! at the cap the oldest transaction / the contact closest to expiry is forgotten.
//! Whatever is not (or no longer) known is answered [`Recalled::Unknown`], and the
//! engine then leaves the bytes as they arrived (fail-open): better to leave a byte than
//! to break a NAT-aware phone. The cost: after a daemon restart, an eviction or a very
//! long silent dialog, a phone that is not NAT-aware gets the public address in those
//! few messages (a response's Via, which it drops until the request is retransmitted
//! and recorded again; a Request-URI naming its public contact, which phones accept).
//!
//! Pure: `now` (seconds of a monotonic clock) is passed in.

use crate::engine::restore::{Answer, Memory, Recall, Recalled, Rewrites, Sent, Written};
use crate::engine::Nat;
use crate::wire::method::Method;
use crate::wire::text::Inline;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::SocketAddrV4;

/// 64·T1 (T1 = 500 ms): RFC 3261 timers B, F, and the 2xx retransmission span.
pub const TIMER_B: u64 = 32;
/// An INVITE that has had a provisional response waits for its final response this
/// long after the last one (RFC 3261 timer C, > 3 min, is a proxy's limit; a UA may
/// ring longer).
pub const PROCEEDING: u64 = 600;
/// How long a Contact the ALG rewrote outside a registration (a dialog's remote
/// target) is remembered after the last message that carried it.
pub const DIALOG_CONTACT: u64 = 7200;

#[derive(Debug, Clone, Copy)]
struct Transaction {
    rewrote: Rewrites,
    invite: bool,
    /// The top Via sent-by the phone wrote (empty unless the ALG rewrote it).
    via: Inline,
    expires_at: u64,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactMemory {
    pub public: SocketAddrV4,
    pub rewrote: Rewrites,
    pub expires_at: u64,
    /// The `host[:port]` of the phone's Contact / Record-Route that the ALG last
    /// rewrote to `public` (empty: not known).
    pub contact: Inline,
    pub record_route: Inline,
}

#[derive(Debug)]
pub struct Restore {
    /// Keyed by [`Restore::key`], already a keyed hash: used as it is.
    transactions: HashMap<u64, Transaction, BuildHasherDefault<Prehashed>>,
    /// Insertion order of `transactions`, for eviction at the cap: (key, seq).
    order: VecDeque<(u64, u64)>,
    contacts: HashMap<SocketAddrV4, ContactMemory>,
    /// The contacts by expiry, to evict the one closest to it in O(log n).
    by_expiry: BTreeSet<(u64, SocketAddrV4)>,
    /// Transactions forgotten at the cap (the oldest first).
    pub transactions_evicted: u64,
    /// Contacts forgotten at the cap (the one closest to its expiry first).
    pub contacts_evicted: u64,
    keys: RandomState,
    seq: u64,
    max_transactions: usize,
    max_contacts: usize,
}

impl Default for Restore {
    fn default() -> Self {
        Self::with_caps(Self::MAX_TRANSACTIONS, Self::MAX_CONTACTS)
    }
}

impl Restore {
    /// 16384 transactions: 512 new transactions a second for 32 s (about 1 MB).
    pub const MAX_TRANSACTIONS: usize = 16384;
    /// One per registered phone: as many as registrations are tracked
    /// (`state::registrations::MAX_REGISTRATIONS`).
    pub const MAX_CONTACTS: usize = 16384;

    pub fn with_caps(max_transactions: usize, max_contacts: usize) -> Self {
        Restore {
            transactions: HashMap::default(),
            order: VecDeque::new(),
            contacts: HashMap::new(),
            by_expiry: BTreeSet::new(),
            transactions_evicted: 0,
            contacts_evicted: 0,
            keys: RandomState::new(),
            seq: 0,
            max_transactions: max_transactions.max(1),
            max_contacts: max_contacts.max(1),
        }
    }

    /// The engine's view of this table at time `now`.
    pub fn at(&mut self, now: u64) -> At<'_> {
        At { table: self, now }
    }

    pub fn transactions(&self) -> usize {
        self.transactions.len()
    }

    pub fn contacts(&self) -> usize {
        self.contacts.len()
    }

    pub fn contact(&self, private: SocketAddrV4) -> Option<&ContactMemory> {
        self.contacts.get(&private)
    }

    /// Forgets what has expired.
    pub fn expire(&mut self, now: u64) {
        self.transactions.retain(|_, t| now < t.expires_at);
        while let Some(&(at, k)) = self.by_expiry.first() {
            if now < at {
                break;
            }
            self.by_expiry.pop_first();
            self.contacts.remove(&k);
        }
        let live = &self.transactions;
        self.order
            .retain(|(k, seq)| live.get(k).is_some_and(|t| t.seq == *seq));
    }

    pub fn clear(&mut self) {
        self.transactions.clear();
        self.order.clear();
        self.contacts.clear();
        self.by_expiry.clear();
    }

    fn key(&self, private: SocketAddrV4, branch: &[u8], method: &[u8], sent_by: &[u8]) -> u64 {
        // Keyed SipHash (random per process): a far end cannot aim at a collision. The
        // parts are laid out in one buffer (lengths first, so no two keys read alike)
        // and hashed in one call; an oversize key is hashed part by part.
        let mut b = [0u8; 128];
        let n = 9 + branch.len() + method.len() + sent_by.len();
        if n > b.len() || branch.len() > 255 || method.len() > 255 || sent_by.len() > 255 {
            return self.keys.hash_one((private, branch, method, sent_by));
        }
        b[..4].copy_from_slice(&private.ip().octets());
        b[4..6].copy_from_slice(&private.port().to_be_bytes());
        b[6] = branch.len() as u8;
        b[7] = method.len() as u8;
        b[8] = sent_by.len() as u8;
        let mut i = 9;
        for part in [branch, method, sent_by] {
            b[i..i + part.len()].copy_from_slice(part);
            i += part.len();
        }
        self.keys.hash_one(&b[..n])
    }

    fn record_transaction(
        &mut self,
        key: u64,
        rewrote: Rewrites,
        invite: bool,
        via: Inline,
        now: u64,
    ) {
        let expires_at = now + TIMER_B;
        if let Some(t) = self.transactions.get_mut(&key) {
            // A retransmission: same decision, timer restarted.
            t.rewrote = rewrote;
            t.via = via;
            t.expires_at = t.expires_at.max(expires_at);
            return;
        }
        while self.transactions.len() >= self.max_transactions {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.transactions.get(&old).is_some_and(|t| t.seq == seq) {
                self.transactions.remove(&old);
                self.transactions_evicted += 1;
            }
        }
        self.seq += 1;
        self.transactions.insert(
            key,
            Transaction {
                rewrote,
                invite,
                via,
                expires_at,
                seq: self.seq,
            },
        );
        self.order.push_back((key, self.seq));
        if self.order.len() > 2 * self.max_transactions {
            let live = &self.transactions;
            self.order
                .retain(|(k, seq)| live.get(k).is_some_and(|t| t.seq == *seq));
        }
    }

    /// `rewrote`: what the ALG rewrote (Contact/Record-Route), or nothing when the
    /// sender wrote its public Contact itself; `written`: what the phone wrote where
    /// the ALG wrote `nat.public` (empty parts: not in this message).
    fn record_contact(
        &mut self,
        nat: &Nat,
        rewrote: Rewrites,
        written: &Written,
        registration: Option<u32>,
        now: u64,
    ) {
        let lifetime = match registration {
            Some(0) => TIMER_B,
            Some(e) => u64::from(e) + TIMER_B,
            None => DIALOG_CONTACT,
        };
        let expires_at = now + lifetime;
        if let Some(c) = self.contacts.get_mut(&nat.private) {
            let live = c.public == nat.public && now < c.expires_at;
            // The same story continued: what the ALG rewrote accumulates (a PBX's
            // REGISTER rewrites its Contact, its dialogs also a Record-Route).
            let same = c.rewrote == rewrote || (!c.rewrote.is_empty() && !rewrote.is_empty());
            if live && same {
                c.rewrote = c.rewrote.with(rewrote);
                let later = c.expires_at.max(expires_at);
                if later != c.expires_at {
                    self.by_expiry.remove(&(c.expires_at, nat.private));
                    self.by_expiry.insert((later, nat.private));
                    c.expires_at = later;
                }
                // The latest form the phone wrote (phones write theirs one way).
                if !written.contact.is_empty() {
                    c.contact = written.contact;
                }
                if !written.record_route.is_empty() {
                    c.record_route = written.record_route;
                }
                return;
            }
            self.by_expiry.remove(&(c.expires_at, nat.private));
        } else if self.contacts.len() >= self.max_contacts {
            if let Some((_, k)) = self.by_expiry.pop_first() {
                self.contacts.remove(&k);
                self.contacts_evicted += 1;
            }
        }
        self.by_expiry.insert((expires_at, nat.private));
        self.contacts.insert(
            nat.private,
            ContactMemory {
                public: nat.public,
                rewrote,
                expires_at,
                contact: written.contact,
                record_route: written.record_route,
            },
        );
    }
}

/// A hasher for keys that are keyed hashes already.
#[derive(Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// [`Restore`] at one instant: what the engine talks to.
pub struct At<'a> {
    table: &'a mut Restore,
    now: u64,
}

/// A copy of what the phone wrote, if any and if it fits (else not known: the
/// restoration then writes the private address, with a port iff the token had one).
fn copy(bytes: Option<&[u8]>) -> Inline {
    bytes.and_then(Inline::copy_of).unwrap_or_default()
}

impl At<'_> {
    fn live_contact(&self, nat: &Nat) -> Option<&ContactMemory> {
        self.table
            .contacts
            .get(&nat.private)
            .filter(|c| c.public == nat.public && self.now < c.expires_at)
    }

    fn contact_written(&self, nat: &Nat) -> Written {
        self.live_contact(nat)
            .map_or_else(Written::default, |c| Written {
                via: Inline::new(),
                contact: c.contact,
                record_route: c.record_route,
            })
    }
}

impl Memory for At<'_> {
    fn sent(&mut self, nat: &Nat, sent: &Sent) {
        let now = self.now;
        if sent.request {
            if let (Some(branch), Some(method), Some(sent_by)) =
                (sent.branch, sent.method, sent.sent_by)
            {
                let key = self.table.key(nat.private, branch, method, sent_by);
                let rewrote = Rewrites(sent.rewrote.0 & Rewrites::ALL.0);
                let via = copy(sent.phone_wrote.via);
                self.table.record_transaction(
                    key,
                    rewrote,
                    Method::Invite.is(Some(method)),
                    via,
                    now,
                );
            }
        }
        let flags = Rewrites(sent.rewrote.0 & (Rewrites::CONTACT.0 | Rewrites::RECORD_ROUTE.0));
        if !flags.is_empty() || (sent.nat_aware && sent.has_contact) {
            let written = Written {
                via: Inline::new(),
                contact: copy(sent.phone_wrote.contact),
                record_route: copy(sent.phone_wrote.record_route),
            };
            self.table
                .record_contact(nat, flags, &written, sent.registration, now);
        }
    }

    fn response(&mut self, nat: &Nat, a: &Answer) -> Recall {
        let now = self.now;
        let key = self.table.key(nat.private, a.branch, a.method, a.sent_by);
        let Some(t) = self.table.transactions.get_mut(&key) else {
            return Recalled::Unknown.into();
        };
        if now >= t.expires_at {
            self.table.transactions.remove(&key);
            return Recalled::Unknown.into();
        }
        if t.invite {
            t.expires_at = if a.status < 200 {
                t.expires_at.max(now + PROCEEDING)
            } else {
                now + TIMER_B
            };
        }
        let (rewrote, via) = (t.rewrote, t.via);
        // A response's Contact (a REGISTER's 2xx) and Record-Route are the phone's as
        // its contact memory holds them; the transaction says whether they come back.
        let wanted = Rewrites(a.candidates.0 & rewrote.0 & !Rewrites::VIA.0);
        let mut written = if wanted.is_empty() {
            Written::default()
        } else {
            self.contact_written(nat)
        };
        written.via = via;
        Recall {
            recalled: Recalled::Seen(rewrote),
            written,
        }
    }

    fn request(&mut self, nat: &Nat) -> Recall {
        match self.live_contact(nat) {
            Some(c) => Recall {
                recalled: Recalled::Seen(c.rewrote),
                written: Written {
                    via: Inline::new(),
                    contact: c.contact,
                    record_route: c.record_route,
                },
            },
            None => Recalled::Unknown.into(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod exact;
