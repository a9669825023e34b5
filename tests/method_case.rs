//! RFC 3261 §7.1: the method token is case-sensitive, so `invite`, `bye` and `register`
//! are unknown extension methods (a UAS answers them 405/501), not INVITE, BYE and
//! REGISTER. Every place that decides on a method (`wire::method::Method::is`) is
//! checked here through the public API, each against the upper-case control: the
//! engine's registration expiry in the restoration memory, the call table (a call
//! starts and ends), the registrations (a REGISTER and its 200).

use sipalg::alg::{Hook, Policy, Processor, Resume, Step, Verdict};
use sipalg::engine::{plan_with, Direction, KeepPorts, Nat};
use sipalg::state::actions::Action;
use sipalg::state::restore::{Restore, DIALOG_CONTACT, TIMER_B};
use std::net::SocketAddrV4;

const PHONE: &str = "192.168.1.20:5060";
const SERVER: &str = "198.51.100.10:5060";
const WAN: &str = "198.51.100.1:5060";

fn udp(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let (s, d): (SocketAddrV4, SocketAddrV4) = (src.parse().unwrap(), dst.parse().unwrap());
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&s.ip().octets());
    p.extend_from_slice(&d.ip().octets());
    p.extend_from_slice(&s.port().to_be_bytes());
    p.extend_from_slice(&d.port().to_be_bytes());
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]); // UDP checksum 0: none
    p.extend_from_slice(payload);
    p
}

fn processor() -> Processor {
    let mut p = Processor::new(Policy::default());
    let wan = WAN.parse::<SocketAddrV4>().unwrap().ip().to_owned();
    p.set_policy(Policy::default(), Some(wan));
    p
}

/// Runs one packet through the processor (a flow new to conntrack) and returns the
/// actions it took.
fn send(p: &mut Processor, hook: Hook, src: &str, dst: &str, msg: &str, now: u64) -> Vec<Action> {
    let packet = udp(src, dst, msg.as_bytes());
    let mut resume: Option<Resume> = None;
    loop {
        match p.handle(hook, &packet, now, resume.as_ref()) {
            Step::Verdict(Verdict::Replace(b)) => {
                p.recycle(b);
                break;
            }
            Step::Verdict(Verdict::Accept | Verdict::Drop) => break,
            Step::Lookup(request) => {
                resume = Some(Resume {
                    request,
                    answer: None,
                })
            }
        }
    }
    let (mut before, mut trailing) = p.take_actions();
    before.append(&mut trailing);
    before
}

fn with_length(head: &str, body: &str) -> String {
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
}

const SDP: &str = "v=0\r\no=a 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
const SDP_ANSWER: &str = "v=0\r\no=b 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";

fn invite(method: &str) -> String {
    with_length(
        &format!("{method} sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKc1\r\nFrom: <sip:a@192.168.1.20>;tag=1\r\nTo: <sip:bob@198.51.100.10>\r\nCall-ID: call-1\r\nCSeq: 1 {method}\r\nContact: <sip:a@192.168.1.20:5060>\r\nContent-Type: application/sdp\r\n"),
        SDP,
    )
}

fn media(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Snat { .. } | Action::FlowTimeout { .. }))
        .count()
}

fn bye(method: &str) -> String {
    with_length(
        &format!("{method} sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKc2\r\nFrom: <sip:a@192.168.1.20>;tag=1\r\nTo: <sip:bob@198.51.100.10>;tag=2\r\nCall-ID: call-1\r\nCSeq: 2 {method}\r\n"),
        "",
    )
}

fn ok_to_invite() -> String {
    with_length(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKc1\r\nFrom: <sip:a@198.51.100.1>;tag=1\r\nTo: <sip:bob@198.51.100.10>;tag=2\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@198.51.100.10:5060>\r\nContent-Type: application/sdp\r\n",
        SDP_ANSWER,
    )
}

fn register(method: &str) -> String {
    with_length(
        &format!("{method} sip:198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKr1;rport\r\nFrom: <sip:100@198.51.100.10>;tag=3\r\nTo: <sip:100@198.51.100.10>\r\nCall-ID: reg-1\r\nCSeq: 1 {method}\r\nContact: <sip:100@192.168.1.20:5060>;expires=60\r\n"),
        "",
    )
}

fn ok_to_register(method: &str) -> String {
    with_length(
        &format!("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKr1;received=198.51.100.1;rport=5060\r\nFrom: <sip:100@198.51.100.10>;tag=3\r\nTo: <sip:100@198.51.100.10>;tag=4\r\nCall-ID: reg-1\r\nCSeq: 1 {method}\r\nContact: <sip:100@198.51.100.1:5060>;expires=60\r\n"),
        "",
    )
}

#[test]
fn invite_in_lower_case_starts_no_call() {
    let mut p = processor();
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    assert_eq!(
        media(&actions),
        2,
        "INVITE: RTP and RTCP mapped: {actions:?}"
    );

    let mut p = processor();
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("invite"), 0);
    assert_eq!(media(&actions), 0, "invite is not INVITE: {actions:?}");
    let actions = send(&mut p, Hook::Inbound, SERVER, WAN, &ok_to_invite(), 1);
    assert_eq!(
        media(&actions),
        0,
        "no call, so its answer opens nothing: {actions:?}"
    );
}

#[test]
fn bye_in_lower_case_ends_no_call() {
    let mut p = processor();
    send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    let answered = send(&mut p, Hook::Inbound, SERVER, WAN, &ok_to_invite(), 1);
    assert!(
        media(&answered) > 0,
        "the answer opens the pinholes: {answered:?}"
    );
    let removes = |a: &[Action]| {
        a.iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::RemoveMediaSnat { .. } | Action::RemovePinhole { .. }
                )
            })
            .count()
    };
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &bye("bye"), 2);
    assert_eq!(removes(&actions), 0, "bye is not BYE: {actions:?}");
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &bye("BYE"), 3);
    assert!(removes(&actions) > 0, "BYE ends the call: {actions:?}");
}

#[test]
fn register_in_lower_case_is_no_registration() {
    // The REGISTER's method, then its 200's CSeq method: each must say REGISTER.
    let reachable = |request: &str, response: &str| {
        let mut p = processor();
        send(&mut p, Hook::Outbound, PHONE, SERVER, &register(request), 0);
        let actions = send(
            &mut p,
            Hook::Inbound,
            SERVER,
            WAN,
            &ok_to_register(response),
            1,
        );
        actions
            .iter()
            .any(|a| matches!(a, Action::Reachable { .. }))
    };
    assert!(reachable("REGISTER", "REGISTER"));
    assert!(!reachable("register", "register"));
    assert!(!reachable("Register", "Register"));
    // One site at a time: the request, then the response's CSeq.
    assert!(!reachable("register", "REGISTER"));
    assert!(!reachable("REGISTER", "register"));
}

/// The engine tells the restoration memory how long a rewritten Contact lives: a
/// registration's expiry for a REGISTER, a dialog's two hours otherwise.
#[test]
fn register_in_lower_case_keeps_its_contact_as_a_dialogs() {
    let nat = Nat {
        private: PHONE.parse().unwrap(),
        public: WAN.parse().unwrap(),
    };
    let expires_at = |method: &str| {
        let mut memory = Restore::default();
        let msg = register(method);
        let p = plan_with(
            msg.as_bytes(),
            Direction::Outbound,
            &nat,
            &mut KeepPorts,
            &mut memory.at(0),
        )
        .unwrap();
        assert!(!p.is_unchanged(), "the Contact is rewritten either way");
        memory.contact(nat.private).unwrap().expires_at
    };
    assert_eq!(expires_at("REGISTER"), 60 + TIMER_B);
    assert_eq!(expires_at("register"), DIALOG_CONTACT);
}

fn cancel(method: &str) -> String {
    with_length(
        &format!("{method} sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKc1\r\nFrom: <sip:a@192.168.1.20>;tag=1\r\nTo: <sip:bob@198.51.100.10>\r\nCall-ID: call-1\r\nCSeq: 1 {method}\r\n"),
        "",
    )
}

/// A final response from the far end, `status` with `cseq_method`, to the INVITE.
fn final_response(status: &str, cseq_method: &str) -> String {
    with_length(
        &format!("SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKc1\r\nFrom: <sip:a@198.51.100.1>;tag=1\r\nTo: <sip:bob@198.51.100.10>;tag=2\r\nCall-ID: call-1\r\nCSeq: 1 {cseq_method}\r\n"),
        "",
    )
}

fn removes(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::RemoveMediaSnat { .. } | Action::RemovePinhole { .. }
            )
        })
        .count()
}

#[test]
fn cancel_in_lower_case_ends_no_call() {
    let mut p = processor();
    send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &cancel("cancel"), 1);
    assert_eq!(removes(&actions), 0, "cancel is not CANCEL: {actions:?}");
    let actions = send(&mut p, Hook::Outbound, PHONE, SERVER, &cancel("CANCEL"), 2);
    assert!(removes(&actions) > 0, "CANCEL ends the call: {actions:?}");
}

/// A final failure ends a call still ringing, and a 2xx confirms it, only when their
/// CSeq says INVITE.
#[test]
fn responses_count_for_the_invite_only_if_their_cseq_says_invite() {
    let mut p = processor();
    send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    let actions = send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("486 Busy Here", "invite"),
        1,
    );
    assert_eq!(removes(&actions), 0, "CSeq invite: {actions:?}");
    let actions = send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("486 Busy Here", "INVITE"),
        2,
    );
    assert!(removes(&actions) > 0, "CSeq INVITE: {actions:?}");

    // A 2xx with CSeq `invite` does not confirm the call: a failure still ends it.
    let mut p = processor();
    send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("200 OK", "invite"),
        1,
    );
    let actions = send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("486 Busy Here", "INVITE"),
        2,
    );
    assert!(removes(&actions) > 0, "still ringing: {actions:?}");
    // With CSeq INVITE it does: a late failure no longer ends a confirmed call.
    let mut p = processor();
    send(&mut p, Hook::Outbound, PHONE, SERVER, &invite("INVITE"), 0);
    send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("200 OK", "INVITE"),
        1,
    );
    let actions = send(
        &mut p,
        Hook::Inbound,
        SERVER,
        WAN,
        &final_response("486 Busy Here", "INVITE"),
        2,
    );
    assert_eq!(removes(&actions), 0, "confirmed: {actions:?}");
}

/// The restoration memory keeps an INVITE transaction for 10 minutes after a
/// provisional response (RFC 3261 §17.1.1: a UA may ring longer than timer B), any other
/// for 32 s: an `invite` gets the 32 s.
#[test]
fn the_memory_keeps_only_an_invite_transaction_while_it_rings() {
    let nat = Nat {
        private: PHONE.parse().unwrap(),
        public: WAN.parse().unwrap(),
    };
    let restored_after_ringing = |method: &str| {
        let mut memory = Restore::default();
        let request = invite(method);
        let mut plan = |msg: &str, direction, now| {
            !plan_with(
                msg.as_bytes(),
                direction,
                &nat,
                &mut KeepPorts,
                &mut memory.at(now),
            )
            .unwrap()
            .is_unchanged()
        };
        assert!(
            plan(&request, Direction::Outbound, 0),
            "the Via is rewritten"
        );
        let response = |status: &str| {
            final_response(status, method).replace(
                ";branch=z9hG4bKc1",
                ";branch=z9hG4bKc1;received=198.51.100.1;rport=5060",
            )
        };
        assert!(
            plan(&response("180 Ringing"), Direction::Inbound, 1),
            "restored while known"
        );
        plan(&response("200 OK"), Direction::Inbound, 100)
    };
    assert!(restored_after_ringing("INVITE"));
    assert!(!restored_after_ringing("invite"));
}
