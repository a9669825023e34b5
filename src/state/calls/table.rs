//! The calls' table: each call in a slot of its own, found by a keyed hash of (phone,
//! Call-ID) with collisions chained, the order in which the calls last signalled, and
//! how many streams use each private media endpoint.

use super::{Call, Calls, SPARE};
use std::hash::BuildHasher;
use std::net::SocketAddrV4;

impl Calls {
    pub(super) fn hash(&self, phone: SocketAddrV4, call_id: &str) -> u64 {
        self.keys.hash_one((phone, call_id))
    }

    /// The slot of the call (phone, Call-ID) whose key hashes to `hash`.
    pub(super) fn find(&self, hash: u64, phone: SocketAddrV4, call_id: &str) -> Option<usize> {
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
    pub(super) fn insert(&mut self, hash: u64, mut call: Call) -> usize {
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
    pub(super) fn touch(&mut self, slot: usize, now: u64) {
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
    pub(super) fn remove(&mut self, slot: usize) -> Option<Call> {
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
    pub(super) fn recycle(&mut self, call: Call) {
        let (mut id, mut streams) = (call.call_id, call.streams);
        if self.spare.len() < SPARE && id.capacity() <= 256 && streams.capacity() <= 8 {
            id.clear();
            streams.clear();
            self.spare.push((id, streams));
        }
    }

    /// The slots of the live calls in key order (phone, then Call-ID).
    pub(super) fn in_key_order(&self, mut slots: Vec<usize>) -> Vec<usize> {
        let key = |i: &usize| {
            let c = self.slots[*i].as_ref().expect("a live slot");
            (c.phone, c.call_id.as_str())
        };
        slots.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        slots
    }

    pub(super) fn endpoint_used(&mut self, p: Option<SocketAddrV4>) {
        if let Some(p) = p {
            *self.endpoint_users.entry(p).or_default() += 1;
        }
    }

    pub(super) fn endpoint_unused(&mut self, p: Option<SocketAddrV4>) {
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
    pub(super) fn users_of(&self, private: SocketAddrV4) -> u32 {
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

    pub fn clear(&mut self) {
        *self = Calls::default();
    }
}
