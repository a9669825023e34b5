//! Header rules: one pass over the header fields that records facts and plans the
//! address edits of the top Via, Contact, Record-Route (outbound) and, inbound, the
//! candidates for restoration (the Request-URI of a request; the top Via and Contact of
//! a response; Route/Record-Route) that carry this flow's public mapping. Which of the
//! candidates are kept is decided from the memory of the outbound side
//! (`super::restore`). From/To are never rewritten.

use super::edit::{Edits, Field};
use super::facts::{Contact, Facts};
use super::{Direction, Nat};
use crate::wire::sip::{FrameError, Framer, Name};
use crate::wire::text::{
    eq_lower, parse_ipv4, parse_port, parse_u32, starts_with_lower, trim, Inline,
};
use crate::wire::uri::{self, HostPort, Ipv4HostPort, Scheme, DEFAULT_PORT};
use crate::wire::via::{SentBy, Transport, Via};
use core::ops::Range;
use std::net::Ipv4Addr;

/// What the header pass learned that the body pass and the caller need.
pub(super) struct Scan {
    /// Outbound: the sender already writes the public address somewhere.
    pub nat_aware: bool,
    /// SIPS Request-URI or TLS top Via.
    pub secure: bool,
    /// The body range if it is an SDP body whose length is known and complete.
    pub sdp_body: Option<Range<usize>>,
    /// The Content-Length value range and its declared number.
    pub content_length: Option<(Range<usize>, u32)>,
    /// The top Via's sent-by (`host[:port]`) as written.
    pub sent_by: Option<Range<usize>>,
}

/// How an `ip[:port]` token that refers to one side of the mapping is rewritten to the
/// other side. The port is written explicitly iff the token had one or the new port is
/// not the default.
fn replacement(ip: Ipv4Addr, port: u16, had_port: bool) -> Inline {
    let write_port = had_port || port != DEFAULT_PORT;
    Inline::host_port(ip, write_port.then_some(port))
}

/// Plans the edit of one `host[:port]` (given as ranges) according to the direction.
/// Returns whether the token carried the public IP (outbound: a NAT-aware sender).
fn map_host_port(
    buf: &[u8],
    host: Range<usize>,
    port: Option<Range<usize>>,
    direction: Direction,
    nat: &Nat,
    field: Field,
    edits: &mut Edits,
) -> bool {
    Ipv4HostPort::read(buf, host, port)
        .is_some_and(|t| map_token(buf, &t, direction, nat, field, edits))
}

/// [`map_host_port`] for a token already read.
fn map_token(
    buf: &[u8],
    token: &Ipv4HostPort,
    direction: Direction,
    nat: &Nat,
    field: Field,
    edits: &mut Edits,
) -> bool {
    let Ipv4HostPort { span, ip, port } = token;
    let (ip, written_port) = (*ip, *port);
    let effective_port = written_port.unwrap_or(DEFAULT_PORT);
    match direction {
        Direction::Outbound => {
            if ip == *nat.public.ip() && ip != *nat.private.ip() {
                return true;
            }
            if ip != *nat.private.ip() {
                return false;
            }
            if effective_port == nat.private.port() {
                let with = replacement(*nat.public.ip(), nat.public.port(), written_port.is_some());
                edits.replace_mapping(buf, span.clone(), field, with);
            } else {
                // The sender's own address, but not the port this flow is mapped from:
                // only the address can be translated.
                let with = Inline::host_port(*nat.public.ip(), written_port);
                edits.replace(buf, span.clone(), field, with);
            }
            false
        }
        Direction::Inbound => {
            if ip == *nat.public.ip() && effective_port == nat.public.port() {
                let with = replacement(
                    *nat.private.ip(),
                    nat.private.port(),
                    written_port.is_some(),
                );
                edits.replace(buf, span.clone(), field, with);
            }
            false
        }
    }
}

fn map_uri(
    buf: &[u8],
    hp: &HostPort,
    direction: Direction,
    nat: &Nat,
    field: Field,
    edits: &mut Edits,
) -> bool {
    if hp.scheme != Scheme::Sip {
        return false;
    }
    map_host_port(
        buf,
        hp.host.clone(),
        hp.port.clone(),
        direction,
        nat,
        field,
        edits,
    )
}

/// The value of parameter `name` among the `;params` in `r`.
fn param<'a, const N: usize>(buf: &'a [u8], r: Range<usize>, name: &[u8; N]) -> Option<&'a [u8]> {
    uri::params(buf, r)
        .find(|p| eq_lower(&buf[p.name.clone()], name))
        .map(|p| p.value.map_or(&buf[0..0], |v| &buf[v]))
}

/// Where the parameters of an entry begin: after its URI (and the `>` closing it).
fn after_uri(buf: &[u8], uri: &Range<usize>) -> usize {
    if buf.get(uri.end) == Some(&b'>') {
        uri.end + 1
    } else {
        uri.end
    }
}

/// The header pass: reads the Request-URI, then each header field in turn, then where
/// the SDP body is.
pub(super) fn scan<'a>(
    framer: &mut Framer<'a>,
    direction: Direction,
    nat: &Nat,
    facts: &mut Facts<'a>,
    edits: &mut Edits,
) -> Result<Scan, FrameError> {
    let buf = framer.buf();
    let mut pass = Pass {
        buf,
        direction,
        nat,
        response: framer.status().is_some(),
        facts,
        edits,
        out: Scan {
            nat_aware: false,
            secure: false,
            sdp_body: None,
            content_length: None,
            sent_by: None,
        },
        is_sdp: false,
        top_via_seen: false,
    };
    if let Some(uri) = framer.request_uri() {
        pass.request_uri(uri);
    }
    while let Some(h) = framer.next_header()? {
        pass.header(Name::of(&buf[h.name.clone()]), h.value.clone());
    }
    let (body, terminated) = framer.body();
    let mut out = pass.out;
    if pass.is_sdp && terminated {
        out.sdp_body = sdp_body(body, &out.content_length);
    }
    Ok(out)
}

/// The SDP body's range: the body, or as much of it as Content-Length says; None when
/// Content-Length says more than there is (truncated: the body is left alone).
fn sdp_body(
    body: Range<usize>,
    content_length: &Option<(Range<usize>, u32)>,
) -> Option<Range<usize>> {
    let available = body.len();
    match content_length {
        Some((_, n)) if *n as usize > available => None,
        Some((_, n)) => Some(body.start..body.start + *n as usize),
        None => Some(body),
    }
}

/// Which field an address header is, and whether its addresses are rewritten in this
/// direction. From/To are never rewritten. Towards the LAN a Contact is restored only
/// in a response (a REGISTER's 2xx lists the phone's bindings); a request's Contact is
/// the far end's.
fn address_rule(name: Name, direction: Direction, response: bool) -> (Field, bool) {
    let field = match name {
        Name::Contact => Field::Contact,
        Name::RecordRoute => Field::RecordRoute,
        Name::Route => Field::Route,
        _ => Field::To,
    };
    let rewrite_here = match direction {
        Direction::Outbound => matches!(name, Name::Contact | Name::RecordRoute),
        Direction::Inbound => match name {
            Name::Contact => response,
            Name::To => false,
            _ => true,
        },
    };
    (field, rewrite_here)
}

/// One header pass over a message: where it reads, and what it has learned so far.
struct Pass<'a, 'p> {
    buf: &'a [u8],
    direction: Direction,
    nat: &'p Nat,
    response: bool,
    facts: &'p mut Facts<'a>,
    edits: &'p mut Edits,
    out: Scan,
    /// The Content-Type is SDP.
    is_sdp: bool,
    top_via_seen: bool,
}

impl<'a> Pass<'a, '_> {
    /// A request's URI: SIPS marks the message secure; towards the LAN, the URI may
    /// carry the public mapping.
    fn request_uri(&mut self, uri: Range<usize>) {
        let buf = self.buf;
        match uri::scheme(buf, uri.clone()) {
            Scheme::Sips => self.out.secure = true,
            Scheme::Sip if self.direction == Direction::Inbound => {
                if let Some(hp) = uri::host_port(buf, uri) {
                    map_uri(
                        buf,
                        &hp,
                        self.direction,
                        self.nat,
                        Field::RequestUri,
                        self.edits,
                    );
                }
            }
            _ => {}
        }
    }

    /// One header field.
    fn header(&mut self, name: Name, value: Range<usize>) {
        let buf = self.buf;
        match name {
            Name::Via if !self.top_via_seen => {
                self.top_via_seen = true;
                self.top_via(value);
            }
            Name::Contact | Name::RecordRoute | Name::Route | Name::To => {
                self.address_list(name, value)
            }
            Name::CallId => self.facts.call_id = Some(&buf[value]),
            Name::CSeq => self.cseq(value),
            Name::Expires => self.facts.expires = parse_u32(&buf[value]),
            Name::ContentLength if self.out.content_length.is_none() => {
                if let Some(n) = parse_u32(&buf[value.clone()]) {
                    self.out.content_length = Some((value, n));
                }
            }
            Name::ContentType => self.is_sdp = starts_with_lower(&buf[value], b"application/sdp"),
            _ => {}
        }
    }

    /// The top Via: the transport, the branch and sent-by, and its address edits.
    fn top_via(&mut self, value: Range<usize>) {
        let (buf, direction) = (self.buf, self.direction);
        let Some(top) = SentBy::parse(buf, value.clone()) else {
            return;
        };
        self.facts.transport = Some(top.transport);
        if top.transport == Transport::Tls {
            self.out.secure = true;
            return;
        }
        // Towards the LAN, a request's top Via is the far end's.
        if direction == Direction::Inbound && !self.response {
            return;
        }
        // The branch and sent-by key the phone's client transactions: read in its
        // requests (the branch alone) and in the responses to them (with
        // `received`/`rport`, which may need restoring).
        let via = match direction {
            Direction::Inbound => Some(top.via(buf, value.end)),
            Direction::Outbound => None,
        };
        let branch = match &via {
            Some(v) => v.branch.clone(),
            None if !self.response => top.branch(buf, value.end),
            None => None,
        };
        if via.is_some() || !self.response {
            self.facts.branch = branch.map(|b| &buf[b]);
            self.out.sent_by = Some(top.span());
        }
        self.out.nat_aware |= map_host_port(
            buf,
            top.host.clone(),
            top.port.clone(),
            direction,
            self.nat,
            Field::ViaSentBy,
            self.edits,
        );
        if let (Direction::Inbound, Some(via)) = (direction, &via) {
            restore_via_params(buf, via, self.nat, self.edits);
        }
    }

    /// Contact, Record-Route, Route and To: what they tell, and their address edits.
    fn address_list(&mut self, name: Name, value: Range<usize>) {
        let buf = self.buf;
        let (field, rewrite_here) = address_rule(name, self.direction, self.response);
        // Outbound Route: nothing to learn, nothing to change.
        if !rewrite_here && !matches!(name, Name::Contact | Name::To) {
            return;
        }
        for (n, entry) in uri::entries(buf, value).enumerate() {
            if name == Name::Contact && &buf[entry.clone()] == b"*" {
                self.facts.contact_star = true;
                continue;
            }
            let Some(u) = uri::entry_uri(buf, entry.clone()) else {
                continue;
            };
            let params = after_uri(buf, &u)..entry.end;
            if name == Name::To && n == 0 {
                self.facts.to_uri = Some(&buf[u.clone()]);
                self.facts.to_tag = param(buf, params.clone(), b"tag");
                if !rewrite_here {
                    break;
                }
            }
            let Some(hp) = uri::host_port(buf, u) else {
                continue;
            };
            if name == Name::Contact {
                self.contact(&hp, params, rewrite_here);
            } else if rewrite_here {
                map_uri(buf, &hp, self.direction, self.nat, field, self.edits);
            }
        }
    }

    /// One Contact entry (its URI's host and port, and the range of its parameters):
    /// recorded in the facts, and its address rewritten when `rewrite_here`.
    fn contact(&mut self, hp: &HostPort, params: Range<usize>, rewrite_here: bool) {
        let buf = self.buf;
        let expires = param(buf, params, b"expires").and_then(parse_u32);
        let token = hp.ipv4(buf);
        let address = token.as_ref().map(Ipv4HostPort::endpoint);
        self.facts.push_contact(Contact { address, expires });
        if let (Some(t), Scheme::Sip, true) = (&token, hp.scheme, rewrite_here) {
            let (direction, nat) = (self.direction, self.nat);
            self.out.nat_aware |= map_token(buf, t, direction, nat, Field::Contact, self.edits);
        }
    }

    /// CSeq: its number and its method.
    fn cseq(&mut self, value: Range<usize>) {
        let buf = self.buf;
        let v = &buf[value.clone()];
        let digits = v
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        self.facts.cseq = parse_u32(&v[..digits]);
        let rest = trim(buf, value.start + digits..value.end);
        self.facts.cseq_method = (!rest.is_empty()).then(|| &buf[rest]);
    }
}

/// In a message towards the LAN, the top Via's `received`/`rport` carry what the far
/// end saw: the public mapping. Give the phone back its own view.
fn restore_via_params(buf: &[u8], via: &Via, nat: &Nat, edits: &mut Edits) {
    let received_public = via
        .received
        .as_ref()
        .is_some_and(|r| parse_ipv4(&buf[r.clone()]) == Some(*nat.public.ip()));
    if let (true, Some(r)) = (received_public, &via.received) {
        edits.replace(
            buf,
            r.clone(),
            Field::ViaReceived,
            Inline::ip(*nat.private.ip()),
        );
    }
    let sent_by_public = via.host_ipv4(buf) == Some(*nat.public.ip());
    if let Some(r) = &via.rport {
        if (received_public || sent_by_public)
            && parse_port(&buf[r.clone()]) == Some(nat.public.port())
        {
            edits.replace(
                buf,
                r.clone(),
                Field::ViaRport,
                Inline::number(u32::from(nat.private.port())),
            );
        }
    }
}
