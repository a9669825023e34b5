//! The properties every rewrite must have, checked on arbitrary input by the fuzzer
//! (`fuzz/fuzz_targets/engine.rs`) and by the replay of its findings
//! (`tests/fuzz_regressions.rs`). Not used by the daemon.
//!
//! Input layout: 13 header bytes (private IPv4, port BE, public IPv4, port BE,
//! direction bit), then the message.

use super::{plan, plan_with, Direction, KeepPorts, MediaRequest, Nat};
use crate::state::restore::Restore;
use crate::wire::sip::Message;
use std::net::{Ipv4Addr, SocketAddrV4};

fn content_length_consistent(m: &[u8]) -> Option<bool> {
    let msg = Message::parse(m).ok()?;
    Some(msg.content_length()? as usize == msg.body().len())
}

/// Plans `data` and panics if an invariant does not hold: only address/port/number
/// tokens are replaced, a consistent Content-Length stays consistent, the output still
/// parses, rewriting it again changes nothing, and (fail-open) a message towards the LAN
/// of which the outbound side is not known is left exactly as it is.
pub fn check(data: &[u8]) {
    if data.len() < 13 {
        return;
    }
    let (h, msg) = data.split_at(13);
    let private = SocketAddrV4::new(
        Ipv4Addr::new(h[0], h[1], h[2], h[3]),
        u16::from_be_bytes([h[4], h[5]]),
    );
    let public = SocketAddrV4::new(
        Ipv4Addr::new(h[6], h[7], h[8], h[9]),
        u16::from_be_bytes([h[10], h[11]]),
    );
    let direction = if h[12] & 1 == 0 {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let nat = Nat { private, public };
    let Ok(p) = plan(msg, direction, &nat, &mut KeepPorts) else {
        return;
    };
    if direction == Direction::Inbound {
        let mut nothing_mapped = |r: &MediaRequest| r.private.port();
        let mut nothing_known = Restore::default();
        let unknown = plan_with(
            msg,
            direction,
            &nat,
            &mut nothing_mapped,
            &mut nothing_known.at(0),
        )
        .expect("parsed once already");
        assert!(
            unknown.is_unchanged(),
            "restored something the ALG did not rewrite"
        );
    }
    let out = p.output();
    for e in p.edits.iter() {
        let old = &msg[e.range()];
        assert!(
            old.iter()
                .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b':'),
            "edited a non-address token"
        );
    }
    if content_length_consistent(msg) == Some(true) {
        assert_eq!(
            content_length_consistent(&out),
            Some(true),
            "Content-Length broken"
        );
    }
    let again = plan(&out, direction, &nat, &mut KeepPorts).expect("the output parses");
    // With one IP on both sides a port-only mapping may legitimately apply twice.
    if private.ip() != public.ip() {
        assert!(again.is_unchanged(), "a second rewrite changed the output");
    }
}
