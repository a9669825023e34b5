//! SDP rules. Outbound, for the sender's own private address only: `o=` and `c=`
//! addresses, each `m=` port (asked from the [`PortMap`]), and `a=rtcp` port/address.
//! Inbound SDP (the far end's) is only read. An SDP with ICE candidates, IPv6
//! addresses, or addresses of other hosts is left as it is.

use super::edit::{Edits, Field};
use super::facts::{MediaKind, Sdp, Stream, StreamDirection};
use super::{Direction, MediaRequest, Nat, PortMap, Role};
use crate::wire::sdp::{self, Address, Line};
use crate::wire::text::Inline;
use core::ops::Range;
use std::net::SocketAddrV4;

pub(super) struct Outcome {
    pub facts: Sdp,
    /// Outbound: the SDP already carries the public address.
    pub nat_aware: bool,
}

/// One media section being read.
struct Section {
    index: usize,
    kind: MediaKind,
    port: Range<usize>,
    port_number: u16,
    connection: Option<Address>,
    rtcp: Option<sdp::Rtcp>,
    direction: Option<StreamDirection>,
}

pub(super) fn plan(
    buf: &[u8],
    body: Range<usize>,
    direction: Direction,
    nat: &Nat,
    ports: &mut dyn PortMap,
    edits: &mut Edits,
    leave_alone: bool,
) -> Outcome {
    let private_ip = *nat.private.ip();
    let public_ip = *nat.public.ip();

    // First look: ICE, and whether the sender already advertises the public address.
    // A substring search rules most bodies out before any line is parsed.
    let mut facts = Sdp::default();
    let mut nat_aware = false;
    let text = &buf[body.clone()];
    let public_text = Inline::ip(public_ip);
    let maybe_ice = contains(text, b"a=candidate");
    let maybe_public = public_ip != private_ip && contains(text, public_text.as_bytes());
    if maybe_ice || maybe_public {
        for line in sdp::lines(buf, body.clone()) {
            if sdp::attribute_name(buf, &line) == Some(b"candidate") {
                facts.has_ice = true;
            }
            if maybe_public {
                let addr =
                    sdp::connection_address(buf, &line).or_else(|| sdp::origin_address(buf, &line));
                if addr.and_then(|a| a.ipv4) == Some(public_ip) {
                    nat_aware = true;
                }
            }
        }
    }
    let rewrite = direction == Direction::Outbound && !leave_alone && !facts.has_ice && !nat_aware;

    let mut session_connection: Option<Address> = None;
    let mut session_direction: Option<StreamDirection> = None;
    let mut section: Option<Section> = None;
    let mut index = 0;
    // A final `None` closes the last media section.
    for line in sdp::lines(buf, body)
        .map(Some)
        .chain(core::iter::once(None))
    {
        let ends_section = line.as_ref().is_none_or(|l| l.kind == b'm');
        if ends_section {
            if let Some(s) = section.take() {
                finish(
                    buf,
                    s,
                    &session_connection,
                    session_direction,
                    nat,
                    ports,
                    edits,
                    rewrite,
                    &mut facts,
                );
            }
            let Some(line) = line else { break };
            if let Some(m) = sdp::media(buf, &line) {
                section = Some(Section {
                    index,
                    kind: MediaKind::of(&buf[m.media]),
                    port: m.port,
                    port_number: m.port_number,
                    connection: None,
                    rtcp: None,
                    direction: None,
                });
            }
            index += 1;
            continue;
        }
        let Some(line) = line else { break };
        let in_media = section.is_some();
        match line.kind {
            b'o' if !in_media => {
                if let Some(a) = sdp::origin_address(buf, &line) {
                    rewrite_address(buf, &a, rewrite, nat, Field::SdpOrigin, edits);
                }
            }
            b'c' => {
                if let Some(a) = sdp::connection_address(buf, &line) {
                    rewrite_address(buf, &a, rewrite, nat, Field::SdpConnection, edits);
                    match section.as_mut() {
                        Some(s) => s.connection = Some(a),
                        None => {
                            facts.session_address = a.ipv4;
                            session_connection = Some(a);
                        }
                    }
                }
            }
            b'a' => attribute(buf, &line, section.as_mut(), &mut session_direction),
            _ => {}
        }
    }
    Outcome { facts, nat_aware }
}

fn attribute(
    buf: &[u8],
    line: &Line,
    section: Option<&mut Section>,
    session_direction: &mut Option<StreamDirection>,
) {
    let Some(name) = sdp::attribute_name(buf, line) else {
        return;
    };
    if let Some(d) = StreamDirection::of(name) {
        match section {
            Some(s) => s.direction = Some(d),
            None => *session_direction = Some(d),
        }
        return;
    }
    if let (Some(s), Some(r)) = (section, sdp::rtcp(buf, line)) {
        s.rtcp = Some(r);
    }
}

fn rewrite_address(
    buf: &[u8],
    a: &Address,
    rewrite: bool,
    nat: &Nat,
    field: Field,
    edits: &mut Edits,
) {
    if rewrite && a.ipv4 == Some(*nat.private.ip()) {
        edits.replace(buf, a.range.clone(), field, Inline::ip(*nat.public.ip()));
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    buf: &[u8],
    s: Section,
    session_connection: &Option<Address>,
    session_direction: Option<StreamDirection>,
    nat: &Nat,
    ports: &mut dyn PortMap,
    edits: &mut Edits,
    rewrite: bool,
    facts: &mut Sdp,
) {
    let connection = s.connection.as_ref().or(session_connection.as_ref());
    let address = connection.and_then(|c| c.ipv4);
    let port = s.port_number;
    let rtcp_port = match (&s.rtcp, port) {
        (_, 0) => 0,
        (Some(r), _) => r.port_number,
        (None, p) => p.wrapping_add(1),
    };
    let mut stream = Stream {
        kind: s.kind,
        address,
        port,
        rtcp_port,
        explicit_rtcp: s.rtcp.is_some(),
        direction: s.direction.or(session_direction).unwrap_or_default(),
        mapped: false,
        public_port: port,
        public_rtcp_port: rtcp_port,
    };
    let own = address == Some(*nat.private.ip());
    if rewrite && own && port != 0 {
        let private_ip = *nat.private.ip();
        let rtp = MediaRequest {
            index: s.index,
            kind: s.kind,
            role: Role::Rtp,
            private: SocketAddrV4::new(private_ip, port),
            required: None,
        };
        let public_rtp = ports.public_port(&rtp);
        edits.replace(
            buf,
            s.port.clone(),
            Field::SdpMediaPort,
            Inline::number(u32::from(public_rtp)),
        );
        let rtcp_ip = s
            .rtcp
            .as_ref()
            .and_then(|r| r.address.as_ref())
            .map_or(Some(private_ip), |a| a.ipv4);
        let public_rtcp = if rtcp_ip == Some(private_ip) {
            let required = (!stream.explicit_rtcp).then(|| public_rtp.wrapping_add(1));
            let request = MediaRequest {
                role: Role::Rtcp,
                private: SocketAddrV4::new(private_ip, rtcp_port),
                required,
                ..rtp
            };
            let p = ports.public_port(&request);
            if let Some(r) = &s.rtcp {
                edits.replace(
                    buf,
                    r.port.clone(),
                    Field::SdpRtcpPort,
                    Inline::number(u32::from(p)),
                );
                if let Some(a) = &r.address {
                    rewrite_address(buf, a, true, nat, Field::SdpRtcpAddress, edits);
                }
            }
            p
        } else {
            rtcp_port
        };
        stream.mapped = true;
        stream.public_port = public_rtp;
        stream.public_rtcp_port = public_rtcp;
    }
    facts.push(stream);
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut i = 0;
    while let Some(p) = hay[i..].iter().position(|&b| b == first) {
        let at = i + p;
        if hay[at + 1..].starts_with(rest) {
            return true;
        }
        i = at + 1;
    }
    false
}

/// Forgets mapped ports when the plan is dropped as a whole.
pub(super) fn unmap(sdp: &mut Sdp) {
    let n = sdp.streams().len();
    for i in 0..n {
        let s = sdp.stream_mut(i);
        s.mapped = false;
        s.public_port = s.port;
        s.public_rtcp_port = s.rtcp_port;
    }
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn substring_search() {
        assert!(contains(b"c=IN IP4 198.51.100.10\r\n", b"198.51.100.1"));
        assert!(contains(b"a=candidate:1", b"a=candidate"));
        assert!(!contains(b"a=candidat", b"a=candidate"));
        assert!(!contains(b"", b"x"));
        assert!(contains(b"x", b""));
        assert!(contains(b"aab", b"ab"));
    }
}
