//! Zero-copy views of the SDP lines (RFC 8866) that carry addresses and ports:
//!
//! ```text
//! o=alice 2890844526 2890844526 IN IP4 10.0.0.2     origin:     address = 6th field
//! c=IN IP4 10.0.0.2/127                             connection: address before '/'
//! m=audio 49170/2 RTP/AVP 0                         media:      kind, port (before '/')
//! a=rtcp:53020 IN IP4 10.0.0.2                      rtcp:       port, optional address
//! ```
//! Lines end with CRLF or LF. Anything that does not have the expected shape yields
//! `None` and is left alone by the rewriter.

use super::text::{eq_lower, find_lf, parse_ipv4, parse_port, run_len, starts_with_lower};
use core::ops::Range;
use std::net::Ipv4Addr;

/// One `<type>=<value>` line of an SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: u8,
    /// The value after `x=`, without the line end.
    pub value: Range<usize>,
}

/// Iterates the lines of an SDP body in `buf[body]`.
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

pub fn lines(buf: &[u8], body: Range<usize>) -> Lines<'_> {
    Lines {
        buf,
        pos: body.start,
        end: body.end,
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    #[inline(always)]
    fn next(&mut self) -> Option<Line> {
        while self.pos < self.end {
            let start = self.pos;
            let lf = find_lf(&self.buf[start..self.end]).map(|i| start + i);
            let (content_end, next) = match lf {
                Some(lf) if lf > start && self.buf[lf - 1] == b'\r' => (lf - 1, lf + 1),
                Some(lf) => (lf, lf + 1),
                None => (self.end, self.end),
            };
            self.pos = next;
            if content_end - start >= 2 && self.buf[start + 1] == b'=' {
                return Some(Line {
                    kind: self.buf[start],
                    value: start + 2..content_end,
                });
            }
        }
        None
    }
}

/// Splits on single spaces, yielding the range of each field (empty fields included so
/// that a malformed line with double spaces does not shift field numbers silently).
fn fields(buf: &[u8], r: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = r.start;
    let end = r.end;
    let mut done = r.start > r.end;
    core::iter::from_fn(move || {
        if done {
            return None;
        }
        let start = pos;
        let len = run_len(&buf[start..end], |b| b != b' ');
        pos = start + len + 1;
        if start + len >= end {
            done = true;
        }
        Some(start..start + len)
    })
}

/// The address of `IN IP4 <addr>[/...]` starting at field `net` of `value`.
fn ipv4_address(buf: &[u8], mut f: impl Iterator<Item = Range<usize>>) -> Option<Address> {
    let net = f.next()?;
    let family = f.next()?;
    let addr = f.next()?;
    if !eq_lower(&buf[net], b"in") {
        return None;
    }
    let fam = &buf[family];
    let a = &buf[addr.clone()];
    let len = run_len(a, |b| b != b'/');
    let range = addr.start..addr.start + len;
    if eq_lower(fam, b"ip4") {
        Some(Address {
            range: range.clone(),
            ipv4: parse_ipv4(&buf[range]),
        })
    } else {
        Some(Address { range, ipv4: None })
    }
}

/// An address field. `ipv4` is set only for a literal IPv4 address of family `IP4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub range: Range<usize>,
    pub ipv4: Option<Ipv4Addr>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
pub fn origin_address(buf: &[u8], line: &Line) -> Option<Address> {
    if line.kind != b'o' {
        return None;
    }
    let mut f = fields(buf, line.value.clone());
    f.next()?;
    f.next()?;
    f.next()?;
    ipv4_address(buf, f)
}

/// `c=<nettype> <addrtype> <connection-address>`
pub fn connection_address(buf: &[u8], line: &Line) -> Option<Address> {
    if line.kind != b'c' {
        return None;
    }
    ipv4_address(buf, fields(buf, line.value.clone()))
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub media: Range<usize>,
    pub port: Range<usize>,
    pub port_number: u16,
    pub proto: Range<usize>,
}

pub fn media(buf: &[u8], line: &Line) -> Option<Media> {
    if line.kind != b'm' {
        return None;
    }
    let mut f = fields(buf, line.value.clone());
    let media = f.next().filter(|r| !r.is_empty())?;
    let port_field = f.next()?;
    let proto = f.next()?;
    let p = &buf[port_field.clone()];
    let len = run_len(p, |b| b != b'/');
    let port = port_field.start..port_field.start + len;
    let port_number = parse_port(&buf[port.clone()])?;
    Some(Media {
        media,
        port,
        port_number,
        proto,
    })
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    pub port: Range<usize>,
    pub port_number: u16,
    pub address: Option<Address>,
}

pub fn rtcp(buf: &[u8], line: &Line) -> Option<Rtcp> {
    if line.kind != b'a' || !starts_with_lower(&buf[line.value.clone()], b"rtcp:") {
        return None;
    }
    let start = line.value.start + 5;
    let mut f = fields(buf, start..line.value.end);
    let port = f.next()?;
    let port_number = parse_port(&buf[port.clone()])?;
    let address = match f.next() {
        None => None,
        Some(net) => Some(ipv4_address(buf, core::iter::once(net).chain(f))?),
    };
    Some(Rtcp {
        port,
        port_number,
        address,
    })
}

/// The name of an attribute line (`a=<name>[:<value>]`).
pub fn attribute_name<'a>(buf: &'a [u8], line: &Line) -> Option<&'a [u8]> {
    if line.kind != b'a' {
        return None;
    }
    let v = &buf[line.value.clone()];
    Some(&v[..run_len(v, |b| b != b':')])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8], r: Range<usize>) -> &str {
        core::str::from_utf8(&b[r]).unwrap()
    }

    const BODY: &[u8] = b"v=0\r\no=alice 1 2 IN IP4 10.0.0.2\r\nc=IN IP4 10.0.0.2/127\nm=audio 49170/2 RTP/AVP 0 8\r\na=rtcp:53020 IN IP4 10.0.0.2\r\na=sendrecv\r\nbroken\r\nm=video 0 RTP/AVP 31";

    #[test]
    fn walks_lines_with_mixed_endings() {
        let kinds: Vec<u8> = lines(BODY, 0..BODY.len()).map(|l| l.kind).collect();
        assert_eq!(kinds, b"vocmaam".to_vec());
    }

    #[test]
    fn typed_lines() {
        let l: Vec<Line> = lines(BODY, 0..BODY.len()).collect();
        let o = origin_address(BODY, &l[1]).unwrap();
        assert_eq!(
            (s(BODY, o.range), o.ipv4),
            ("10.0.0.2", Some(Ipv4Addr::new(10, 0, 0, 2)))
        );
        let c = connection_address(BODY, &l[2]).unwrap();
        assert_eq!(s(BODY, c.range), "10.0.0.2");
        let m = media(BODY, &l[3]).unwrap();
        assert_eq!(
            (s(BODY, m.media), s(BODY, m.port), m.port_number),
            ("audio", "49170", 49170)
        );
        let r = rtcp(BODY, &l[4]).unwrap();
        assert_eq!((s(BODY, r.port), r.port_number), ("53020", 53020));
        assert_eq!(r.address.unwrap().ipv4, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(attribute_name(BODY, &l[5]), Some(&b"sendrecv"[..]));
        assert_eq!(media(BODY, &l[6]).unwrap().port_number, 0);
        assert_eq!(origin_address(BODY, &l[2]), None);
    }

    #[test]
    fn leaves_other_shapes() {
        let b = b"c=IN IP6 2001:db8::1\r\nc=IN IP4 pbx.example.com\r\nm=audio x RTP/AVP 0\r\na=rtcp:9\r\na=rtcp:abc\r\nc=IN  IP4 1.2.3.4";
        let l: Vec<Line> = lines(b, 0..b.len()).collect();
        let c6 = connection_address(b, &l[0]).unwrap();
        assert_eq!((s(b, c6.range), c6.ipv4), ("2001:db8::1", None));
        assert_eq!(connection_address(b, &l[1]).unwrap().ipv4, None);
        assert_eq!(media(b, &l[2]), None);
        assert_eq!(rtcp(b, &l[3]).unwrap().address, None);
        assert_eq!(rtcp(b, &l[4]), None);
        assert_eq!(
            connection_address(b, &l[5]).unwrap().ipv4,
            None,
            "double space is not an IP4 address field"
        );
    }
}
