//! A rewrite plan is a short, sorted list of byte-range replacements. Building it never
//! allocates: edits live in a fixed inline array, and their replacement text (an
//! address, a port, a number) fits in an inline buffer. Applying it writes the new
//! message into one output buffer.

use crate::wire::text::Inline;
use arrayvec::ArrayVec;
use core::ops::Range;

/// What an edit changes, for `--explain` and for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    RequestUri,
    ViaSentBy,
    ViaReceived,
    ViaRport,
    Contact,
    RecordRoute,
    Route,
    From,
    To,
    ContentLength,
    SdpOrigin,
    SdpConnection,
    SdpMediaPort,
    SdpRtcpPort,
    SdpRtcpAddress,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::RequestUri => "Request-URI",
            Field::ViaSentBy => "Via sent-by",
            Field::ViaReceived => "Via received",
            Field::ViaRport => "Via rport",
            Field::Contact => "Contact",
            Field::RecordRoute => "Record-Route",
            Field::Route => "Route",
            Field::From => "From",
            Field::To => "To",
            Field::ContentLength => "Content-Length",
            Field::SdpOrigin => "SDP o=",
            Field::SdpConnection => "SDP c=",
            Field::SdpMediaPort => "SDP m= port",
            Field::SdpRtcpPort => "SDP a=rtcp port",
            Field::SdpRtcpAddress => "SDP a=rtcp address",
        }
    }
}

/// Replace `range` of the original message with `with`.
#[derive(Debug, Clone, Copy)]
pub struct Edit {
    start: u32,
    end: u32,
    pub field: Field,
    /// Outbound: the replacement is the flow's whole public mapping (address and port),
    /// not the address alone.
    mapping: bool,
    with: Inline,
}

impl Edit {
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn replacement(&self) -> &[u8] {
        self.with.as_bytes()
    }

    /// Outbound: this edit wrote the flow's public `ip[:port]` (not the address alone:
    /// the token named another port than the one the flow is mapped from).
    pub fn is_mapping(&self) -> bool {
        self.mapping
    }

    /// Writes `with` instead of what was planned.
    pub(crate) fn set_replacement(&mut self, with: Inline) {
        self.with = with;
    }

    /// Bytes added (positive) or removed (negative) by this edit.
    pub fn delta(&self) -> isize {
        self.with.as_bytes().len() as isize - (self.end - self.start) as isize
    }
}

/// At most this many edits per message; a message that would need more is passed on
/// unchanged (no real SIP message comes close).
pub const MAX_EDITS: usize = 64;

/// The edits of one message, kept in ascending, non-overlapping order. The storage is
/// inline and not initialised up front (a plan is made for every packet).
///
/// `arrayvec` replaced a hand-written `[MaybeUninit<Edit>; MAX_EDITS]` with two `unsafe`
/// blocks (issue #21, 2026-12-06; docs/dependencies.md). Instructions per message
/// (stateless INVITE / daemon's path / 200 restored), own → `ArrayVec`: x86-64
/// (callgrind) 12,955 / 13,806 / 12,247 → 12,977 / 13,828 / 12,223; AArch64
/// (qemu-counted) 14,757 / 15,318 / 13,351 → 14,672 / 15,233 / 13,294; mipsel
/// 24,928 / 26,808 / 23,292 → 24,903 / 26,783 / 23,340: within ±0.6 %. `.text` +48 bytes
/// (x86-64 musl), +112 (mipsel).
#[derive(Clone, Default)]
pub struct Edits {
    items: ArrayVec<Edit, MAX_EDITS>,
    overflow: bool,
}

impl Edits {
    pub fn new() -> Self {
        Edits {
            items: ArrayVec::new(),
            overflow: false,
        }
    }

    fn slice(&self) -> &[Edit] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Forgets every edit (and an overflow).
    pub fn clear(&mut self) {
        self.items.clear();
        self.overflow = false;
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn iter(&self) -> core::slice::Iter<'_, Edit> {
        self.slice().iter()
    }

    /// Adds an edit unless it changes nothing. Keeps the list sorted; an edit that
    /// overlaps an existing one is refused (the first decision wins).
    #[inline]
    pub fn replace(&mut self, original: &[u8], range: Range<usize>, field: Field, with: Inline) {
        self.add(original, range, field, with, false);
    }

    /// [`Edits::replace`] with the flow's whole public mapping ([`Edit::is_mapping`]).
    #[inline]
    pub fn replace_mapping(
        &mut self,
        original: &[u8],
        range: Range<usize>,
        field: Field,
        with: Inline,
    ) {
        self.add(original, range, field, with, true);
    }

    fn add(
        &mut self,
        original: &[u8],
        range: Range<usize>,
        field: Field,
        with: Inline,
        mapping: bool,
    ) {
        if &original[range.clone()] == with.as_bytes() {
            return;
        }
        if self.items.is_full() {
            self.overflow = true;
            return;
        }
        let edit = Edit {
            start: range.start as u32,
            end: range.end as u32,
            field,
            mapping,
            with,
        };
        let items = self.slice();
        let at = items.partition_point(|e| e.start < edit.start);
        let overlaps_prev = at > 0 && items[at - 1].end > edit.start;
        let overlaps_next = at < items.len() && items[at].start < edit.end;
        let same_start = at < items.len() && items[at].start == edit.start;
        if overlaps_prev || overlaps_next || same_start {
            return;
        }
        // Not full (checked above): `try_insert` cannot fail, and has no panic path.
        let _ = self.items.try_insert(at, edit);
    }

    /// Keeps only the edits `keep` accepts, as it leaves them (order is preserved;
    /// `keep` may change an edit's replacement, not its range).
    pub fn retain(&mut self, keep: impl FnMut(&mut Edit) -> bool) {
        self.items.retain(keep);
    }

    /// Net change in length of the bytes within `r` of the original.
    pub fn delta_within(&self, r: Range<usize>) -> isize {
        self.iter()
            .filter(|e| e.start as usize >= r.start && e.end as usize <= r.end)
            .map(Edit::delta)
            .sum()
    }

    /// Length of the message after applying the edits.
    pub fn output_len(&self, original_len: usize) -> usize {
        (original_len as isize + self.iter().map(Edit::delta).sum::<isize>()) as usize
    }

    /// Appends the edited message to `out` (reserving exactly once).
    pub fn apply_into(&self, original: &[u8], out: &mut Vec<u8>) {
        out.reserve_exact(self.output_len(original.len()));
        let mut pos = 0;
        for e in self.iter() {
            out.extend_from_slice(&original[pos..e.start as usize]);
            out.extend_from_slice(e.replacement());
            pos = e.end as usize;
        }
        out.extend_from_slice(&original[pos..]);
    }

    pub fn apply(&self, original: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.apply_into(original, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_skips_no_ops_and_overlaps() {
        let msg = b"aaaa bbbb cccc";
        let mut e = Edits::new();
        e.replace(msg, 10..14, Field::Contact, Inline::number(12345));
        e.replace(msg, 0..4, Field::Contact, Inline::number(1));
        e.replace(
            msg,
            5..9,
            Field::Contact,
            Inline::ip("10.0.0.1".parse().unwrap()),
        );
        e.replace(msg, 6..7, Field::Contact, Inline::number(7)); // overlaps: refused
        let mut same = Inline::new();
        for &b in b"cccc" {
            same.push(b);
        }
        e.replace(msg, 10..14, Field::Contact, same); // a no-op
        assert_eq!(e.len(), 3);
        assert_eq!(e.apply(msg), b"1 10.0.0.1 12345");
        assert_eq!(e.output_len(msg.len()), 16);
        assert_eq!(e.delta_within(5..9), 4);
        e.retain(|e| e.range() != (5..9));
        assert_eq!(e.apply(msg), b"1 bbbb 12345");
    }

    #[test]
    fn overflow_is_reported() {
        let msg = [b'x'; 200];
        let mut e = Edits::new();
        for i in 0..MAX_EDITS + 1 {
            e.replace(&msg, i..i + 1, Field::Contact, Inline::number(1));
        }
        assert!(e.overflowed());
        assert_eq!(e.len(), MAX_EDITS);
    }
}
