//! Issue #20: what comes back to the phone is exactly what the phone wrote, wherever the
//! ALG rewrote it. Real phones and PBXs (OmniPCX Enterprise, AudioCodes over TCP,
//! FreeSWITCH) write a top Via sent-by and a Contact without a port; the ALG writes
//! the public mapping with its port (`203.0.113.7:40000`), and the way back must give
//! back `192.168.1.191`, not `192.168.1.191:5060` (RFC 3261 §18.1.2 compares the
//! sent-by of a response with the one the client wrote; §19.1.4 makes a URI with and
//! one without the default port different). Every message is spelled out in full and
//! compared byte for byte.

use super::*;
use crate::engine::{plan_with, Direction, KeepPorts};

const PRIVATE: &str = "192.168.1.191:5060";
const PUBLIC: &str = "203.0.113.7:40000";

fn nat() -> Nat {
    Nat {
        private: PRIVATE.parse().unwrap(),
        public: PUBLIC.parse().unwrap(),
    }
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn go(r: &mut Restore, nat: &Nat, dir: Direction, msg: &str, now: u64) -> String {
    text(
        &plan_with(&crlf(msg), dir, nat, &mut KeepPorts, &mut r.at(now))
            .unwrap()
            .output(),
    )
}

/// The phone sends `msg`; asserts that `want` leaves the router.
fn up(r: &mut Restore, msg: &str, want: &str, now: u64) {
    assert_eq!(
        go(r, &nat(), Direction::Outbound, msg, now),
        text(&crlf(want))
    );
}

/// `msg` arrives for the phone; asserts that the phone gets `want`.
fn down(r: &mut Restore, msg: &str, want: &str, now: u64) {
    assert_eq!(
        go(r, &nat(), Direction::Inbound, msg, now),
        text(&crlf(want))
    );
}

/// OmniPCX-style: port-less Via and Contact in an INVITE; every response comes back
/// with the Via the phone wrote (its `received`/`rport`, which the far end added, name
/// the phone's own address and port).
#[test]
fn a_port_less_via_comes_back_without_a_port() {
    let mut r = Restore::default();
    up(
        &mut r,
        "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bK5498a;rport
From: <sip:alice@198.51.100.10>;tag=1
To: <sip:bob@198.51.100.10>
Call-ID: pl1@x
CSeq: 1 INVITE
Contact: <sip:alice@192.168.1.191>
Content-Length: 0

",
        "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bK5498a;rport
From: <sip:alice@198.51.100.10>;tag=1
To: <sip:bob@198.51.100.10>
Call-ID: pl1@x
CSeq: 1 INVITE
Contact: <sip:alice@203.0.113.7:40000>
Content-Length: 0

",
        0,
    );
    for (t, status) in [(0, "100 Trying"), (1, "180 Ringing"), (2, "200 OK")] {
        down(
            &mut r,
            &format!(
                "SIP/2.0 {status}
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bK5498a;rport=40000;received=203.0.113.7
From: <sip:alice@198.51.100.10>;tag=1
To: <sip:bob@198.51.100.10>;tag=b
Call-ID: pl1@x
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.10>
Content-Length: 0

"
            ),
            &format!(
                "SIP/2.0 {status}
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bK5498a;rport=5060;received=192.168.1.191
From: <sip:alice@198.51.100.10>;tag=1
To: <sip:bob@198.51.100.10>;tag=b
Call-ID: pl1@x
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.10>
Content-Length: 0

"
            ),
            t,
        );
    }
}

/// A port-less Contact registered: the registrar's 2xx lists it as the phone wrote it,
/// and a call to it gets the Request-URI the phone registered (To is never touched).
#[test]
fn a_port_less_contact_comes_back_in_the_2xx_and_as_the_request_uri() {
    let mut r = Restore::default();
    up(
        &mut r,
        "REGISTER sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bKreg1;rport
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>
Call-ID: reg@x
CSeq: 1 REGISTER
Contact: <sip:100@192.168.1.191;line=abc>;+sip.instance=\"<urn:uuid:1>\"
Expires: 600
Content-Length: 0

",
        "REGISTER sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKreg1;rport
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>
Call-ID: reg@x
CSeq: 1 REGISTER
Contact: <sip:100@203.0.113.7:40000;line=abc>;+sip.instance=\"<urn:uuid:1>\"
Expires: 600
Content-Length: 0

",
        0,
    );
    down(
        &mut r,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKreg1;rport=40000;received=203.0.113.7
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>;tag=s
Call-ID: reg@x
CSeq: 1 REGISTER
Contact: <sip:100@203.0.113.7:40000;line=abc>;expires=600, <sip:100@198.51.100.99>;expires=30
Content-Length: 0

",
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bKreg1;rport=5060;received=192.168.1.191
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>;tag=s
Call-ID: reg@x
CSeq: 1 REGISTER
Contact: <sip:100@192.168.1.191;line=abc>;expires=600, <sip:100@198.51.100.99>;expires=30
Content-Length: 0

",
        1,
    );
    let invite = |ruri: &str| {
        format!(
            "INVITE sip:100@{ruri};line=abc SIP/2.0
Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKin1
From: <sip:caller@198.51.100.10>;tag=c
To: <sip:100@203.0.113.7:40000>
Call-ID: in1@x
CSeq: 1 INVITE
Contact: <sip:caller@198.51.100.10>
Content-Length: 0

"
        )
    };
    down(
        &mut r,
        &invite("203.0.113.7:40000"),
        &invite("192.168.1.191"),
        300,
    );
}

/// A PBX behind the router adds a port-less Record-Route; the far end's in-dialog
/// requests carry it as Route, and responses as Record-Route: both come back as the
/// PBX wrote it.
#[test]
fn a_port_less_record_route_comes_back_in_route_and_record_route() {
    let mut r = Restore::default();
    up(
        &mut r,
        "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bKpbx1
Record-Route: <sip:192.168.1.191;lr>
From: <sip:ext@198.51.100.10>;tag=p
To: <sip:bob@198.51.100.10>
Call-ID: pbx@x
CSeq: 1 INVITE
Contact: <sip:ext@192.168.1.33:5060>
Content-Length: 0

",
        "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKpbx1
Record-Route: <sip:203.0.113.7:40000;lr>
From: <sip:ext@198.51.100.10>;tag=p
To: <sip:bob@198.51.100.10>
Call-ID: pbx@x
CSeq: 1 INVITE
Contact: <sip:ext@192.168.1.33:5060>
Content-Length: 0

",
        0,
    );
    down(
        &mut r,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKpbx1
Record-Route: <sip:203.0.113.7:40000;lr>
From: <sip:ext@198.51.100.10>;tag=p
To: <sip:bob@198.51.100.10>;tag=b
Call-ID: pbx@x
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.10>
Content-Length: 0

",
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bKpbx1
Record-Route: <sip:192.168.1.191;lr>
From: <sip:ext@198.51.100.10>;tag=p
To: <sip:bob@198.51.100.10>;tag=b
Call-ID: pbx@x
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.10>
Content-Length: 0

",
        1,
    );
    down(
        &mut r,
        "BYE sip:ext@192.168.1.33:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbye
Route: <sip:203.0.113.7:40000;lr>
From: <sip:bob@198.51.100.10>;tag=b
To: <sip:ext@198.51.100.10>;tag=p
Call-ID: pbx@x
CSeq: 2 BYE
Content-Length: 0

",
        "BYE sip:ext@192.168.1.33:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKbye
Route: <sip:192.168.1.191;lr>
From: <sip:bob@198.51.100.10>;tag=b
To: <sip:ext@198.51.100.10>;tag=p
Call-ID: pbx@x
CSeq: 2 BYE
Content-Length: 0

",
        5,
    );
}

/// Host names are never rewritten, so they are never "restored" either: a port-less
/// host name in Via and Contact stays a host name both ways, also when the same message
/// has an address the ALG does rewrite.
#[test]
fn port_less_host_names_stay_host_names() {
    let mut r = Restore::default();
    let reg = "REGISTER sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKname;rport
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>
Call-ID: name@x
CSeq: 1 REGISTER
Contact: <sip:100@phone191.lan>
Expires: 600
Content-Length: 0

";
    up(&mut r, reg, reg, 0);
    let ok = "SIP/2.0 200 OK
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKname;rport=40000;received=203.0.113.7
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>;tag=s
Call-ID: name@x
CSeq: 1 REGISTER
Contact: <sip:100@phone191.lan>;expires=600
Content-Length: 0

";
    down(&mut r, ok, ok, 1);
    let inv = "INVITE sip:100@phone191.lan SIP/2.0
Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKin2
From: <sip:caller@198.51.100.10>;tag=c
To: <sip:100@phone191.lan>
Call-ID: in2@x
CSeq: 1 INVITE
Content-Length: 0

";
    down(&mut r, inv, inv, 2);
    // A host-name Via with an address Contact: only the Contact is rewritten, and only
    // it comes back; the host name is left as it is both ways.
    up(
        &mut r,
        "OPTIONS sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKmix
Call-ID: mix@x
CSeq: 1 OPTIONS
Contact: <sip:100@192.168.1.191>
Content-Length: 0

",
        "OPTIONS sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKmix
Call-ID: mix@x
CSeq: 1 OPTIONS
Contact: <sip:100@203.0.113.7:40000>
Content-Length: 0

",
        3,
    );
    down(
        &mut r,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKmix;received=203.0.113.7
Call-ID: mix@x
CSeq: 1 OPTIONS
Contact: <sip:100@203.0.113.7:40000>
Content-Length: 0

",
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP phone191.lan;branch=z9hG4bKmix;received=203.0.113.7
Call-ID: mix@x
CSeq: 1 OPTIONS
Contact: <sip:100@192.168.1.191>
Content-Length: 0

",
        4,
    );
}

/// An address literal written unusually (leading zeros, an explicit default port) is
/// what the phone compares against: it comes back as written.
#[test]
fn unusual_literals_come_back_as_written() {
    let mut r = Restore::default();
    up(
        &mut r,
        "OPTIONS sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.001.191:05060;branch=z9hG4bKzero
Call-ID: zero@x
CSeq: 1 OPTIONS
Contact: <sip:100@192.168.1.191:5060>
Content-Length: 0

",
        "OPTIONS sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKzero
Call-ID: zero@x
CSeq: 1 OPTIONS
Contact: <sip:100@203.0.113.7:40000>
Content-Length: 0

",
        0,
    );
    down(
        &mut r,
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.7:40000;branch=z9hG4bKzero
Call-ID: zero@x
CSeq: 1 OPTIONS
Contact: <sip:100@203.0.113.7:40000>
Content-Length: 0

",
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.001.191:05060;branch=z9hG4bKzero
Call-ID: zero@x
CSeq: 1 OPTIONS
Contact: <sip:100@192.168.1.191:5060>
Content-Length: 0

",
        1,
    );
}

/// A phone that sends from 5062 while its Via names no port (the default, 5060): the
/// ALG translated only the address; the response's Via carries exactly what the ALG
/// wrote, and is given back what the phone wrote.
#[test]
fn a_via_translated_address_only_comes_back_too() {
    let mut r = Restore::default();
    let nat = Nat {
        private: "192.168.1.191:5062".parse().unwrap(),
        public: "203.0.113.7:41000".parse().unwrap(),
    };
    let req = "OPTIONS sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bK5062;rport
Call-ID: o5062@x
CSeq: 1 OPTIONS
Content-Length: 0

";
    assert_eq!(
        go(&mut r, &nat, Direction::Outbound, req, 0),
        text(&crlf(&req.replace("192.168.1.191;", "203.0.113.7;")))
    );
    let resp = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.7;branch=z9hG4bK5062;rport=41000;received=203.0.113.7
Call-ID: o5062@x
CSeq: 1 OPTIONS
Content-Length: 0

";
    assert_eq!(
        go(&mut r, &nat, Direction::Inbound, resp, 1),
        text(&crlf(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.168.1.191;branch=z9hG4bK5062;rport=5062;received=192.168.1.191
Call-ID: o5062@x
CSeq: 1 OPTIONS
Content-Length: 0

"
        ))
    );
}

/// What keeping the phone's bytes costs: the sent-by rides in each transaction (at most
/// 16384: 32768 hash buckets at the cap), the Contact and Record-Route in each of at
/// most 4096 phones' entries. Figures in docs/performance.md.
#[test]
fn the_memory_per_entry_stays_small() {
    use std::mem::size_of;
    println!(
        "transaction {} bytes, contact {} bytes",
        size_of::<(u64, Transaction)>(),
        size_of::<(SocketAddrV4, ContactMemory)>()
    );
    assert!(size_of::<(u64, Transaction)>() <= 56);
    assert!(size_of::<(SocketAddrV4, ContactMemory)>() <= 96);
}
