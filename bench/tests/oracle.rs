//! Independent oracles: rsip (a SIP parser) and sdp-rs (an SDP parser) never sit in the
//! rewrite path (they re-serialise and misparse real messages, docs/dependencies.md), but
//! they make good judges: whenever one of them accepts a corpus message, it must accept
//! the ALG's output too, and see the same structure (header count, media count).

#[path = "../../tests/common/corpus.rs"]
mod common;

use rsip::message::HasHeaders as _;
use sipalg::engine::{plan, Direction, KeepPorts, Nat};
use sipalg::wire::sip::Message;
use std::net::{Ipv4Addr, SocketAddrV4};

fn rsip_headers(m: &[u8]) -> Option<usize> {
    rsip::SipMessage::try_from(m)
        .ok()
        .map(|msg| msg.headers().iter().count())
}

fn sdp_media(m: &[u8]) -> Option<usize> {
    let msg = Message::parse(m).ok()?;
    let body = std::str::from_utf8(&m[msg.body()]).ok()?;
    if body.is_empty() {
        return None;
    }
    sdp_rs::SessionDescription::try_from(body.to_string())
        .ok()
        .map(|s| s.media_descriptions.len())
}

#[test]
fn rsip_and_sdp_rs_agree_before_and_after() {
    let items = common::load_corpus();
    let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 77), 40000);
    let (mut rsip_checked, mut sdp_checked) = (0, 0);
    for item in &items {
        let own = common::first_connection_address(&item.bytes)
            .map(|ip| SocketAddrV4::new(ip, 5060))
            .unwrap_or("192.168.1.20:5060".parse().unwrap());
        let Ok(p) = plan(
            &item.bytes,
            Direction::Outbound,
            &Nat {
                private: own,
                public,
            },
            &mut KeepPorts,
        ) else {
            continue;
        };
        if p.is_unchanged() {
            continue;
        }
        let out = p.output();
        if let Some(n) = rsip_headers(&item.bytes) {
            assert_eq!(
                rsip_headers(&out),
                Some(n),
                "{}: rsip sees a different message after rewrite",
                item.name
            );
            rsip_checked += 1;
        }
        if let Some(n) = sdp_media(&item.bytes) {
            assert_eq!(
                sdp_media(&out),
                Some(n),
                "{}: sdp-rs sees different media after rewrite",
                item.name
            );
            sdp_checked += 1;
        }
    }
    println!("oracle: rsip confirmed {rsip_checked} rewritten messages, sdp-rs {sdp_checked} rewritten SDPs");
    assert!(rsip_checked > 200, "rsip checked only {rsip_checked}");
    assert!(sdp_checked > 50, "sdp-rs checked only {sdp_checked}");
}
