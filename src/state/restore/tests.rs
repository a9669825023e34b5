//! The engine with the daemon's memory: inbound restores exactly what the ALG rewrote
//! on the way out. Every expected message is spelled out or compared byte for byte.

use super::*;
use crate::engine::{plan_with, Direction, KeepPorts, MediaRequest, PortMap, Rewrites};
use std::net::Ipv4Addr;

fn nat() -> Nat {
    Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    }
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The phone sends `msg` at `now`; returns what leaves the router.
fn out(r: &mut Restore, msg: &[u8], now: u64) -> Vec<u8> {
    plan_with(
        msg,
        Direction::Outbound,
        &nat(),
        &mut KeepPorts,
        &mut r.at(now),
    )
    .unwrap()
    .output()
}

/// `msg` arrives for the phone at `now`; returns what the phone gets and why.
fn back(r: &mut Restore, msg: &[u8], now: u64) -> (Vec<u8>, Vec<String>) {
    let p = plan_with(
        msg,
        Direction::Inbound,
        &nat(),
        &mut KeepPorts,
        &mut r.at(now),
    )
    .unwrap();
    (p.output(), p.restoration_lines())
}

fn body_len(m: &str) -> String {
    let body = m.split("\n\n").nth(1).unwrap();
    m.replace("@LEN@", &crlf(body).len().to_string())
}

/// A STUN-aware phone: public address in Via, Contact, From and SDP.
fn aware_invite() -> Vec<u8> {
    crlf(&body_len(
        "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bKstun1;rport
From: <sip:alice@203.0.113.1>;tag=1
To: <sip:bob@198.51.100.10>
Call-ID: stun1@x
CSeq: 1 INVITE
Contact: <sip:alice@203.0.113.1:40000>
Content-Type: application/sdp
Content-Length: @LEN@

v=0
o=alice 1 1 IN IP4 203.0.113.1
s=-
c=IN IP4 203.0.113.1
t=0 0
m=audio 40002 RTP/AVP 0
",
    ))
}

fn response(status: &str, branch: &str, sent_by: &str, from: &str, cseq: &str) -> Vec<u8> {
    let received = sent_by.split(':').next().unwrap();
    let rport = sent_by.split(':').nth(1).unwrap();
    crlf(&format!(
        "SIP/2.0 {status}
Via: SIP/2.0/UDP {sent_by};branch={branch};rport={rport};received={received}
From: <sip:alice@{from}>;tag=1
To: <sip:bob@198.51.100.10>;tag=b
Call-ID: c@x
CSeq: {cseq}
Contact: <sip:bob@198.51.100.10:5060>
Content-Length: 0

"
    ))
}

#[test]
fn nat_aware_phone_invite_and_its_100_180_200_are_byte_identical() {
    let mut r = Restore::default();
    let inv = aware_invite();
    assert_eq!(text(&out(&mut r, &inv, 0)), text(&inv));
    for (t, status) in [(0, "100 Trying"), (1, "180 Ringing"), (5, "200 OK")] {
        let resp = response(
            status,
            "z9hG4bKstun1",
            "203.0.113.1:40000",
            "203.0.113.1",
            "1 INVITE",
        );
        let (got, why) = back(&mut r, &resp, t);
        assert_eq!(text(&got), text(&resp), "{status}");
        assert_eq!(
            why,
            vec![
                "Via not restored: transaction z9hG4bKstun1 (INVITE) was not rewritten by the ALG"
            ]
        );
    }
    // The far end's BYE to the contact the phone wrote itself arrives as sent.
    let bye = crlf("BYE sip:alice@203.0.113.1:40000 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKb\nRoute: <sip:203.0.113.1:40000;lr>\nFrom: <sip:bob@198.51.100.10>;tag=b\nTo: <sip:alice@203.0.113.1>;tag=1\nCall-ID: stun1@x\nCSeq: 2 BYE\nContent-Length: 0\n\n");
    let (got, why) = back(&mut r, &bye, 6);
    assert_eq!(text(&got), text(&bye));
    assert!(
        why.contains(
            &"Request-URI not restored: the phone's Contact was not rewritten by the ALG"
                .to_string()
        ),
        "{why:?}"
    );
}

/// The issue's example: the phone writes the public address; From is never restored.
#[test]
fn issue_14_example_passes_untouched() {
    let mut r = Restore::default();
    let nat = Nat {
        private: "1.1.1.2:5060".parse().unwrap(),
        public: "30.30.30.2:5060".parse().unwrap(),
    };
    let inv = crlf("INVITE sip:bob@30.30.30.9 SIP/2.0\nVia: SIP/2.0/UDP 30.30.30.2:5060;branch=z9hG4bKstun1;rport\nFrom: <sip:alice@30.30.30.2>;tag=1\nTo: <sip:bob@30.30.30.9>\nCall-ID: i14\nCSeq: 1 INVITE\nContact: <sip:alice@30.30.30.2:5060>\nContent-Length: 0\n\n");
    let p = plan_with(
        &inv,
        Direction::Outbound,
        &nat,
        &mut KeepPorts,
        &mut r.at(0),
    )
    .unwrap();
    assert!(p.is_unchanged());
    let ok = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 30.30.30.2:5060;branch=z9hG4bKstun1;rport=5060;received=30.30.30.2\nFrom: <sip:alice@30.30.30.2>;tag=1\nTo: <sip:bob@30.30.30.9>;tag=2\nCall-ID: i14\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    let p = plan_with(&ok, Direction::Inbound, &nat, &mut KeepPorts, &mut r.at(1)).unwrap();
    assert!(p.is_unchanged());
    assert_eq!(p.output(), ok);
}

#[test]
fn a_phone_that_is_not_nat_aware_still_gets_its_responses_restored() {
    let mut r = Restore::default();
    let inv = crlf("INVITE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKplain;rport\nFrom: <sip:alice@192.168.1.20>;tag=1\nTo: <sip:bob@198.51.100.10>\nCall-ID: c@x\nCSeq: 1 INVITE\nContact: <sip:alice@192.168.1.20:5060>\nContent-Length: 0\n\n");
    assert_eq!(
        text(&out(&mut r, &inv, 0)),
        text(&crlf("INVITE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bKplain;rport\nFrom: <sip:alice@192.168.1.20>;tag=1\nTo: <sip:bob@198.51.100.10>\nCall-ID: c@x\nCSeq: 1 INVITE\nContact: <sip:alice@203.0.113.1:40000>\nContent-Length: 0\n\n"))
    );
    for (t, status) in [(0, "100 Trying"), (1, "180 Ringing"), (5, "200 OK")] {
        // The far end's From (the phone's, private) stays; so would a public one.
        let resp = response(
            status,
            "z9hG4bKplain",
            "203.0.113.1:40000",
            "192.168.1.20",
            "1 INVITE",
        );
        let (got, why) = back(&mut r, &resp, t);
        let want = response(
            status,
            "z9hG4bKplain",
            "192.168.1.20:5060",
            "192.168.1.20",
            "1 INVITE",
        );
        assert_eq!(text(&got), text(&want), "{status}");
        assert_eq!(
            why,
            vec!["Via restored: transaction z9hG4bKplain (INVITE) was rewritten by the ALG"]
        );
    }
    // A CANCEL's 200 is its own transaction (same branch, other method): not recorded.
    let resp = response(
        "200 OK",
        "z9hG4bKplain",
        "203.0.113.1:40000",
        "192.168.1.20",
        "1 CANCEL",
    );
    assert_eq!(back(&mut r, &resp, 6).0, resp);
}

#[test]
fn a_response_to_a_request_the_alg_did_not_rewrite_is_untouched() {
    let mut r = Restore::default();
    // Never seen (another branch), with the public mapping in Via and From.
    let resp = response(
        "200 OK",
        "z9hG4bKother",
        "203.0.113.1:40000",
        "203.0.113.1",
        "1 INVITE",
    );
    let (got, why) = back(&mut r, &resp, 0);
    assert_eq!(got, resp);
    assert_eq!(
        why,
        vec!["Via not restored: transaction z9hG4bKother (INVITE) is unknown or expired (fail-open: left as received)"]
    );
    // Seen, but the phone's Via named a host the ALG does not rewrite.
    let opts = crlf("OPTIONS sip:x@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP phone.example.net:5060;branch=z9hG4bKname\nCall-ID: o@x\nCSeq: 7 OPTIONS\nContent-Length: 0\n\n");
    assert_eq!(out(&mut r, &opts, 0), opts);
    let resp = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP phone.example.net:5060;branch=z9hG4bKname;received=203.0.113.1;rport=40000\nCall-ID: o@x\nCSeq: 7 OPTIONS\nContent-Length: 0\n\n");
    assert_eq!(back(&mut r, &resp, 1).0, resp);
}

#[test]
fn a_response_whose_transaction_expired_is_untouched() {
    let mut r = Restore::default();
    let opts = crlf("OPTIONS sip:x@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKo;rport\nCall-ID: o@x\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n");
    out(&mut r, &opts, 100);
    let resp = response(
        "200 OK",
        "z9hG4bKo",
        "203.0.113.1:40000",
        "192.168.1.20",
        "1 OPTIONS",
    );
    // Within timer F (32 s): restored; after it: left as received.
    assert_ne!(back(&mut r, &resp, 131).0, resp);
    assert_eq!(back(&mut r, &resp, 132).0, resp);

    // An INVITE lives 32 s without an answer, 10 min after each provisional response,
    // and 32 s after its final response (2xx retransmissions).
    let inv = crlf("INVITE sip:b@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKi\nCall-ID: i@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    out(&mut r, &inv, 0);
    let ringing = response(
        "180 Ringing",
        "z9hG4bKi",
        "203.0.113.1:40000",
        "x",
        "1 INVITE",
    );
    let ok = response("200 OK", "z9hG4bKi", "203.0.113.1:40000", "x", "1 INVITE");
    assert_ne!(back(&mut r, &ringing, 20).0, ringing);
    assert_ne!(back(&mut r, &ok, 619).0, ok, "10 min from the 180");
    assert_ne!(back(&mut r, &ok, 650).0, ok, "a retransmitted 2xx");
    assert_eq!(
        back(&mut r, &ok, 682).0,
        ok,
        "32 s after the last final response"
    );
    let inv3 = crlf("INVITE sip:b@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKi3\nCall-ID: i3@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    out(&mut r, &inv3, 0);
    let ringing3 = response(
        "180 Ringing",
        "z9hG4bKi3",
        "203.0.113.1:40000",
        "x",
        "1 INVITE",
    );
    back(&mut r, &ringing3, 1);
    let ok3 = response("200 OK", "z9hG4bKi3", "203.0.113.1:40000", "x", "1 INVITE");
    assert_eq!(
        back(&mut r, &ok3, 601).0,
        ok3,
        "no final response within 10 min"
    );

    let inv2 = crlf("INVITE sip:b@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKi2\nCall-ID: i2@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    out(&mut r, &inv2, 0);
    let late = response("200 OK", "z9hG4bKi2", "203.0.113.1:40000", "x", "1 INVITE");
    assert_eq!(
        back(&mut r, &late, 40).0,
        late,
        "timer B: no answer within 32 s"
    );
    // Housekeeping forgets what expired.
    r.expire(1000);
    assert_eq!((r.transactions(), r.contacts()), (0, 0));
}

/// A PBX behind the router: its REGISTER's Contact and its dialogs' Record-Route are
/// rewritten; forwarding a LAN phone's request (whose Contact is the phone's, not the
/// PBX's) changes nothing of what is remembered; a later message in which it writes its
/// own public Contact means it is NAT-aware now.
#[test]
fn what_a_pbx_had_rewritten_accumulates_and_forwarded_contacts_do_not_count() {
    let mut r = Restore::default();
    out(&mut r, &crlf(REGISTER), 0);
    let forwarded = crlf("INVITE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKf\nRecord-Route: <sip:192.168.1.20;lr>\nCall-ID: f@x\nCSeq: 1 INVITE\nContact: <sip:ext@192.168.1.33:5060>\nContent-Length: 0\n\n");
    assert!(text(&out(&mut r, &forwarded, 1)).contains("Contact: <sip:ext@192.168.1.33:5060>"));
    let c = *r.contact(nat().private).unwrap();
    assert_eq!(c.rewrote, Rewrites::CONTACT.with(Rewrites::RECORD_ROUTE));
    assert_eq!(c.expires_at, 7201, "the longer of registration and dialog");
    let bye = crlf("BYE sip:100@203.0.113.1:40000 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKb\nRoute: <sip:203.0.113.1:40000;lr>\nContent-Length: 0\n\n");
    // Each comes back as the PBX wrote it: the Contact with its port, the
    // Record-Route without (issue #20).
    assert_eq!(
        text(&back(&mut r, &bye, 2).0),
        text(&crlf("BYE sip:100@192.168.1.20:5060 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKb\nRoute: <sip:192.168.1.20;lr>\nContent-Length: 0\n\n"))
    );
    // A forwarded request whose Contact is another host's, nothing rewritten.
    let other = crlf("MESSAGE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP pbx.lan;branch=z9hG4bKm\nCall-ID: m@x\nCSeq: 1 MESSAGE\nContact: <sip:ext@192.168.1.33:5060>\nContent-Length: 0\n\n");
    assert_eq!(out(&mut r, &other, 3), other);
    assert_eq!(r.contact(nat().private).unwrap().rewrote, c.rewrote);
    // It writes its public contact itself now: its requests are left alone.
    let aware = String::from_utf8(crlf(REGISTER))
        .unwrap()
        .replace("192.168.1.20:5060", "203.0.113.1:40000");
    out(&mut r, aware.as_bytes(), 4);
    assert_eq!(r.contact(nat().private).unwrap().rewrote, Rewrites::NONE);
    assert_eq!(back(&mut r, &bye, 5).0, bye);
}

#[test]
fn the_tables_are_capped_and_the_oldest_transaction_goes_first() {
    let mut r = Restore::with_caps(2, 1);
    let req = |b: &str| {
        crlf(&format!("OPTIONS sip:x@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch={b}\nCall-ID: o@x\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"))
    };
    for (t, b) in ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"].iter().enumerate() {
        out(&mut r, &req(b), t as u64);
    }
    assert_eq!(r.transactions(), 2);
    let resp = |b: &str| response("200 OK", b, "203.0.113.1:40000", "x", "1 OPTIONS");
    assert_eq!(
        back(&mut r, &resp("z9hG4bK1"), 3).0,
        resp("z9hG4bK1"),
        "evicted"
    );
    assert_ne!(back(&mut r, &resp("z9hG4bK2"), 3).0, resp("z9hG4bK2"));
    assert_ne!(back(&mut r, &resp("z9hG4bK3"), 3).0, resp("z9hG4bK3"));
    // One contact at most: a second phone's takes the place of the one closest to expiry.
    let other = Nat {
        private: "192.168.1.21:5060".parse().unwrap(),
        public: "203.0.113.1:40002".parse().unwrap(),
    };
    let reg = crlf("REGISTER sip:198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKr\nCall-ID: r@x\nCSeq: 1 REGISTER\nContact: <sip:a@192.168.1.20:5060>\nExpires: 60\nContent-Length: 0\n\n");
    out(&mut r, &reg, 0);
    let reg2 = String::from_utf8(reg)
        .unwrap()
        .replace("192.168.1.20", "192.168.1.21");
    plan_with(
        reg2.as_bytes(),
        Direction::Outbound,
        &other,
        &mut KeepPorts,
        &mut r.at(1),
    )
    .unwrap();
    assert_eq!(r.contacts(), 1);
    assert!(r.contact(other.private).is_some());
    // OPTIONS 1, then the two oldest before each REGISTER.
    assert_eq!((r.transactions_evicted, r.contacts_evicted), (3, 1));
}

#[test]
fn contacts_expire_in_order_of_their_latest_expiry_and_refreshes_move_them() {
    let mut r = Restore::with_caps(16, 2);
    let reg = |ip: &str, expires: u32| {
        crlf(&format!("REGISTER sip:198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bKr{expires}\nCall-ID: r@{ip}\nCSeq: {expires} REGISTER\nContact: <sip:a@{ip}:5060>\nExpires: {expires}\nContent-Length: 0\n\n"))
    };
    let nat = |ip: &str| Nat {
        private: format!("{ip}:5060").parse().unwrap(),
        public: "203.0.113.1:40000".parse().unwrap(),
    };
    let send = |r: &mut Restore, ip: &str, expires: u32, now: u64| {
        plan_with(
            &reg(ip, expires),
            Direction::Outbound,
            &nat(ip),
            &mut KeepPorts,
            &mut r.at(now),
        )
        .unwrap();
    };
    send(&mut r, "192.168.1.20", 100, 0); // until 132
    send(&mut r, "192.168.1.21", 200, 0); // until 232
    send(&mut r, "192.168.1.20", 300, 10); // refreshed: until 342
    r.expire(300);
    assert!(
        r.contact(nat("192.168.1.21").private).is_none(),
        "232 passed"
    );
    assert!(
        r.contact(nat("192.168.1.20").private).is_some(),
        "refreshed to 342"
    );
    // At the cap the one closest to its expiry goes: .22 (until 100 + 332) stays
    // beside .20 until a third comes.
    send(&mut r, "192.168.1.22", 100, 300);
    send(&mut r, "192.168.1.23", 500, 301);
    assert_eq!(r.contacts(), 2);
    assert!(
        r.contact(nat("192.168.1.20").private).is_none(),
        "342 was the closest"
    );
    assert_eq!(r.contacts_evicted, 1);
    r.expire(10_000);
    assert_eq!(r.contacts(), 0);
}

const REGISTER: &str = "REGISTER sip:198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKreg;rport
From: <sip:100@198.51.100.10>;tag=r
To: <sip:100@198.51.100.10>
Call-ID: reg@x
CSeq: 1 REGISTER
Contact: <sip:100@192.168.1.20:5060>
Expires: 600
Content-Length: 0

";

fn incoming_invite(ruri: &str) -> Vec<u8> {
    crlf(&format!("INVITE sip:100@{ruri} SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKin\nFrom: <sip:caller@198.51.100.10>;tag=c\nTo: <sip:100@{ruri}>\nCall-ID: in@x\nCSeq: 1 INVITE\nContact: <sip:caller@198.51.100.10>\nContent-Length: 0\n\n"))
}

#[test]
fn a_request_to_a_contact_the_alg_rewrote_is_restored_one_to_a_phone_written_contact_not() {
    let mut r = Restore::default();
    let sent = out(&mut r, &crlf(REGISTER), 0);
    assert!(text(&sent).contains("Contact: <sip:100@203.0.113.1:40000>\r\n"));
    // The registrar's 200 lists the binding the ALG wrote: restored with the Via.
    let ok = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bKreg;rport=40000;received=203.0.113.1\nFrom: <sip:100@198.51.100.10>;tag=r\nTo: <sip:100@198.51.100.10>;tag=s\nCall-ID: reg@x\nCSeq: 1 REGISTER\nContact: <sip:100@203.0.113.1:40000>;expires=600\nContent-Length: 0\n\n");
    let (got, why) = back(&mut r, &ok, 1);
    assert_eq!(
        text(&got),
        text(&crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKreg;rport=5060;received=192.168.1.20\nFrom: <sip:100@198.51.100.10>;tag=r\nTo: <sip:100@198.51.100.10>;tag=s\nCall-ID: reg@x\nCSeq: 1 REGISTER\nContact: <sip:100@192.168.1.20:5060>;expires=600\nContent-Length: 0\n\n"))
    );
    assert_eq!(why.len(), 2, "{why:?}");
    // A call to the registered contact: the Request-URI is restored, To is not.
    let (got, why) = back(&mut r, &incoming_invite("203.0.113.1:40000"), 300);
    assert_eq!(
        text(&got),
        text(&incoming_invite("203.0.113.1:40000")).replacen(
            "INVITE sip:100@203.0.113.1:40000",
            "INVITE sip:100@192.168.1.20:5060",
            1
        )
    );
    assert_eq!(
        why,
        vec!["Request-URI restored: the phone's Contact was rewritten by the ALG"]
    );
    // After the registration (600 s + 32 s) nothing is known: left as received.
    let inv = incoming_invite("203.0.113.1:40000");
    assert_eq!(back(&mut r, &inv, 633).0, inv);

    // A NAT-aware phone registers its public contact itself: requests stay as sent.
    let mut r = Restore::default();
    let aware = String::from_utf8(crlf(REGISTER))
        .unwrap()
        .replace("192.168.1.20:5060", "203.0.113.1:40000");
    assert_eq!(out(&mut r, aware.as_bytes(), 0), aware.as_bytes());
    let inv = incoming_invite("203.0.113.1:40000");
    assert_eq!(back(&mut r, &inv, 5).0, inv);
}

/// A port map that knows which public media ports the ALG gave the phone.
struct Mapped(Vec<(u16, u16)>);

impl PortMap for Mapped {
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        r.private.port()
    }
    fn mapped(&mut self, ip: Ipv4Addr, public: u16) -> Option<u16> {
        (ip == Ipv4Addr::new(192, 168, 1, 20))
            .then(|| self.0.iter().find(|m| m.0 == public).map(|m| m.1))
            .flatten()
    }
}

fn ok_with_sdp(sdp: &str) -> Vec<u8> {
    crlf(&format!(
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bKsdp\nCall-ID: s@x\nCSeq: 1 INVITE\nContent-Type: application/sdp\nContent-Length: {}\n\n{sdp}",
        crlf(sdp).len()
    ))
}

#[test]
fn sdp_in_a_200_is_restored_for_streams_the_alg_mapped_only() {
    let mut r = Restore::default();
    let inv = crlf("INVITE sip:b@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKsdp\nCall-ID: s@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    out(&mut r, &inv, 0);
    let mut ports = Mapped(vec![(14000, 4000), (14001, 4001)]);
    let plan = |m: &[u8], r: &mut Restore, ports: &mut Mapped| {
        plan_with(m, Direction::Inbound, &nat(), ports, &mut r.at(1))
            .unwrap()
            .output()
    };
    // The audio stream (public port 14000, mapped for this phone) is restored with its
    // own c= line and a=rtcp; the video on 16000 was not mapped by the ALG: it stays,
    // and so do the session c= and o= that describe it too.
    let sdp = "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 14000 RTP/AVP 0\nc=IN IP4 203.0.113.1\na=rtcp:14001 IN IP4 203.0.113.1\nm=video 16000 RTP/AVP 96\n";
    let want = "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.168.1.20\na=rtcp:4001 IN IP4 192.168.1.20\nm=video 16000 RTP/AVP 96\n";
    let got = plan(&ok_with_sdp(sdp), &mut r, &mut ports);
    let mut expected = text(&ok_with_sdp(want)).replacen(
        "203.0.113.1:40000;branch",
        "192.168.1.20:5060;branch",
        1,
    );
    assert_eq!(text(&got), expected);
    // Every stream mapped: the session lines follow.
    let sdp = "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 14000 RTP/AVP 0\n";
    let want = "v=0\no=- 1 1 IN IP4 192.168.1.20\ns=-\nc=IN IP4 192.168.1.20\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
    expected = text(&ok_with_sdp(want)).replacen(
        "203.0.113.1:40000;branch",
        "192.168.1.20:5060;branch",
        1,
    );
    assert_eq!(text(&plan(&ok_with_sdp(sdp), &mut r, &mut ports)), expected);
    // No stream mapped (the far end's media on the public address of another host
    // behind this router, e.g. a hairpin): the body stays.
    let sdp = "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 20000 RTP/AVP 0\n";
    let got = plan(&ok_with_sdp(sdp), &mut r, &mut ports);
    assert!(text(&got).ends_with(&text(&crlf(sdp))), "{}", text(&got));
}
