//! Runs every message of the shared test corpus (RFC 4475 torture tests, libosip2's
//! messages and malformed set, the messages extracted from real captures, pjproject's
//! and SIPp's messages, and every SDP fixture wrapped in an INVITE) through the engine,
//! in both directions, and checks the properties that must hold for any input:
//! no panic; only address/port/number tokens are replaced; a consistent Content-Length
//! stays consistent; rewriting the output again changes nothing.
//!
//! The corpus lives in `../shared/corpus` beside the repository (or `$SIPALG_CORPUS`).

use sipalg::engine::{plan, Direction, KeepPorts, Nat};
use sipalg::wire::sip::{Message, Name};
use sipalg::wire::text::parse_ipv4;
use sipalg::wire::uri;
use sipalg::wire::via::Via;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("SIPALG_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join("MANIFEST.md").exists(),
        "corpus not found at {} (set SIPALG_CORPUS)",
        dir.display()
    );
    dir
}

fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, keep, out);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

/// Items separated by a line holding only `|` (libosip2's torture files).
fn split_bars(data: &[u8]) -> Vec<Vec<u8>> {
    let text = data.to_vec();
    let mut items = Vec::new();
    let mut cur = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let t: &[u8] = line.strip_suffix(b"\n").unwrap_or(line);
        let t = t.strip_suffix(b"\r").unwrap_or(t);
        if t == b"|" {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.extend_from_slice(line);
        }
    }
    items.push(cur);
    items
        .into_iter()
        .filter(|i| !i.iter().all(|b| b.is_ascii_whitespace()))
        .collect()
}

/// Wraps an SDP body in an INVITE sent by the host its first `c=IN IP4` names, so that
/// the outbound rewrite treats the SDP as the sender's own.
fn wrap_sdp(sdp: &[u8]) -> Vec<u8> {
    let sender = first_connection_address(sdp).unwrap_or(Ipv4Addr::new(192, 168, 1, 20));
    let mut m = format!(
        "INVITE sip:bob@198.51.100.10 SIP/2.0\r\nVia: SIP/2.0/UDP {sender}:5060;branch=z9hG4bKcorpus\r\nContact: <sip:alice@{sender}:5060>\r\nCall-ID: corpus\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        sdp.len()
    )
    .into_bytes();
    m.extend_from_slice(sdp);
    m
}

struct Item {
    name: String,
    bytes: Vec<u8>,
}

fn load_corpus() -> Vec<Item> {
    let root = corpus_dir();
    let mut items = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>| items.push(Item { name, bytes });
    let mut paths = Vec::new();
    let ext = |e: &'static str| move |p: &Path| p.extension().is_some_and(|x| x == e);
    files(&root.join("rfc4475"), &ext("dat"), &mut paths);
    files(
        &root.join("pcaps/extracted-sip-messages"),
        &ext("sip"),
        &mut paths,
    );
    files(&root.join("streams"), &|_| true, &mut paths);
    files(
        &root.join("pjproject-sendto"),
        &|p| p.to_string_lossy().ends_with(".sipmsg.txt"),
        &mut paths,
    );
    files(
        &root.join("libosip2-test-res"),
        &|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sip"))
        },
        &mut paths,
    );
    for p in &paths {
        add(
            p.strip_prefix(&root).unwrap().display().to_string(),
            std::fs::read(p).unwrap(),
        );
    }
    for name in ["torture_msgs2", "torture_hgs"] {
        let data = std::fs::read(root.join("libosip2-test-res").join(name)).unwrap();
        for (i, m) in split_bars(&data).into_iter().enumerate() {
            add(format!("libosip2-test-res/{name}#{i}"), m);
        }
    }
    let mut sdps = Vec::new();
    files(&root.join("sdp"), &ext("sdp"), &mut sdps);
    files(&root.join("pjproject-sendto"), &ext("sdp"), &mut sdps);
    files(
        &root.join("libosip2-test-res"),
        &|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sdp"))
        },
        &mut sdps,
    );
    for p in &sdps {
        add(
            format!("{} (in INVITE)", p.strip_prefix(&root).unwrap().display()),
            wrap_sdp(&std::fs::read(p).unwrap()),
        );
    }
    let data = std::fs::read(root.join("libosip2-test-res/torture_sdps")).unwrap();
    for (i, s) in split_bars(&data).into_iter().enumerate() {
        add(
            format!("libosip2-test-res/torture_sdps#{i} (in INVITE)"),
            wrap_sdp(&s),
        );
    }
    items
}

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

fn first_connection_address(body: &[u8]) -> Option<Ipv4Addr> {
    let pos = body.windows(9).position(|w| w == b"c=IN IP4 ")?;
    let rest = &body[pos + 9..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    parse_ipv4(&rest[..end])
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
        // Inbound: pretend the message was sent to the public mapping of its own sender
        // (so the sender's addresses play the public side).
        let inbound = Nat {
            private: SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 20), 5062),
            public: own,
        };
        check_one(item, Direction::Inbound, &inbound, &mut tally);
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
        "corpus: {} messages, {} unparsable (passed unchanged), {} rewritten outbound, {} restored inbound, {} SDP edits",
        tally.messages, tally.unparsable, tally.rewritten_out, tally.rewritten_in, tally.sdp_edits
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
}

/// RFC 4475 §3.1.1 valid messages with a literal IPv4 top Via get that Via rewritten;
/// the invalid ones never panic and come out unchanged or safely edited (above).
#[test]
fn rfc4475_valid_messages_rewrite_sensibly() {
    let root = corpus_dir().join("rfc4475");
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
