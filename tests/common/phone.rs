//! A SIP phone and a SIP server for the lab: one UDP socket each, and the messages a
//! registration and a call need. Used by the lab tests and the demo.

#![allow(dead_code)]

use crate::lab::{recv, Lab, SERVER};
use crate::sipmsg::{sip, sip_sdp, text};
use std::net::{SocketAddr, UdpSocket};

pub fn server_addr() -> SocketAddr {
    format!("{SERVER}:5060").parse().unwrap()
}

/// The signalling side of one test: a phone's SIP socket and the SIP server's.
pub struct Sip {
    pub phone: UdpSocket,
    pub phone_ip: &'static str,
    pub server: UdpSocket,
}

impl Sip {
    pub fn new(lab: &Lab, host: &str, phone_ip: &'static str) -> Sip {
        let server = lab.udp("wan", &format!("{SERVER}:5060"));
        Sip {
            phone: lab.udp(host, &format!("{phone_ip}:5060")),
            phone_ip,
            server,
        }
    }

    /// Phone → server; returns what arrived and where from (the public mapping).
    pub fn up(&self, msg: &[u8]) -> (Vec<u8>, SocketAddr) {
        self.phone.send_to(msg, server_addr()).unwrap();
        recv(&self.server)
    }

    /// Server → the phone's public mapping; returns what the phone got.
    pub fn down(&self, msg: &[u8], to: SocketAddr) -> Vec<u8> {
        self.server.send_to(msg, to).unwrap();
        recv(&self.phone).0
    }

    pub fn invite(&self, call: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> Vec<u8> {
        let ip = self.phone_ip;
        let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        sip_sdp(
            &format!("INVITE sip:bob@{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{call}-{cseq};rport\nFrom: <sip:a@{ip}>;tag={call}\nTo: <sip:bob@{SERVER}>{tag}\nCall-ID: {call}\nCSeq: {cseq} INVITE\nContact: <sip:a@{ip}:5060>\n"),
            body,
        )
    }

    pub fn answer(call: &str, cseq: u32, public: SocketAddr, body: &str) -> Vec<u8> {
        sip_sdp(
            &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {public};branch=z9hG4bK-{call}-{cseq};rport={};received={}\nFrom: <sip:a@x>;tag={call}\nTo: <sip:bob@{SERVER}>;tag=srv\nCall-ID: {call}\nCSeq: {cseq} INVITE\nContact: <sip:bob@{SERVER}:5060>\n", public.port(), public.ip()),
            body,
        )
    }

    /// An inbound call to the phone registered at `public` ([`Sip::register`]): the
    /// server's INVITE with `offer`, which must reach the phone with its Request-URI
    /// restored, and the phone's 200 with `answer`. Returns the INVITE as the phone got
    /// it and the 200 as the server got it.
    pub fn called(
        &self,
        call: &str,
        public: SocketAddr,
        offer: &str,
        answer: &str,
    ) -> (Vec<u8>, Vec<u8>) {
        let ip = self.phone_ip;
        let invite = sip_sdp(
            &format!("INVITE sip:100@{public} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-{call}\nFrom: <sip:caller@{SERVER}>;tag={call}\nTo: <sip:100@{SERVER}>\nCall-ID: {call}\nCSeq: 1 INVITE\nContact: <sip:caller@{SERVER}:5060>\n"),
            offer,
        );
        let got = self.down(&invite, public);
        assert!(
            text(&got).starts_with(&format!("INVITE sip:100@{ip}:5060 SIP/2.0")),
            "{}",
            text(&got)
        );
        let ok = sip_sdp(
            &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-{call}\nFrom: <sip:caller@{SERVER}>;tag={call}\nTo: <sip:100@{SERVER}>;tag=ph\nCall-ID: {call}\nCSeq: 1 INVITE\nContact: <sip:100@{ip}:5060>\n"),
            answer,
        );
        let (at_server, _) = self.up(&ok);
        (got, at_server)
    }

    /// A whole outbound call set-up: INVITE with `offer`, 200 with `answer`, ACK.
    /// Returns the INVITE as the server saw it and the phone's public mapping.
    pub fn call(&self, call: &str, offer: &str, answer: &str) -> (Vec<u8>, SocketAddr) {
        let (inv, public) = self.up(&self.invite(call, 1, None, offer));
        self.down(&Self::answer(call, 1, public, answer), public);
        let ip = self.phone_ip;
        let ack = sip(&format!("ACK sip:bob@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{call}-ack\nFrom: <sip:a@{ip}>;tag={call}\nTo: <sip:bob@{SERVER}>;tag=srv\nCall-ID: {call}\nCSeq: 1 ACK\n"), "");
        self.up(&ack);
        (inv, public)
    }

    pub fn bye(&self, call: &str) {
        let ip = self.phone_ip;
        self.up(&sip(&format!("BYE sip:bob@{SERVER}:5060 SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{call}-bye\nFrom: <sip:a@{ip}>;tag={call}\nTo: <sip:bob@{SERVER}>;tag=srv\nCall-ID: {call}\nCSeq: 2 BYE\n"), ""));
    }

    /// REGISTER with `expires` and the registrar's 200 granting it.
    pub fn register(&self, expires: u32) -> SocketAddr {
        let ip = self.phone_ip;
        let reg = sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-reg;rport\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>\nCall-ID: reg-{ip}\nCSeq: 1 REGISTER\nContact: <sip:100@{ip}:5060>\nExpires: {expires}\n"), "");
        let (got, public) = self.up(&reg);
        assert!(
            text(&got).contains(&format!("Contact: <sip:100@{public}>")),
            "{}",
            text(&got)
        );
        let ok = sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {public};branch=z9hG4bK-reg;rport={};received={}\nFrom: <sip:100@{SERVER}>;tag=r\nTo: <sip:100@{SERVER}>;tag=reg\nCall-ID: reg-{ip}\nCSeq: 1 REGISTER\nContact: <sip:100@{public}>;expires={expires}\n", public.port(), public.ip()), "");
        let back = self.down(&ok, public);
        assert!(
            text(&back).contains(&format!("Contact: <sip:100@{ip}:5060>;expires={expires}")),
            "{}",
            text(&back)
        );
        public
    }
}
