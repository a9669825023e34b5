//! Rule-by-rule tests with byte literals: each rule beside its "leave alone" twin, and
//! every expected output spelled out in full so that any stray byte change fails.

use super::*;
use std::net::Ipv4Addr;

const PRIVATE: &str = "192.168.1.20:5060";
const PUBLIC: &str = "203.0.113.1:40000";

fn nat() -> Nat {
    Nat {
        private: PRIVATE.parse().unwrap(),
        public: PUBLIC.parse().unwrap(),
    }
}

fn out(msg: &[u8]) -> Vec<u8> {
    plan(msg, Direction::Outbound, &nat(), &mut KeepPorts)
        .unwrap()
        .output()
}

fn inb(msg: &[u8]) -> Vec<u8> {
    plan(msg, Direction::Inbound, &nat(), &mut KeepPorts)
        .unwrap()
        .output()
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that rewriting `input` gives `expected` exactly, and that rewriting the result
/// again changes nothing (idempotence).
fn check(dir: Direction, input: &str, expected: &str) {
    let input = crlf(input);
    let expected = crlf(expected);
    let got = plan(&input, dir, &nat(), &mut KeepPorts).unwrap().output();
    assert_eq!(text(&got), text(&expected));
    let again = plan(&got, dir, &nat(), &mut KeepPorts).unwrap();
    assert!(
        again.is_unchanged(),
        "second pass changed: {:?}",
        again.edits.iter().collect::<Vec<_>>()
    );
}

const INVITE: &str = "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: Bob <sip:bob@198.51.100.10>
From: Alice <sip:alice@192.168.1.20>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.168.1.20:5060;transport=udp>
Content-Type: application/sdp
Content-Length: 138

v=0
o=alice 2890844526 2890844526 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

const INVITE_OUT: &str = "INVITE sip:bob@198.51.100.10 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: Bob <sip:bob@198.51.100.10>
From: Alice <sip:alice@192.168.1.20>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@203.0.113.1:40000;transport=udp>
Content-Type: application/sdp
Content-Length: 136

v=0
o=alice 2890844526 2890844526 IN IP4 203.0.113.1
s=-
c=IN IP4 203.0.113.1
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

#[test]
fn content_length_of_fixture_is_right() {
    let m = crlf(INVITE);
    let msg = crate::wire::sip::Message::parse(&m).unwrap();
    assert_eq!(msg.content_length().unwrap() as usize, msg.body().len());
}

#[test]
fn outbound_invite_rewrites_via_contact_sdp_and_length() {
    check(Direction::Outbound, INVITE, INVITE_OUT);
}

#[test]
fn outbound_facts() {
    let m = crlf(INVITE);
    let p = plan(&m, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    let f = &p.facts;
    assert_eq!(f.method, Some(&b"INVITE"[..]));
    assert_eq!(f.call_id, Some(&b"a84b4c76e66710@pc33.example.com"[..]));
    assert_eq!(
        (f.cseq, f.cseq_method),
        (Some(314159), Some(&b"INVITE"[..]))
    );
    assert_eq!(f.to_tag, None);
    assert_eq!(f.to_uri, Some(&b"sip:bob@198.51.100.10"[..]));
    assert_eq!(f.contacts().len(), 1);
    assert_eq!(f.contacts()[0].address, Some(PRIVATE.parse().unwrap()));
    let sdp = f.sdp.unwrap();
    assert!(!sdp.has_ice);
    let s = sdp.streams()[0];
    assert_eq!(s.kind, MediaKind::Audio);
    assert_eq!(s.endpoint(), Some("192.168.1.20:49170".parse().unwrap()));
    assert_eq!(
        (s.rtcp_port, s.explicit_rtcp, s.direction),
        (49171, false, StreamDirection::SendRecv)
    );
    assert!(s.mapped);
    assert_eq!(f.skipped, None);
    let fields: Vec<Field> = p.edits.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        vec![
            Field::ViaSentBy,
            Field::Contact,
            Field::ContentLength,
            Field::SdpOrigin,
            Field::SdpConnection
        ]
    );
}

#[test]
fn media_ports_come_from_the_port_map_and_rtcp_follows() {
    let sdp = "v=0
o=- 1 1 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 4000 RTP/AVP 0
m=video 4003 RTP/AVP 31
a=rtcp:5007 IN IP4 192.168.1.20
a=sendonly
m=image 0 udptl t38
";
    let msg = format!("INVITE sip:b@198.51.100.10 SIP/2.0\nContent-Type: application/sdp\nContent-Length: {}\n\n{}", crlf(sdp).len(), sdp);
    let m = crlf(&msg);
    let mut asked = Vec::new();
    let mut map = |r: &MediaRequest| {
        asked.push(*r);
        r.required.unwrap_or(r.private.port() + 10000)
    };
    let p = plan(&m, Direction::Outbound, &nat(), &mut map).unwrap();
    let o = text(&p.output());
    assert!(o.contains("m=audio 14000 RTP/AVP 0\r\n"), "{o}");
    assert!(
        o.contains("m=video 14003 RTP/AVP 31\r\na=rtcp:15007 IN IP4 203.0.113.1\r\n"),
        "{o}"
    );
    assert!(
        o.contains("m=image 0 udptl t38"),
        "removed stream keeps port 0: {o}"
    );
    let kinds: Vec<(usize, Role, u16, Option<u16>)> = asked
        .iter()
        .map(|r| (r.index, r.role, r.private.port(), r.required))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, Role::Rtp, 4000, None),
            (0, Role::Rtcp, 4001, Some(14001)),
            (1, Role::Rtp, 4003, None),
            (1, Role::Rtcp, 5007, None)
        ]
    );
    let s = p.facts.sdp.unwrap();
    let st = s.streams();
    assert_eq!(st.len(), 3);
    assert_eq!(
        (st[1].public_port, st[1].public_rtcp_port, st[1].direction),
        (14003, 15007, StreamDirection::SendOnly)
    );
    assert_eq!(
        (st[2].kind, st[2].port, st[2].mapped),
        (MediaKind::Image, 0, false)
    );
    // Content-Length matches the new body exactly.
    let out = p.output();
    let msg = crate::wire::sip::Message::parse(&out).unwrap();
    assert_eq!(msg.content_length().unwrap() as usize, msg.body().len());
}

#[test]
fn media_level_connection_after_attributes_counts() {
    let sdp = "v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\na=ptime:20\nc=IN IP4 192.168.1.20\n";
    let msg = format!(
        "SIP/2.0 200 OK\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        crlf(sdp).len(),
        sdp
    );
    let m = crlf(&msg);
    let o = text(&out(&m));
    assert!(
        o.contains("o=- 1 1 IN IP4 198.51.100.7\r\n"),
        "foreign origin stays: {o}"
    );
    assert!(o.contains("a=ptime:20\r\nc=IN IP4 203.0.113.1\r\n"), "{o}");
}

#[test]
fn leaves_other_hosts_public_addresses_and_names_alone() {
    // Another LAN host (192.168.1.21), a host name, and a public address: none is the
    // sender's own, so nothing changes and no port is asked for.
    let sdp = "v=0\no=- 1 1 IN IP4 192.168.1.21\ns=-\nc=IN IP4 192.168.1.21\nt=0 0\nm=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\nc=IN IP4 media.example.com\n";
    let msg = format!(
        "INVITE sip:b@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP pc33.example.com;branch=z9\nContact: <sip:a@192.168.1.21:5060>\nRecord-Route: <sip:198.51.100.99;lr>\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        crlf(sdp).len(),
        sdp
    );
    let m = crlf(&msg);
    let mut map = |_: &MediaRequest| -> u16 { panic!("no port may be mapped for another host") };
    let p = plan(&m, Direction::Outbound, &nat(), &mut map).unwrap();
    assert!(p.is_unchanged());
    assert!(p.facts.sdp.unwrap().streams().iter().all(|s| !s.mapped));
}

#[test]
fn nat_aware_message_is_byte_identical() {
    // A STUN-aware phone already writes its public mapping.
    let m = crlf(&INVITE_OUT.replace(
        "Via: SIP/2.0/UDP 203.0.113.1:40000",
        "Via: SIP/2.0/UDP 192.168.1.20:5060",
    ));
    let p = plan(&m, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    assert!(p.is_unchanged());
    assert_eq!(p.facts.skipped, Some(Skip::NatAware));
    assert_eq!(p.output(), m);
}

#[test]
fn ice_sdp_is_left_alone_but_signalling_is_fixed() {
    let m = crlf(
        &INVITE
            .replace(
                "a=rtpmap:0 PCMU/8000\n",
                "a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host\n",
            )
            .replace("138", "171"),
    );
    let p = plan(&m, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    let o = text(&p.output());
    assert!(p.facts.sdp.unwrap().has_ice);
    assert!(
        o.contains("c=IN IP4 192.168.1.20\r\n")
            && o.contains("o=alice 2890844526 2890844526 IN IP4 192.168.1.20"),
        "{o}"
    );
    assert!(o.contains("Via: SIP/2.0/UDP 203.0.113.1:40000;"), "{o}");
    assert!(o.contains("Content-Length: 171\r\n"), "{o}");
}

#[test]
fn ipv6_sdp_and_tls_and_sips_are_left_alone() {
    let v6 = crlf(
        &INVITE
            .replace("IN IP4 192.168.1.20", "IN IP6 2001:db8::20")
            .replace("138", "142"),
    );
    let p = plan(&v6, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    assert!(text(&p.output()).contains("c=IN IP6 2001:db8::20"));
    assert!(p.edits.iter().all(|e| !matches!(
        e.field,
        Field::SdpConnection | Field::SdpOrigin | Field::ContentLength
    )));

    let tls = crlf(&INVITE.replace(
        "SIP/2.0/UDP 192.168.1.20:5060",
        "SIP/2.0/TLS 192.168.1.20:5061",
    ));
    let p = plan(&tls, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    assert!(p.is_unchanged());
    assert_eq!(p.facts.skipped, Some(Skip::Secure));

    let sips = crlf(&INVITE.replace("INVITE sip:bob@", "INVITE sips:bob@"));
    assert_eq!(out(&sips), sips);
}

#[test]
fn compact_headers_folding_and_lf_only() {
    check(
        Direction::Outbound,
        "REGISTER sip:198.51.100.10 SIP/2.0\nv: SIP/2.0/UDP\n 192.168.1.20;branch=z9hG4bKx\nm: <sip:100@192.168.1.20>;expires=3600, sip:100@192.168.1.20:5062\ni: abc\nl: 0\n\n",
        "REGISTER sip:198.51.100.10 SIP/2.0\nv: SIP/2.0/UDP\n 203.0.113.1:40000;branch=z9hG4bKx\nm: <sip:100@203.0.113.1:40000>;expires=3600, sip:100@203.0.113.1:5062\ni: abc\nl: 0\n\n",
    );
    // LF-only stays LF-only.
    let m = b"OPTIONS sip:x@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9\nContent-Length: 0\n\n";
    assert_eq!(text(&out(m)), "OPTIONS sip:x@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9\nContent-Length: 0\n\n");
}

#[test]
fn register_facts_expiry() {
    let m = crlf("REGISTER sip:198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9\nTo: <sip:100@pbx.example.net>\nContact: <sip:100@192.168.1.20:5060>;expires=600\nExpires: 3600\nContent-Length: 0\n\n");
    let p = plan(&m, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    let f = &p.facts;
    assert_eq!(f.to_uri, Some(&b"sip:100@pbx.example.net"[..]));
    assert_eq!(f.expires, Some(3600));
    assert_eq!(f.contacts()[0].expires, Some(600));
    assert_eq!(f.contact_expiry(&f.contacts()[0]), Some(600));
    let star = crlf("REGISTER sip:198.51.100.10 SIP/2.0\nContact: *\nExpires: 0\n\n");
    let p = plan(&star, Direction::Outbound, &nat(), &mut KeepPorts).unwrap();
    assert!(p.facts.contact_star);
    assert_eq!(p.facts.expires, Some(0));
}

#[test]
fn record_route_added_by_the_sender() {
    check(
        Direction::Outbound,
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9\nRecord-Route: <sip:192.168.1.20;lr>, <sip:198.51.100.10;lr>\nContent-Length: 0\n\n",
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9\nRecord-Route: <sip:203.0.113.1:40000;lr>, <sip:198.51.100.10;lr>\nContent-Length: 0\n\n",
    );
}

#[test]
fn inbound_response_restores_via_contact_and_params() {
    check(
        Direction::Inbound,
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bK776asdhds;received=203.0.113.1;rport=40000\nTo: <sip:bob@198.51.100.10>;tag=a6c85cf\nContact: <sip:alice@203.0.113.1:40000>;expires=3600, <sip:alice@203.0.113.1:40002>\nContact: <sip:bob@198.51.100.10>\nContent-Length: 0\n\n",
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK776asdhds;received=192.168.1.20;rport=5060\nTo: <sip:bob@198.51.100.10>;tag=a6c85cf\nContact: <sip:alice@192.168.1.20:5060>;expires=3600, <sip:alice@203.0.113.1:40002>\nContact: <sip:bob@198.51.100.10>\nContent-Length: 0\n\n",
    );
}

/// Stateless (no memory: the ALG is assumed to have rewritten the phone's Contact):
/// the Request-URI and Route are restored; To, which the ALG never rewrites, is not;
/// an SDP without a stream on the public address stays.
#[test]
fn inbound_request_restores_request_uri_and_routes_but_never_to() {
    check(
        Direction::Inbound,
        "BYE sip:alice@203.0.113.1:40000;transport=udp SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9\nRoute: <sip:203.0.113.1:40000;lr>\nFrom: <sip:bob@198.51.100.10>;tag=x\nTo: <sip:alice@203.0.113.1:40000>;tag=y\nContact: <sip:bob@198.51.100.10:5060>\nContent-Type: application/sdp\nContent-Length: 26\n\nv=0\nc=IN IP4 203.0.113.1\n",
        "BYE sip:alice@192.168.1.20:5060;transport=udp SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10:5060;branch=z9\nRoute: <sip:192.168.1.20:5060;lr>\nFrom: <sip:bob@198.51.100.10>;tag=x\nTo: <sip:alice@203.0.113.1:40000>;tag=y\nContact: <sip:bob@198.51.100.10:5060>\nContent-Type: application/sdp\nContent-Length: 26\n\nv=0\nc=IN IP4 203.0.113.1\n",
    );
}

/// From/To are never rewritten, in either direction; a request's top Via and Contact
/// towards the LAN are the far end's, even when they name the public mapping.
#[test]
fn from_to_and_a_requests_via_and_contact_are_never_restored() {
    let m = crlf("INVITE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9;received=203.0.113.1;rport=40000\nFrom: <sip:alice@203.0.113.1:40000>;tag=1\nTo: <sip:bob@203.0.113.1:40000>\nContact: <sip:alice@203.0.113.1:40000>\nContent-Length: 0\n\n");
    assert_eq!(text(&inb(&m)), text(&m));
    let m = crlf("SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9\nFrom: <sip:alice@203.0.113.1:40000>;tag=1\nTo: <sip:bob@203.0.113.1:40000>;tag=2\nContent-Length: 0\n\n");
    assert_eq!(text(&inb(&m)), text(&m));
    let m = crlf("MESSAGE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9\nFrom: <sip:alice@192.168.1.20:5060>;tag=1\nTo: <sip:bob@192.168.1.20:5060>\nContent-Length: 0\n\n");
    assert_eq!(
        text(&out(&m)),
        text(&crlf("MESSAGE sip:bob@198.51.100.10 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9\nFrom: <sip:alice@192.168.1.20:5060>;tag=1\nTo: <sip:bob@192.168.1.20:5060>\nContent-Length: 0\n\n"))
    );
}

/// With a memory that never saw the request, nothing is restored, and the plan says why.
#[test]
fn without_the_outbound_side_nothing_is_restored_and_the_plan_says_why() {
    struct Forgetful;
    impl Memory for Forgetful {
        fn sent(&mut self, _: &Nat, _: &restore::Sent) {}
        fn response(&mut self, _: &Nat, a: &restore::Answer) -> Recall {
            assert_eq!(
                (a.branch, a.method, a.sent_by, a.status),
                (
                    &b"z9hG4bK7"[..],
                    &b"REGISTER"[..],
                    &b"203.0.113.1:40000"[..],
                    200
                )
            );
            Recalled::Unknown.into()
        }
        fn request(&mut self, _: &Nat) -> Recall {
            Recalled::Seen(Rewrites::NONE).into()
        }
    }
    let m = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 203.0.113.1:40000;branch=z9hG4bK7;received=203.0.113.1\nCSeq: 2 REGISTER\nContact: <sip:a@203.0.113.1:40000>\nContent-Length: 0\n\n");
    let p = plan_with(
        &m,
        Direction::Inbound,
        &nat(),
        &mut KeepPorts,
        &mut Forgetful,
    )
    .unwrap();
    assert!(p.is_unchanged());
    assert_eq!(
        p.restoration_lines(),
        vec![
            "Via not restored: transaction z9hG4bK7 (REGISTER) is unknown or expired (fail-open: left as received)",
            "Contact not restored: transaction z9hG4bK7 (REGISTER) is unknown or expired (fail-open: left as received)",
        ]
    );
    let m = crlf("OPTIONS sip:a@203.0.113.1:40000 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9\nContent-Length: 0\n\n");
    let p = plan_with(
        &m,
        Direction::Inbound,
        &nat(),
        &mut KeepPorts,
        &mut Forgetful,
    )
    .unwrap();
    assert!(p.is_unchanged());
    assert_eq!(
        p.restoration_lines(),
        vec!["Request-URI not restored: the phone's Contact was not rewritten by the ALG"]
    );
}

#[test]
fn inbound_leaves_other_mappings_on_the_same_public_address() {
    // Another phone behind the same router has public port 40002: not this flow's.
    let m = crlf("INVITE sip:bob@203.0.113.1:40002 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.10;branch=z9\nContent-Length: 0\n\n");
    assert_eq!(inb(&m), m);
    // A URI without a port means 5060, which is not this mapping's port either.
    let m = crlf("INVITE sip:bob@203.0.113.1 SIP/2.0\nContent-Length: 0\n\n");
    assert_eq!(inb(&m), m);
}

#[test]
fn default_ports_are_written_only_when_needed() {
    let nat = Nat {
        private: "192.168.1.20:5060".parse().unwrap(),
        public: "203.0.113.1:5060".parse().unwrap(),
    };
    let m = crlf("OPTIONS sip:x@198.51.100.1 SIP/2.0\nVia: SIP/2.0/UDP 192.168.1.20;branch=z9\nContact: <sip:a@192.168.1.20>\n\n");
    let o = plan(&m, Direction::Outbound, &nat, &mut KeepPorts)
        .unwrap()
        .output();
    assert_eq!(text(&o), text(&crlf("OPTIONS sip:x@198.51.100.1 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.1;branch=z9\nContact: <sip:a@203.0.113.1>\n\n")));
    // The phone sends from 5062 but its Via names the default port: the address is
    // translated, the port that has no mapping is left as written.
    let nat = Nat {
        private: "192.168.1.20:5062".parse().unwrap(),
        public: "203.0.113.1:41000".parse().unwrap(),
    };
    let o = plan(&m, Direction::Outbound, &nat, &mut KeepPorts)
        .unwrap()
        .output();
    assert!(text(&o).contains("Via: SIP/2.0/UDP 203.0.113.1;branch"));
}

#[test]
fn body_is_untouched_when_not_sdp_or_truncated() {
    // No Content-Type: not SDP.
    let m = crlf("MESSAGE sip:x@198.51.100.1 SIP/2.0\nContent-Length: 21\n\nc=IN IP4 192.168.1.20");
    assert_eq!(out(&m), m);
    // Declared longer than what arrived: the body is not touched.
    let m = crlf("INVITE sip:x@198.51.100.1 SIP/2.0\nContent-Type: application/sdp\nContent-Length: 500\n\nv=0\nc=IN IP4 192.168.1.20\n");
    assert_eq!(out(&m), m);
    // Bytes after the declared body stay, and the declared length is adjusted only by
    // the edits inside the body.
    let m = crlf("INVITE sip:x@198.51.100.1 SIP/2.0\nContent-Type: application/sdp\nContent-Length: 29\n\nv=0\nc=IN IP4 192.168.1.20\nc=IN IP4 192.168.1.20\n");
    assert_eq!(
        text(&out(&m)),
        text(&crlf("INVITE sip:x@198.51.100.1 SIP/2.0\nContent-Type: application/sdp\nContent-Length: 28\n\nv=0\nc=IN IP4 203.0.113.1\nc=IN IP4 192.168.1.20\n"))
    );
}

#[test]
fn unparsable_input_is_reported_not_panicked() {
    for bad in [
        &b""[..],
        b"\r\n\r\n",
        b"hello",
        b"INVITE\r\n\r\n",
        b"\xff\xfe",
        // Framed while it is scanned: a bad line after headers that would be rewritten
        // still makes the whole message unparsable (nothing half done).
        b"INVITE sip:b@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060\r\nContact: <sip:a@192.168.1.20>\r\nno colon\r\n\r\n",
    ] {
        assert!(plan(bad, Direction::Outbound, &nat(), &mut KeepPorts).is_err());
    }
}

#[test]
fn the_stream_facts_of_an_inbound_answer_name_the_far_end() {
    let sdp = "v=0\no=- 1 1 IN IP4 198.51.100.20\ns=-\nc=IN IP4 198.51.100.20\nt=0 0\nm=audio 30000 RTP/AVP 0\na=recvonly\n";
    let msg = format!(
        "SIP/2.0 200 OK\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        sdp.len(),
        sdp
    );
    let p = plan(msg.as_bytes(), Direction::Inbound, &nat(), &mut KeepPorts).unwrap();
    assert!(p.is_unchanged());
    let s = p.facts.sdp.unwrap().streams()[0];
    assert_eq!(s.address, Some(Ipv4Addr::new(198, 51, 100, 20)));
    assert_eq!(
        (s.port, s.rtcp_port, s.direction, s.mapped),
        (30000, 30001, StreamDirection::RecvOnly, false)
    );
}
