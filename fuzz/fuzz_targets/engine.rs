//! Coverage-guided fuzzing of the whole engine: framing, header and SDP views, the
//! rewrite plan in both directions. The first 13 bytes choose the NAT mapping and the
//! direction; the rest is the message. Besides "never panic", it checks the invariants
//! the corpus test checks: only address tokens change, Content-Length stays consistent,
//! and a second rewrite changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipalg::engine::{plan, Direction, KeepPorts, Nat};
use sipalg::wire::sip::Message;
use std::net::{Ipv4Addr, SocketAddrV4};

fn consistent(m: &[u8]) -> Option<bool> {
    let msg = Message::parse(m).ok()?;
    Some(msg.content_length()? as usize == msg.body().len())
}

fuzz_target!(|data: &[u8]| {
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
    let out = p.output();
    for e in p.edits.iter() {
        let old = &msg[e.range()];
        assert!(old
            .iter()
            .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b':'));
    }
    if consistent(msg) == Some(true) {
        assert_eq!(consistent(&out), Some(true));
    }
    if private.ip() != public.ip() {
        let again = plan(&out, direction, &nat, &mut KeepPorts).expect("output parses");
        assert!(again.is_unchanged());
    }
});
