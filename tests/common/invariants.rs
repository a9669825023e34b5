//! The properties every rewrite must have, checked on arbitrary input by the fuzzer
//! (`fuzz/fuzz_targets/engine.rs`), by the replay of its findings
//! (`tests/fuzz_regressions.rs`) and on the shared corpus (`tests/corpus.rs`). Test
//! code only: it lives outside `src/`, so the library (and the daemon) does not carry
//! it, and it may use every layer's public API (the restoration memory of `state`
//! included) without the engine depending on `state` (docs/architecture.md). Each user
//! includes it with `#[path]`.
//!
//! Input layout: 13 header bytes (private IPv4, port BE, public IPv4, port BE,
//! direction bit), then the message.
#![allow(dead_code)]

use sipalg::engine::{plan, plan_with, Direction, Field, KeepPorts, MediaRequest, Nat};
use sipalg::state::restore::Restore;
use sipalg::wire::sip::{Message, Name};
use sipalg::wire::text::{parse_ipv4, parse_port};
use sipalg::wire::uri;
use sipalg::wire::via::Via;
use std::net::{Ipv4Addr, SocketAddrV4};

/// What the phone wrote and what the ALG wrote in its place.
type Tokens<'a> = (&'a [u8], &'a [u8]);

/// Whether an `ip[:port]` token names `at` (no port: 5060).
fn names(token: &[u8], at: SocketAddrV4) -> bool {
    let (host, port) = match token.iter().position(|&b| b == b':') {
        Some(i) => (&token[..i], parse_port(&token[i + 1..])),
        None => (token, Some(uri::DEFAULT_PORT)),
    };
    port == Some(at.port()) && parse_ipv4(host) == Some(*at.ip())
}

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
    if direction == Direction::Outbound {
        if let Err(e) = round_trip(msg, &nat) {
            panic!("{e}");
        }
    }
}

/// The way back gives the phone what it wrote (issue #20). `msg` is sent by the phone
/// behind `nat` through the daemon's memory; then
/// - a 200 OK echoing the top Via, Call-ID, CSeq, Contact and Record-Route header fields
///   as they left the router (as a registrar's 2xx does) must reach the phone with
///   those fields exactly as the phone wrote them;
/// - a request aimed at the Contact the ALG wrote must reach the phone with the
///   Request-URI's `host[:port]` the phone wrote.
///
/// `Ok(true)`: checked; `Ok(false)`: does not apply (nothing rewritten, not a request,
/// no complete transaction key, one IP on both sides, a Via carrying `received` or an
/// `rport` value already, or a field the ALG rewrote two ways in one message: a
/// Contact it could map only the address of, two different spellings of the phone's
/// address).
pub fn round_trip(msg: &[u8], nat: &Nat) -> Result<bool, String> {
    if nat.private.ip() == nat.public.ip() {
        return Ok(false);
    }
    let mut memory = Restore::default();
    let Ok(sent) = plan_with(
        msg,
        Direction::Outbound,
        nat,
        &mut KeepPorts,
        &mut memory.at(0),
    ) else {
        return Ok(false);
    };
    let f = &sent.facts;
    let via_rewritten = sent.edits.iter().any(|e| e.field == Field::ViaSentBy);
    if !f.is_request()
        || !via_rewritten
        || f.cseq_method.is_none()
        || f.branch.or(f.call_id).is_none()
    {
        return Ok(false);
    }
    let out = sent.output();
    let (Ok(phone), Ok(left)) = (Message::parse(msg), Message::parse(&out)) else {
        return Ok(false);
    };
    // A Via whose parameters the far end fills already carries them: restoring those
    // is the far end's view, not the phone's bytes.
    let top_via = phone.header(Name::Via).and_then(|h| {
        uri::entries(msg, h.value)
            .next()
            .and_then(|e| Via::parse(msg, e))
    });
    if top_via.is_some_and(|v| v.received.is_some() || v.rport.is_some_and(|r| !r.is_empty())) {
        return Ok(false);
    }
    // Per field: the phone's token and what the ALG wrote, if one spelling each.
    // Ok(None): not rewritten; Err: rewritten two ways (not echoed).
    let one_way = |field: Field| -> Result<Option<Tokens>, ()> {
        let mut pair = None;
        for e in sent.edits.iter().filter(|e| e.field == field) {
            let this = (&msg[e.range()], e.replacement());
            if !names(this.1, nat.public) || pair.is_some_and(|p| p != this) {
                return Err(());
            }
            pair = Some(this);
        }
        Ok(pair)
    };
    let contact = one_way(Field::Contact);
    let echoed = |name: Name, first_via: &mut bool| match name {
        Name::Via => std::mem::replace(first_via, false),
        Name::CallId | Name::CSeq => true,
        Name::Contact => contact.is_ok(),
        Name::RecordRoute => one_way(Field::RecordRoute).is_ok(),
        _ => false,
    };
    let (mut response, mut want) = (
        b"SIP/2.0 200 OK\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\n".to_vec(),
    );
    // Edits never touch a header's name: the fields pair up one to one.
    let mut first = true;
    for (o, p) in left.headers().zip(phone.headers()) {
        if echoed(Name::of(&out[o.name.clone()]), &mut first) {
            for (to, buf, h) in [(&mut response, &out[..], &o), (&mut want, msg, &p)] {
                to.extend_from_slice(&buf[h.name.clone()]);
                to.extend_from_slice(b": ");
                to.extend_from_slice(&buf[h.value.clone()]);
                to.extend_from_slice(b"\r\n");
            }
        }
    }
    for m in [&mut response, &mut want] {
        m.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    }
    let Ok(back) = plan_with(
        &response,
        Direction::Inbound,
        nat,
        &mut KeepPorts,
        &mut memory.at(1),
    ) else {
        return Ok(false);
    };
    let got = back.output();
    if got != want {
        return Err(format!(
            "the 200 did not come back as the phone wrote its fields:\n{}\nwant:\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        ));
    }
    if let Ok(Some((phone_wrote, alg_wrote))) = contact {
        let request = |host_port: &[u8]| {
            let mut m = b"OPTIONS sip:rt@".to_vec();
            m.extend_from_slice(host_port);
            m.extend_from_slice(b" SIP/2.0\r\nVia: SIP/2.0/UDP far.invalid;branch=z9hG4bKrt\r\nContent-Length: 0\r\n\r\n");
            m
        };
        let inbound = request(alg_wrote);
        let Ok(back) = plan_with(
            &inbound,
            Direction::Inbound,
            nat,
            &mut KeepPorts,
            &mut memory.at(2),
        ) else {
            return Ok(false);
        };
        let (got, want) = (back.output(), request(phone_wrote));
        if got != want {
            return Err(format!(
                "a request to the Contact the ALG wrote came back as {:?}, the phone wrote {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            ));
        }
    }
    Ok(true)
}
