//! Per-call media counters from conntrack's per-flow packet counts, and when a stream
//! counts as one-way.

use std::collections::HashMap;
use std::net::SocketAddrV4;

/// Per private endpoint: (packets it sent, packets sent to it), summed over its UDP
/// conntrack entries. A flow the phone started has the phone as original source; a flow
/// the far end started through a pinhole has the phone as reply source.
pub fn media_counts(entries: &[crate::netlink::Entry]) -> HashMap<SocketAddrV4, (u64, u64)> {
    let mut counts: HashMap<SocketAddrV4, (u64, u64)> = HashMap::new();
    for e in entries {
        let (orig, reply) = (e.packets_orig.unwrap_or(0), e.packets_reply.unwrap_or(0));
        let c = counts.entry(e.orig.src).or_default();
        c.0 += orig;
        c.1 += reply;
        if e.reply.src != e.orig.dst {
            let c = counts.entry(e.reply.src).or_default();
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
    use crate::netlink::{Entry, Tuple};

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn blank() -> Entry {
        let t = Tuple {
            src: a("0.0.0.0:0"),
            dst: a("0.0.0.0:0"),
            proto: 17,
        };
        Entry {
            orig: t,
            reply: t,
            timeout: None,
            mark: None,
            status: 0,
            packets_orig: None,
            packets_reply: None,
            bytes_orig: None,
            bytes_reply: None,
        }
    }

    #[test]
    fn flows_started_by_the_phone_or_through_a_pinhole_count_for_the_phone() {
        let t = |src: &str, dst: &str| Tuple {
            src: a(src),
            dst: a(dst),
            proto: 17,
        };
        let out = Entry {
            orig: t("192.168.1.20:4000", "198.51.100.20:30000"),
            reply: t("198.51.100.20:30000", "198.51.100.1:4000"),
            packets_orig: Some(10),
            packets_reply: Some(7),
            ..blank()
        };
        let pinhole = Entry {
            orig: t("198.51.100.20:30002", "198.51.100.1:4002"),
            reply: t("192.168.1.20:4002", "198.51.100.20:30002"),
            packets_orig: Some(5),
            packets_reply: Some(0),
            ..blank()
        };
        let c = media_counts(&[out, pinhole]);
        assert_eq!(c[&a("192.168.1.20:4000")], (10, 7));
        assert_eq!(c[&a("192.168.1.20:4002")], (0, 5));
    }
}
