//! The demo: a throwaway lab (two LAN phones, an OpenWrt-like NAT router running
//! sipalgd, a SIP provider on the WAN), a phone registering, calling out and receiving a
//! call, with what the ALG rewrote and the status table printed. Needs root.
//!
//!     bash tests/lab/demo.sh

#[path = "../tests/common/lab.rs"]
mod lab;
#[path = "../tests/common/phone.rs"]
mod phone;
#[path = "../tests/common/sipmsg.rs"]
mod sipmsg;

use lab::{arrives, Lab, MEDIA_GW, PHONE1, ROUTER_WAN, SERVER};
use phone::Sip;
use sipmsg::{audio, sdp, sip_sdp, text};
use std::time::Duration;

/// Prints a message as one side sent it and as the other side received it, marking the
/// lines the ALG changed.
fn show(title: &str, sent: &[u8], received: &[u8]) {
    println!("\n── {title}");
    let (a, b) = (text(sent), text(received));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split("\r\n").collect(), b.split("\r\n").collect());
    for (i, line) in b.iter().enumerate() {
        match a.get(i) {
            Some(old) if old == line => println!("    {line}"),
            Some(old) => {
                println!("  - {old}");
                println!("  + {line}");
            }
            None => println!("  + {line}"),
        }
    }
}

fn main() {
    let Some(mut lab) = Lab::new("demo") else {
        eprintln!("the demo needs root (network namespaces)");
        std::process::exit(1);
    };
    println!("Lab {}: phone {PHONE1} ── router (WAN {ROUTER_WAN}, fw4-like NAT) ── provider {SERVER}, media gateway {MEDIA_GW}", lab.prefix);
    lab.write_config("\toption alg '1'");
    lab.start_daemon();
    println!("sipalgd runs in the router with alg=1.");
    let s = Sip::new(&lab, "lan1", PHONE1);

    // Registration.
    let reg = sipmsg::sip(&format!("REGISTER sip:{SERVER} SIP/2.0\nVia: SIP/2.0/UDP {PHONE1}:5060;branch=z9hG4bK-demo-reg;rport\nFrom: <sip:100@{SERVER}>;tag=d\nTo: <sip:100@{SERVER}>\nCall-ID: demo-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{PHONE1}:5060>\nExpires: 600\n"), "");
    let (got, public) = s.up(&reg);
    show(
        "REGISTER: the phone sent (-) / the provider received (+)",
        &reg,
        &got,
    );
    let ok = sipmsg::sip(&format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {public};branch=z9hG4bK-demo-reg;rport={};received={}\nFrom: <sip:100@{SERVER}>;tag=d\nTo: <sip:100@{SERVER}>;tag=p\nCall-ID: demo-reg\nCSeq: 1 REGISTER\nContact: <sip:100@{public}>;expires=600\n", public.port(), public.ip()), "");
    let back = s.down(&ok, public);
    show(
        "200 OK to REGISTER: the provider sent (-) / the phone received (+)",
        &ok,
        &back,
    );

    // Outbound call; the provider's media gateway speaks first.
    let rtp = lab.udp("lan1", &format!("{PHONE1}:4000"));
    let gw = lab.udp("wan", &format!("{MEDIA_GW}:30000"));
    let offer = s.invite("demo-out", 1, None, &sdp(PHONE1, &audio(4000)));
    s.phone.send_to(&offer, phone::server_addr()).unwrap();
    let (inv, _) = lab::recv(&s.server);
    show(
        "INVITE: the phone sent (-) / the provider received (+)",
        &offer,
        &inv,
    );
    s.down(
        &Sip::answer("demo-out", 1, public, &sdp(MEDIA_GW, &audio(30000))),
        public,
    );
    for _ in 0..5 {
        gw.send_to(
            b"\x80\x00audio from the far end",
            format!("{ROUTER_WAN}:4000")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        )
        .unwrap();
        let heard = arrives(&rtp, Duration::from_secs(1)).is_some();
        rtp.send_to(
            b"\x80\x00audio from the phone",
            format!("{MEDIA_GW}:30000")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        )
        .unwrap();
        let _ = arrives(&gw, Duration::from_secs(1));
        if !heard {
            println!("!! the phone did not hear the far end");
        }
    }
    println!("\nMedia: the gateway spoke first through the pinhole; the phone's RTP left from {ROUTER_WAN}:4000.");

    // Inbound call to the registered phone.
    let call_in = sip_sdp(
        &format!("INVITE sip:100@{public} SIP/2.0\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-demo-in\nFrom: <sip:caller@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>\nCall-ID: demo-in\nCSeq: 1 INVITE\nContact: <sip:caller@{SERVER}:5060>\n"),
        &sdp(MEDIA_GW, &audio(31000)),
    );
    let got = s.down(&call_in, public);
    show(
        "Incoming INVITE: the provider sent (-) / the phone received (+)",
        &call_in,
        &got,
    );
    let answer = sip_sdp(
        &format!("SIP/2.0 200 OK\nVia: SIP/2.0/UDP {SERVER}:5060;branch=z9hG4bK-demo-in\nFrom: <sip:caller@{SERVER}>;tag=c\nTo: <sip:100@{SERVER}>;tag=ph\nCall-ID: demo-in\nCSeq: 1 INVITE\nContact: <sip:100@{PHONE1}:5060>\n"),
        &sdp(PHONE1, &audio(4002)),
    );
    let (ans, _) = s.up(&answer);
    show(
        "200 OK (the phone answers): the phone sent (-) / the provider received (+)",
        &answer,
        &ans,
    );

    std::thread::sleep(Duration::from_secs(3));
    let status = std::process::Command::new(lab::bin())
        .args(["status", "--socket"])
        .arg(lab.socket())
        .output()
        .unwrap();
    println!(
        "\n── sipalgd status\n{}",
        String::from_utf8_lossy(&status.stdout)
    );
    lab.stop();
    println!("Lab removed.");
}
