//! Per-call media counters from conntrack's per-flow packet counts, and when a stream
//! counts as one-way.

use std::collections::HashMap;
use std::net::SocketAddrV4;

/// One UDP flow as the media counters need it: its original and reply sources and
/// destination, and the packets each way. The daemon turns conntrack's dump into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSample {
    /// The original direction's source and destination.
    pub orig_src: SocketAddrV4,
    pub orig_dst: SocketAddrV4,
    /// The reply direction's source.
    pub reply_src: SocketAddrV4,
    pub packets_orig: u64,
    pub packets_reply: u64,
}

/// Per private endpoint: (packets it sent, packets sent to it).
pub type MediaCounts = HashMap<SocketAddrV4, (u64, u64)>;

/// Per private endpoint: (packets it sent, packets sent to it), summed over its UDP
/// conntrack entries. A flow the phone started has the phone as original source; a flow
/// the far end started through a pinhole has the phone as reply source.
pub fn media_counts(flows: &[FlowSample]) -> MediaCounts {
    let mut counts = MediaCounts::new();
    for e in flows {
        let (orig, reply) = (e.packets_orig, e.packets_reply);
        let c = counts.entry(e.orig_src).or_default();
        c.0 += orig;
        c.1 += reply;
        if e.reply_src != e.orig_dst {
            let c = counts.entry(e.reply_src).or_default();
            c.0 += reply;
            c.1 += orig;
        }
    }
    counts
}

/// A stream is flagged one-way after one direction stayed at 0 this long (seconds).
pub const ONE_WAY_AFTER: u64 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn flows_started_by_the_phone_or_through_a_pinhole_count_for_the_phone() {
        let out = FlowSample {
            orig_src: a("192.168.1.20:4000"),
            orig_dst: a("198.51.100.20:30000"),
            reply_src: a("198.51.100.20:30000"),
            packets_orig: 10,
            packets_reply: 7,
        };
        let pinhole = FlowSample {
            orig_src: a("198.51.100.20:30002"),
            orig_dst: a("198.51.100.1:4002"),
            reply_src: a("192.168.1.20:4002"),
            packets_orig: 5,
            packets_reply: 0,
        };
        let c = media_counts(&[out, pinhole]);
        assert_eq!(c[&a("192.168.1.20:4000")], (10, 7));
        assert_eq!(c[&a("192.168.1.20:4002")], (0, 5));
        assert_eq!(
            c[&a("198.51.100.20:30002")],
            (5, 0),
            "the pinhole's far end counted as itself"
        );
        assert_eq!(c.len(), 3, "a flow the phone started counts once: {c:?}");
    }
}
