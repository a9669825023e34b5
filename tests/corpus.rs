//! Runs every message of the shared test corpus (RFC 4475 torture tests, libosip2's
//! messages and malformed set, the messages extracted from real captures, pjproject's
//! and SIPp's messages, and every SDP fixture wrapped in an INVITE) through the engine,
//! in both directions, and checks the properties that must hold for any input:
//! no panic; only address/port/number tokens are replaced; a consistent Content-Length
//! stays consistent; rewriting the output again changes nothing; and towards the LAN,
//! with nothing known of the outbound side, nothing changes at all (fail-open: only
//! what the ALG rewrote is restored); and a request's answer echoing its top Via,
//! Contact and Record-Route as they left comes back with them exactly as the phone
//! wrote them, as does a request aimed at its Contact (`common/invariants.rs`,
//! `round_trip`).
//!
//! The corpus lives in `../shared/corpus` beside the repository (or `$SIPALG_CORPUS`).

use sipalg::engine::{plan, plan_with, Direction, KeepPorts, MediaRequest, Nat};
use sipalg::state::restore::Restore;
use sipalg::wire::sip::{Message, Name};
use sipalg::wire::uri;
use sipalg::wire::via::Via;
use std::net::{Ipv4Addr, SocketAddrV4};
#[path = "common/corpus.rs"]
mod common;
#[path = "common/invariants.rs"]
mod invariants;
use common::{first_connection_address, load_corpus, Item};
use invariants::round_trip;

/// The sender's address as the message states it (top Via, else first Contact, else
/// the first SDP c=), so that the outbound rewrite has something to do.
fn own_address(m: &[u8]) -> SocketAddrV4 {
    let fallback = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 20), 5060);
    let Ok(msg) = Message::parse(m) else {
        return fallback;
    };
    if let Some(h) = msg.header(Name::Via) {
        if let Some(v) = uri::entries(m, h.value)
            .next()
            .and_then(|e| Via::parse(m, e))
        {
            if let Some(ip) = v.host_ipv4(m) {
                let port = v
                    .port
                    .and_then(|p| sipalg::wire::text::parse_port(&m[p]))
                    .unwrap_or(5060);
                return SocketAddrV4::new(ip, port);
            }
        }
    }
    first_connection_address(&m[msg.body()]).map_or(fallback, |ip| SocketAddrV4::new(ip, 5060))
}

fn is_address_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b':')
}

fn content_length_consistent(m: &[u8]) -> Option<bool> {
    let msg = Message::parse(m).ok()?;
    let declared = msg.content_length()? as usize;
    Some(declared == msg.body().len())
}

#[derive(Default)]
struct Tally {
    messages: usize,
    unparsable: usize,
    rewritten_out: usize,
    rewritten_in: usize,
    sdp_edits: usize,
    round_trips: usize,
}

fn check_one(item: &Item, dir: Direction, nat: &Nat, tally: &mut Tally) {
    let input = &item.bytes;
    let Ok(p) = plan(input, dir, nat, &mut KeepPorts) else {
        if dir == Direction::Outbound {
            tally.unparsable += 1;
        }
        return;
    };
    let output = p.output();
    // Only address, port and number tokens are replaced; everything between them is
    // copied byte for byte.
    let mut pos_in = 0;
    let mut pos_out = 0;
    for e in p.edits.iter() {
        let r = e.range();
        let gap = r.start - pos_in;
        assert_eq!(
            &input[pos_in..r.start],
            &output[pos_out..pos_out + gap],
            "{}: bytes between edits differ",
            item.name
        );
        assert!(
            is_address_token(&input[r.clone()]),
            "{}: edit of a non-address token {:?}",
            item.name,
            String::from_utf8_lossy(&input[r.clone()])
        );
        assert!(
            is_address_token(e.replacement()),
            "{}: replacement {:?}",
            item.name,
            String::from_utf8_lossy(e.replacement())
        );
        pos_out += gap + e.replacement().len();
        pos_in = r.end;
        if matches!(
            e.field,
            sipalg::engine::Field::SdpConnection
                | sipalg::engine::Field::SdpMediaPort
                | sipalg::engine::Field::SdpOrigin
        ) {
            tally.sdp_edits += 1;
        }
    }
    assert_eq!(
        &input[pos_in..],
        &output[pos_out..],
        "{}: tail differs",
        item.name
    );
    if content_length_consistent(input) == Some(true) {
        assert_eq!(
            content_length_consistent(&output),
            Some(true),
            "{}: Content-Length broken by {dir:?} rewrite",
            item.name
        );
    }
    let again = plan(&output, dir, nat, &mut KeepPorts).expect("rewritten output must still parse");
    assert!(
        again.is_unchanged(),
        "{}: {dir:?} rewrite is not idempotent: {:?}",
        item.name,
        again.edits.iter().map(|e| e.field).collect::<Vec<_>>()
    );
    if !p.is_unchanged() {
        match dir {
            Direction::Outbound => tally.rewritten_out += 1,
            Direction::Inbound => tally.rewritten_in += 1,
        }
    }
}

#[test]
fn every_corpus_message_in_both_directions() {
    let items = load_corpus();
    assert!(items.len() > 850, "corpus too small: {}", items.len());
    let mut tally = Tally::default();
    for item in &items {
        tally.messages += 1;
        let own = own_address(&item.bytes);
        let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 77), 40000);
        let nat = Nat {
            private: own,
            public,
        };
        check_one(item, Direction::Outbound, &nat, &mut tally);
        match round_trip(&item.bytes, &nat) {
            Ok(checked) => tally.round_trips += usize::from(checked),
            Err(e) => panic!("{}: {e}", item.name),
        }
        // Inbound: pretend the message was sent to the public mapping of its own sender
        // (so the sender's addresses play the public side).
        let inbound = Nat {
            private: SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 20), 5062),
            public: own,
        };
        check_one(item, Direction::Inbound, &inbound, &mut tally);
        // Fail-open: towards the LAN, with nothing known of the outbound side (no
        // transaction, no Contact, no media mapped), nothing may change.
        let mut nothing_mapped = |r: &MediaRequest| r.private.port();
        let mut nothing_known = Restore::default();
        if let Ok(p) = plan_with(
            &item.bytes,
            Direction::Inbound,
            &inbound,
            &mut nothing_mapped,
            &mut nothing_known.at(0),
        ) {
            assert!(
                p.is_unchanged(),
                "{}: restored what the ALG did not rewrite: {:?}",
                item.name,
                p.edits.iter().map(|e| e.field).collect::<Vec<_>>()
            );
        }
        // Also with an address that appears nowhere: nothing may change.
        let stranger = Nat {
            private: "10.99.99.99:5060".parse().unwrap(),
            public: "203.0.113.99:5060".parse().unwrap(),
        };
        for dir in [Direction::Outbound, Direction::Inbound] {
            if let Ok(p) = plan(&item.bytes, dir, &stranger, &mut KeepPorts) {
                assert!(
                    p.is_unchanged(),
                    "{}: edited addresses that are not the mapping's",
                    item.name
                );
            }
        }
    }
    println!(
        "corpus: {} messages, {} unparsable (passed unchanged), {} rewritten outbound, {} restored inbound, {} SDP edits, {} round trips",
        tally.messages, tally.unparsable, tally.rewritten_out, tally.rewritten_in, tally.sdp_edits, tally.round_trips
    );
    assert!(
        tally.rewritten_out > 500,
        "too few outbound rewrites: {}",
        tally.rewritten_out
    );
    assert!(
        tally.rewritten_in > 300,
        "too few inbound restores: {}",
        tally.rewritten_in
    );
    assert!(
        tally.sdp_edits > 200,
        "too few SDP edits: {}",
        tally.sdp_edits
    );
    assert!(
        tally.round_trips > 300,
        "too few round trips: {}",
        tally.round_trips
    );
}

/// RFC 4475 §3.1.1 valid messages with a literal IPv4 top Via get that Via rewritten;
/// the invalid ones never panic and come out unchanged or safely edited (above).
#[test]
fn rfc4475_valid_messages_rewrite_sensibly() {
    let root = common::corpus_dir().join("rfc4475");
    let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 77), 40000);
    let mut checked = 0;
    for name in [
        "wsinv",
        "intmeth",
        "esc01",
        "escnull",
        "esc02",
        "lwsdisp",
        "longreq",
        "dblreq",
        "semiuri",
        "transports",
        "mpart01",
        "unreason",
        "noreason",
        "mismatch01",
        "regescrt",
        "sdp01",
    ] {
        let m = std::fs::read(root.join(format!("{name}.dat"))).unwrap();
        let own = own_address(&m);
        let nat = Nat {
            private: own,
            public,
        };
        let p = plan(&m, Direction::Outbound, &nat, &mut KeepPorts)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let msg = Message::parse(&m).unwrap();
        let via = msg
            .header(Name::Via)
            .and_then(|h| uri::entries(&m, h.value).next())
            .and_then(|e| Via::parse(&m, e));
        if let Some(ip) = via.as_ref().and_then(|v| v.host_ipv4(&m)) {
            assert_eq!(ip, *own.ip());
            let out = p.output();
            let om = Message::parse(&out).unwrap();
            let ov = om
                .header(Name::Via)
                .and_then(|h| uri::entries(&out, h.value).next())
                .and_then(|e| Via::parse(&out, e))
                .unwrap();
            assert_eq!(
                ov.host_ipv4(&out),
                Some(*public.ip()),
                "{name}: top Via not rewritten"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 7,
        "only {checked} RFC 4475 messages had a literal IPv4 Via"
    );
}
