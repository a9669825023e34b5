//! SDP rules. Outbound, for the sender's own private address only: `o=` and `c=`
//! addresses, each `m=` port (asked from the [`PortMap`]), and `a=rtcp` port/address.
//! Inbound SDP (normally the far end's) is only read, except a stream on this flow's
//! public address whose port the ALG mapped for this phone ([`PortMap::mapped`]): that
//! stream is given back its private address and ports (a `c=`/`o=` line only when every
//! stream it describes was restored). An SDP with ICE candidates, IPv6 addresses, or
//! addresses of other hosts is left as it is.

use super::edit::{Edits, Field};
use super::facts::{MediaKind, Sdp, Stream, StreamDirection, MAX_STREAMS};
use super::{Direction, MediaRequest, Nat, PortMap, Role};
use crate::wire::sdp::{self, Address, Line};
use crate::wire::text::Inline;
use core::ops::Range;
use std::net::SocketAddrV4;

pub(super) struct Outcome {
    pub facts: Sdp,
    /// Outbound: the SDP already carries the public address.
    pub nat_aware: bool,
    /// Inbound: streams on the public address restored / left alone.
    pub restored: u8,
    pub kept: u8,
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

/// `o=`/`c=` addresses of the sender's own that would be rewritten; decided at the end
/// of the body (an `a=candidate` or the public address may still come).
const MAX_ADDRESSES: usize = 2 + 2 * MAX_STREAMS;

/// Plans the SDP edits in ONE pass: sections and rewritable addresses are collected,
/// and the decision (rewrite or leave alone) is taken at the end of the body, when it
/// is known whether the SDP has ICE candidates or already names the public address.
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
    let mut facts = Sdp::default();
    let mut nat_aware = false;
    let mut too_many = false;
    // Outbound: the sender's private addresses; inbound: the public address. With the
    // section a media-level `c=` belongs to.
    let mut own_addresses: [(Range<usize>, Field, Option<usize>); MAX_ADDRESSES] =
        [const { (0..0, Field::SdpOrigin, None) }; MAX_ADDRESSES];
    let inbound = direction == Direction::Inbound;
    let target_ip = if inbound { public_ip } else { private_ip };
    let mut own_count = 0;
    let mut session_connection: Option<Address> = None;
    let mut session_direction: Option<StreamDirection> = None;
    let mut sections: [Option<Section>; MAX_STREAMS] = [const { None }; MAX_STREAMS];
    let mut section_count = 0;
    let mut in_media = false;
    let mut index = 0;
    let mut note_address = |a: &Address,
                            field: Field,
                            section: Option<usize>,
                            nat_aware: &mut bool,
                            too_many: &mut bool| {
        if !inbound && a.ipv4 == Some(public_ip) && public_ip != private_ip {
            *nat_aware = true;
        } else if a.ipv4 == Some(target_ip) && public_ip != private_ip {
            if own_count == MAX_ADDRESSES {
                *too_many = true;
            } else {
                own_addresses[own_count] = (a.range.clone(), field, section);
                own_count += 1;
            }
        }
    };
    for line in sdp::lines(buf, body) {
        match line.kind {
            b'm' => {
                in_media = true;
                let m = sdp::media(buf, &line);
                if section_count == MAX_STREAMS {
                    too_many = true;
                    facts.truncated = true;
                } else if let Some(m) = m {
                    sections[section_count] = Some(Section {
                        index,
                        kind: MediaKind::of(&buf[m.media]),
                        port: m.port,
                        port_number: m.port_number,
                        connection: None,
                        rtcp: None,
                        direction: None,
                    });
                    section_count += 1;
                } else {
                    // An m= line we cannot read: its section is not ours to touch.
                    too_many = true;
                }
                index += 1;
            }
            b'o' if !in_media => {
                if let Some(a) = sdp::origin_address(buf, &line) {
                    note_address(&a, Field::SdpOrigin, None, &mut nat_aware, &mut too_many);
                }
            }
            b'c' => {
                if let Some(a) = sdp::connection_address(buf, &line) {
                    let section = (in_media && section_count > 0).then(|| section_count - 1);
                    note_address(
                        &a,
                        Field::SdpConnection,
                        section,
                        &mut nat_aware,
                        &mut too_many,
                    );
                    let current = if in_media && section_count > 0 {
                        sections[section_count - 1].as_mut()
                    } else {
                        None
                    };
                    match (in_media, current) {
                        (true, Some(s)) => s.connection = Some(a),
                        (true, None) => {}
                        (false, _) => {
                            facts.session_address = a.ipv4;
                            session_connection = Some(a);
                        }
                    }
                }
            }
            b'a' => {
                let name = sdp::attribute_name(buf, &line).unwrap_or_default();
                if name == b"candidate" {
                    facts.has_ice = true;
                }
                let current = if in_media && section_count > 0 {
                    sections[section_count - 1].as_mut()
                } else {
                    None
                };
                if in_media && current.is_none() {
                    continue;
                }
                attribute(buf, &line, name, current, &mut session_direction);
            }
            _ => {}
        }
    }
    let rewrite = direction == Direction::Outbound
        && !leave_alone
        && !facts.has_ice
        && !nat_aware
        && !too_many;
    if rewrite && own_count > 0 {
        let public_text = Inline::ip(public_ip);
        for (range, field, _) in &own_addresses[..own_count] {
            edits.replace(buf, range.clone(), *field, public_text);
        }
    }
    let restore = inbound && !leave_alone && !facts.has_ice && !too_many && own_count > 0;
    // Inbound: which sections were restored, and whether every live stream on the
    // session-level address was.
    let mut restored = [false; MAX_STREAMS];
    let (mut n_restored, mut n_kept) = (0u8, 0u8);
    let mut session_all = true;
    for (i, slot) in sections.iter_mut().take(section_count).enumerate() {
        if let Some(s) = slot.take() {
            let on_session = s.connection.is_none();
            let live = s.port_number != 0;
            let done = finish(
                buf,
                s,
                &session_connection,
                session_direction,
                nat,
                ports,
                edits,
                rewrite,
                restore,
                &mut facts,
            );
            restored[i] = done == Some(true);
            match done {
                Some(true) => n_restored += 1,
                Some(false) => n_kept += 1,
                None => {}
            }
            if on_session && live && done != Some(true) {
                session_all = false;
            }
        }
    }
    if restore && n_restored > 0 {
        let private_text = Inline::ip(private_ip);
        for (range, field, section) in &own_addresses[..own_count] {
            let ok = match (field, section) {
                (Field::SdpOrigin, _) => n_kept == 0,
                (_, Some(i)) => restored[*i],
                (_, None) => session_all,
            };
            if ok {
                edits.replace(buf, range.clone(), *field, private_text);
            }
        }
    }
    Outcome {
        facts,
        nat_aware,
        restored: n_restored,
        kept: n_kept,
    }
}

// Kept out of the line loop on purpose: inlined there, it made the whole plan slower
// (about 600 more instructions per INVITE, measured with callgrind).
#[inline(never)]
fn attribute(
    buf: &[u8],
    line: &Line,
    name: &[u8],
    section: Option<&mut Section>,
    session_direction: &mut Option<StreamDirection>,
) {
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
    restore: bool,
    facts: &mut Sdp,
) -> Option<bool> {
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
    let mut restored = None;
    if restore && address == Some(*nat.public.ip()) && port != 0 {
        restored = Some(restore_stream(buf, &s, rtcp_port, nat, ports, edits));
    }
    facts.push(stream);
    restored
}

/// Inbound: gives a stream on the public address back its private ports if the ALG
/// mapped them for this phone; returns whether it did.
#[inline(never)]
fn restore_stream(
    buf: &[u8],
    s: &Section,
    rtcp_port: u16,
    nat: &Nat,
    ports: &mut dyn PortMap,
    edits: &mut Edits,
) -> bool {
    let private_ip = *nat.private.ip();
    let Some(private_rtp) = ports.mapped(private_ip, s.port_number) else {
        return false;
    };
    edits.replace(
        buf,
        s.port.clone(),
        Field::SdpMediaPort,
        Inline::number(u32::from(private_rtp)),
    );
    if let Some(r) = &s.rtcp {
        let rtcp_ip = r
            .address
            .as_ref()
            .map_or(Some(*nat.public.ip()), |a| a.ipv4);
        if rtcp_ip == Some(*nat.public.ip()) {
            if let Some(p) = ports.mapped(private_ip, rtcp_port) {
                edits.replace(
                    buf,
                    r.port.clone(),
                    Field::SdpRtcpPort,
                    Inline::number(u32::from(p)),
                );
                if let Some(a) = &r.address {
                    edits.replace(
                        buf,
                        a.range.clone(),
                        Field::SdpRtcpAddress,
                        Inline::ip(private_ip),
                    );
                }
            }
        }
    }
    true
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
