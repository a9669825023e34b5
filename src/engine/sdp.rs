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
use std::net::{Ipv4Addr, SocketAddrV4};

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
    let inbound = direction == Direction::Inbound;
    let mut r = Reader::new(inbound, nat);
    for line in sdp::lines(buf, body) {
        r.line(buf, &line);
    }
    let ours = !leave_alone && !r.facts.has_ice && !r.too_many;
    let rewrite = !inbound && ours && !r.nat_aware;
    if rewrite {
        let public_text = Inline::ip(*nat.public.ip());
        for (range, field, _) in r.own() {
            edits.replace(buf, range.clone(), *field, public_text);
        }
    }
    let restore = inbound && ours && r.own_count > 0;
    let ends = Ends {
        buf,
        nat,
        ports,
        edits,
        rewrite,
        restore,
    };
    let done = r.finish_sections(ends);
    if restore && done.restored > 0 {
        let private_text = Inline::ip(*nat.private.ip());
        for (range, field, section) in r.own() {
            let ok = match (field, section) {
                (Field::SdpOrigin, _) => done.kept == 0,
                (_, Some(i)) => done.sections[*i],
                (_, None) => done.session_all,
            };
            if ok {
                edits.replace(buf, range.clone(), *field, private_text);
            }
        }
    }
    Outcome {
        facts: r.facts,
        nat_aware: r.nat_aware,
        restored: done.restored,
        kept: done.kept,
    }
}

/// One pass over an SDP's lines: what it has collected so far.
struct Reader {
    inbound: bool,
    public_ip: Ipv4Addr,
    /// The address whose occurrences are noted: outbound the sender's private address,
    /// inbound the public address. None when the two are the same (nothing to map).
    target_ip: Option<Ipv4Addr>,
    facts: Sdp,
    /// Outbound: the SDP already names the public address.
    nat_aware: bool,
    /// More streams or addresses than are kept, or an `m=` line that cannot be read:
    /// the SDP is left alone.
    too_many: bool,
    /// The `o=`/`c=` addresses that are [`Reader::target_ip`], with the section a
    /// media-level `c=` belongs to.
    own_addresses: [(Range<usize>, Field, Option<usize>); MAX_ADDRESSES],
    own_count: usize,
    session_connection: Option<Address>,
    session_direction: Option<StreamDirection>,
    sections: [Option<Section>; MAX_STREAMS],
    section_count: usize,
    /// After the first `m=` line.
    in_media: bool,
    /// Index of the next `m=` line.
    index: usize,
}

/// What the end of the body needs to finish the streams.
struct Ends<'e> {
    buf: &'e [u8],
    nat: &'e Nat,
    ports: &'e mut dyn PortMap,
    edits: &'e mut Edits,
    /// Outbound: the sender's addresses and ports are rewritten.
    rewrite: bool,
    /// Inbound: streams on the public address may be restored.
    restore: bool,
}

/// Inbound: which sections were restored, and whether every live stream on the
/// session-level address was.
struct Finished {
    sections: [bool; MAX_STREAMS],
    restored: u8,
    kept: u8,
    session_all: bool,
}

impl Reader {
    fn new(inbound: bool, nat: &Nat) -> Reader {
        let (private_ip, public_ip) = (*nat.private.ip(), *nat.public.ip());
        let target_ip = if inbound { public_ip } else { private_ip };
        Reader {
            inbound,
            public_ip,
            target_ip: (public_ip != private_ip).then_some(target_ip),
            facts: Sdp::default(),
            nat_aware: false,
            too_many: false,
            own_addresses: [const { (0..0, Field::SdpOrigin, None) }; MAX_ADDRESSES],
            own_count: 0,
            session_connection: None,
            session_direction: None,
            sections: [const { None }; MAX_STREAMS],
            section_count: 0,
            in_media: false,
            index: 0,
        }
    }

    fn own(&self) -> &[(Range<usize>, Field, Option<usize>)] {
        &self.own_addresses[..self.own_count]
    }

    /// The section being read, if the line is in one.
    fn current(&mut self) -> Option<&mut Section> {
        if self.in_media && self.section_count > 0 {
            self.sections[self.section_count - 1].as_mut()
        } else {
            None
        }
    }

    fn line(&mut self, buf: &[u8], line: &Line) {
        match line.kind {
            b'm' => self.media(buf, line),
            b'o' if !self.in_media => {
                if let Some(a) = sdp::origin_address(buf, line) {
                    self.note_address(&a, Field::SdpOrigin, None);
                }
            }
            b'c' => {
                if let Some(a) = sdp::connection_address(buf, line) {
                    self.connection(a);
                }
            }
            b'a' => {
                let name = sdp::attribute_name(buf, line).unwrap_or_default();
                if name == b"candidate" {
                    self.facts.has_ice = true;
                }
                let in_media = self.in_media;
                let mut session_direction = self.session_direction;
                let current = self.current();
                if in_media && current.is_none() {
                    return;
                }
                attribute(buf, line, name, current, &mut session_direction);
                self.session_direction = session_direction;
            }
            _ => {}
        }
    }

    /// An `m=` line opens a section (up to [`MAX_STREAMS`]).
    fn media(&mut self, buf: &[u8], line: &Line) {
        self.in_media = true;
        let m = sdp::media(buf, line);
        if self.section_count == MAX_STREAMS {
            self.too_many = true;
            self.facts.truncated = true;
        } else if let Some(m) = m {
            self.sections[self.section_count] = Some(Section {
                index: self.index,
                kind: MediaKind::of(&buf[m.media]),
                port: m.port,
                port_number: m.port_number,
                connection: None,
                rtcp: None,
                direction: None,
            });
            self.section_count += 1;
        } else {
            // An m= line we cannot read: its section is not ours to touch.
            self.too_many = true;
        }
        self.index += 1;
    }

    /// A `c=` line: the session's address, or the current section's.
    fn connection(&mut self, a: Address) {
        let section = (self.in_media && self.section_count > 0).then(|| self.section_count - 1);
        self.note_address(&a, Field::SdpConnection, section);
        let in_media = self.in_media;
        match (in_media, self.current()) {
            (true, Some(s)) => s.connection = Some(a),
            (true, None) => {}
            (false, _) => {
                self.facts.session_address = a.ipv4;
                self.session_connection = Some(a);
            }
        }
    }

    /// Notes an `o=`/`c=` address: the public one outbound (the sender is NAT-aware),
    /// or one to rewrite or restore.
    fn note_address(&mut self, a: &Address, field: Field, section: Option<usize>) {
        let Some(target_ip) = self.target_ip else {
            return;
        };
        if !self.inbound && a.ipv4 == Some(self.public_ip) {
            self.nat_aware = true;
        } else if a.ipv4 == Some(target_ip) {
            if self.own_count == MAX_ADDRESSES {
                self.too_many = true;
            } else {
                self.own_addresses[self.own_count] = (a.range.clone(), field, section);
                self.own_count += 1;
            }
        }
    }

    /// Finishes every section into a stream of the facts, rewriting or restoring it.
    fn finish_sections(&mut self, mut ends: Ends<'_>) -> Finished {
        let mut done = Finished {
            sections: [false; MAX_STREAMS],
            restored: 0,
            kept: 0,
            session_all: true,
        };
        for i in 0..self.section_count {
            let Some(s) = self.sections[i].take() else {
                continue;
            };
            let on_session = s.connection.is_none();
            let live = s.port_number != 0;
            let restored = self.finish(&mut ends, s);
            done.sections[i] = restored == Some(true);
            match restored {
                Some(true) => done.restored += 1,
                Some(false) => done.kept += 1,
                None => {}
            }
            if on_session && live && restored != Some(true) {
                done.session_all = false;
            }
        }
        done
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

impl Reader {
    /// One section's stream: pushed to the facts; outbound its ports mapped and
    /// rewritten (when `ends.rewrite`), inbound restored (when `ends.restore`). Returns
    /// whether a stream on the public address was restored (None: not on it).
    fn finish(&mut self, ends: &mut Ends<'_>, s: Section) -> Option<bool> {
        let connection = s.connection.as_ref().or(self.session_connection.as_ref());
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
            direction: s.direction.or(self.session_direction).unwrap_or_default(),
            mapped: false,
            public_port: port,
            public_rtcp_port: rtcp_port,
        };
        let nat = ends.nat;
        if ends.rewrite && address == Some(*nat.private.ip()) && port != 0 {
            let (public_rtp, public_rtcp) = map_stream(ends, &s, rtcp_port);
            stream.mapped = true;
            stream.public_port = public_rtp;
            stream.public_rtcp_port = public_rtcp;
        }
        let mut restored = None;
        if ends.restore && address == Some(*nat.public.ip()) && port != 0 {
            restored = Some(restore_stream(
                ends.buf, &s, rtcp_port, nat, ends.ports, ends.edits,
            ));
        }
        self.facts.push(stream);
        restored
    }
}

/// Outbound: asks the port map for the public ports of one of the sender's streams
/// and rewrites its `m=` port and its `a=rtcp` (port, and address when it is the
/// sender's). Returns the public RTP and RTCP ports.
fn map_stream(ends: &mut Ends<'_>, s: &Section, rtcp_port: u16) -> (u16, u16) {
    let (buf, nat) = (ends.buf, ends.nat);
    let private_ip = *nat.private.ip();
    let rtp = MediaRequest {
        index: s.index,
        kind: s.kind,
        role: Role::Rtp,
        private: SocketAddrV4::new(private_ip, s.port_number),
        required: None,
    };
    let public_rtp = ends.ports.public_port(&rtp);
    ends.edits.replace(
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
    if rtcp_ip != Some(private_ip) {
        return (public_rtp, rtcp_port);
    }
    let required = s.rtcp.is_none().then(|| public_rtp.wrapping_add(1));
    let request = MediaRequest {
        role: Role::Rtcp,
        private: SocketAddrV4::new(private_ip, rtcp_port),
        required,
        ..rtp
    };
    let public_rtcp = ends.ports.public_port(&request);
    if let Some(r) = &s.rtcp {
        ends.edits.replace(
            buf,
            r.port.clone(),
            Field::SdpRtcpPort,
            Inline::number(u32::from(public_rtcp)),
        );
        if let Some(a) = &r.address {
            rewrite_address(buf, a, true, nat, Field::SdpRtcpAddress, ends.edits);
        }
    }
    (public_rtp, public_rtcp)
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
