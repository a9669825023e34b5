//! Zero-copy views of the parts of header values the ALG cares about: the entries of a
//! comma-separated list (`Contact: a, b`), the URI inside a name-addr or addr-spec, and
//! the `host[:port]` of a `sip:`/`sips:` URI.
//!
//! ```text
//! "Bob" <sip:bob@10.0.0.2:5060;transport=udp>;expires=60
//!        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^            uri
//!                ^^^^^^^^ ^^^^                            host, port
//! ```

use super::text::{is_lws, parse_ipv4, parse_port, starts_with_lower};
use core::ops::Range;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Splits a header value into its comma-separated entries, honouring quoted strings and
/// `<...>` (where commas are literal). Entries are trimmed; empty ones are skipped.
pub struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

pub fn entries(buf: &[u8], value: Range<usize>) -> Entries<'_> {
    Entries {
        buf,
        pos: value.start,
        end: value.end,
    }
}

/// Where the list entry that `from` is in ends: the first comma at or after `from`
/// that is outside a quoted string and outside `<...>`, else `end`.
pub fn entry_end(buf: &[u8], from: usize, end: usize) -> usize {
    let mut i = from;
    let mut in_angle = false;
    loop {
        // Ordinary bytes are skipped in one tight scan.
        i += buf[i..end]
            .iter()
            .position(|b| matches!(b, b'"' | b'<' | b'>' | b','))
            .unwrap_or(end - i);
        if i >= end {
            return end;
        }
        match buf[i] {
            b'"' => {
                i += 1;
                while i < end && buf[i] != b'"' {
                    i += if buf[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(end);
            }
            b'<' => {
                in_angle = true;
                i += 1;
            }
            b'>' => {
                in_angle = false;
                i += 1;
            }
            _ if in_angle => i += 1,
            _ => return i,
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        while self.pos < self.end {
            let start = self.pos;
            let i = entry_end(self.buf, start, self.end);
            self.pos = i + 1;
            let r = super::text::trim(self.buf, start..i);
            if !r.is_empty() {
                return Some(r);
            }
        }
        None
    }
}

/// The URI of a name-addr (`"x" <uri>;params`) or addr-spec (`uri;params`) entry.
/// For an addr-spec, `;` starts header parameters, so the URI ends there.
pub fn entry_uri(buf: &[u8], entry: Range<usize>) -> Option<Range<usize>> {
    let e = &buf[entry.clone()];
    // Find '<' outside a quoted string.
    let (mut in_quote, mut escaped) = (false, false);
    for (i, &b) in e.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => {
                let close = e[i + 1..].iter().position(|&c| c == b'>')?;
                return Some(entry.start + i + 1..entry.start + i + 1 + close);
            }
            _ => {}
        }
    }
    if in_quote {
        return None;
    }
    let end = e
        .iter()
        .position(|&b| b == b';' || is_lws(b))
        .unwrap_or(e.len());
    Some(entry.start..entry.start + end)
}

/// URI schemes that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Other,
}

/// The port a `sip:` URI or a Via means when it names none (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;

/// The host and optional port of a `sip:`/`sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub scheme: Scheme,
    pub host: Range<usize>,
    pub port: Option<Range<usize>>,
}

/// An IPv4 `host[:port]` as written: its whole range, the address, the explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4HostPort {
    pub span: Range<usize>,
    pub ip: Ipv4Addr,
    pub port: Option<u16>,
}

impl Ipv4HostPort {
    /// `None` unless `host` is an IPv4 literal and the port, if there is one, a number
    /// in 0..=65535 (a malformed port is never mistaken for the default).
    pub fn read(buf: &[u8], host: Range<usize>, port: Option<Range<usize>>) -> Option<Self> {
        let ip = parse_ipv4(&buf[host.clone()])?;
        let (end, port) = match port {
            None => (host.end, None),
            Some(p) => (p.end, Some(parse_port(&buf[p])?)),
        };
        Some(Ipv4HostPort {
            span: host.start..end,
            ip,
            port,
        })
    }

    /// The address and the port it means ([`DEFAULT_PORT`] when none is written).
    pub fn endpoint(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.port.unwrap_or(DEFAULT_PORT))
    }
}

impl HostPort {
    /// The host and port as an IPv4 address and port number, if they are that.
    pub fn ipv4(&self, buf: &[u8]) -> Option<Ipv4HostPort> {
        Ipv4HostPort::read(buf, self.host.clone(), self.port.clone())
    }

    /// The whole `host[:port]` range.
    pub fn span(&self) -> Range<usize> {
        self.host.start..self.port.as_ref().map_or(self.host.end, |p| p.end)
    }
}

/// The scheme of a URI.
pub fn scheme(buf: &[u8], uri: Range<usize>) -> Scheme {
    let u = &buf[uri];
    if starts_with_lower(u, b"sip:") {
        Scheme::Sip
    } else if starts_with_lower(u, b"sips:") {
        Scheme::Sips
    } else {
        Scheme::Other
    }
}

/// Locates `host[:port]` in a URI. Returns the scheme alone (with empty ranges) for
/// schemes other than sip/sips.
pub fn host_port(buf: &[u8], uri: Range<usize>) -> Option<HostPort> {
    let u = &buf[uri.clone()];
    let scheme = scheme(buf, uri.clone());
    let skip = match scheme {
        Scheme::Sip => 4,
        Scheme::Sips => 5,
        Scheme::Other => {
            return Some(HostPort {
                scheme,
                host: uri.start..uri.start,
                port: None,
            })
        }
    };
    let rest = &u[skip..];
    // The host part ends at the first of ; ? > or white space. userinfo ends at '@'.
    let hp_end = rest
        .iter()
        .position(|&b| b == b';' || b == b'?' || b == b'>' || is_lws(b))
        .unwrap_or(rest.len());
    let at = rest[..hp_end]
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |i| i + 1);
    let hp = &rest[at..hp_end];
    let base = uri.start + skip + at;
    let (host_len, port) = if hp.first() == Some(&b'[') {
        let close = hp.iter().position(|&b| b == b']')? + 1;
        match hp.get(close) {
            None => (close, None),
            Some(b':') => (close, Some(close + 1..hp.len())),
            Some(_) => return None,
        }
    } else {
        match hp.iter().position(|&b| b == b':') {
            Some(c) => (c, Some(c + 1..hp.len())),
            None => (hp.len(), None),
        }
    };
    if host_len == 0 {
        return None;
    }
    Some(HostPort {
        scheme,
        host: base..base + host_len,
        port: port.map(|p| base + p.start..base + p.end),
    })
}

/// A `;name=value` parameter located in a parameter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Range<usize>,
    pub value: Option<Range<usize>>,
}

/// Iterates `;name[=value]` parameters in `r` (which starts at or before the first `;`),
/// tolerating linear white space around `;` and `=`. Quoted values are kept with quotes.
pub struct Params<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

pub fn params(buf: &[u8], r: Range<usize>) -> Params<'_> {
    Params {
        buf,
        pos: r.start,
        end: r.end,
    }
}

impl Iterator for Params<'_> {
    type Item = Param;

    fn next(&mut self) -> Option<Param> {
        let buf = self.buf;
        // Advance to the next ';' outside quotes.
        let mut in_quote = false;
        while self.pos < self.end {
            let b = buf[self.pos];
            if b == b'"' {
                in_quote = !in_quote;
            } else if b == b';' && !in_quote {
                break;
            }
            self.pos += 1;
        }
        if self.pos >= self.end {
            return None;
        }
        let mut i = super::text::skip_lws(buf, self.pos + 1, self.end);
        let name_start = i;
        while i < self.end && !matches!(buf[i], b'=' | b';') && !is_lws(buf[i]) {
            i += 1;
        }
        let name = name_start..i;
        i = super::text::skip_lws(buf, i, self.end);
        let mut value = None;
        if i < self.end && buf[i] == b'=' {
            i = super::text::skip_lws(buf, i + 1, self.end);
            let v_start = i;
            if i < self.end && buf[i] == b'"' {
                i += 1;
                while i < self.end && buf[i] != b'"' {
                    i += if buf[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(self.end);
            } else {
                while i < self.end && buf[i] != b';' && !is_lws(buf[i]) {
                    i += 1;
                }
            }
            value = Some(v_start..i);
        }
        self.pos = i;
        Some(Param { name, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8], r: Range<usize>) -> &str {
        core::str::from_utf8(&b[r]).unwrap()
    }

    #[test]
    fn splits_entries_outside_quotes_and_angles() {
        let b = br#""a, b" <sip:x@1.2.3.4>;q=1 , <sip:y@h;p=a,b>, sip:z@5.6.7.8 ,,"#;
        let got: Vec<&str> = entries(b, 0..b.len()).map(|r| s(b, r)).collect();
        let esc = br#""a \", b" <sip:x@h>, "unterminated \"#;
        let got_esc: Vec<&str> = entries(esc, 0..esc.len()).map(|r| s(esc, r)).collect();
        assert_eq!(
            got_esc,
            vec![r#""a \", b" <sip:x@h>"#, r#""unterminated \"#]
        );
        assert_eq!(
            got,
            vec![
                r#""a, b" <sip:x@1.2.3.4>;q=1"#,
                "<sip:y@h;p=a,b>",
                "sip:z@5.6.7.8"
            ]
        );
    }

    #[test]
    fn uri_of_name_addr_and_addr_spec() {
        let b = br#""Quoted <not>" <sip:bob@10.0.0.2:5062;transport=udp>;expires=60"#;
        assert_eq!(
            s(b, entry_uri(b, 0..b.len()).unwrap()),
            "sip:bob@10.0.0.2:5062;transport=udp"
        );
        let b = b"sip:bob@10.0.0.2;expires=60";
        assert_eq!(s(b, entry_uri(b, 0..b.len()).unwrap()), "sip:bob@10.0.0.2");
        let b = b"\"unterminated <sip:x@y>";
        assert_eq!(entry_uri(b, 0..b.len()), None);
    }

    #[test]
    fn host_and_port() {
        let b = b"sip:bob:secret@10.0.0.2:5062;transport=udp?h=v";
        let hp = host_port(b, 0..b.len()).unwrap();
        assert_eq!(hp.scheme, Scheme::Sip);
        assert_eq!(s(b, hp.host.clone()), "10.0.0.2");
        assert_eq!(s(b, hp.port.clone().unwrap()), "5062");
        let v4 = hp.ipv4(b).unwrap();
        assert_eq!(
            (v4.ip, v4.port, s(b, v4.span.clone())),
            (Ipv4Addr::new(10, 0, 0, 2), Some(5062), "10.0.0.2:5062")
        );
        assert_eq!(v4.endpoint(), "10.0.0.2:5062".parse().unwrap());
        assert_eq!(s(b, hp.span()), "10.0.0.2:5062");
        let b = b"sip:10.0.0.2";
        let v4 = host_port(b, 0..b.len()).unwrap().ipv4(b).unwrap();
        assert_eq!((v4.port, v4.endpoint().port()), (None, DEFAULT_PORT));

        let b = b"SIPS:example.com";
        let hp = host_port(b, 0..b.len()).unwrap();
        assert_eq!(
            (hp.scheme, s(b, hp.host.clone()), hp.port.clone()),
            (Scheme::Sips, "example.com", None)
        );
        assert_eq!(hp.ipv4(b), None);

        let b = b"sip:[2001:db8::10]:5070";
        let hp = host_port(b, 0..b.len()).unwrap();
        assert_eq!(
            (s(b, hp.host.clone()), s(b, hp.port.clone().unwrap())),
            ("[2001:db8::10]", "5070")
        );

        let b = b"tel:+15551234";
        assert_eq!(host_port(b, 0..b.len()).unwrap().scheme, Scheme::Other);
        assert_eq!(scheme(b, 0..b.len()), Scheme::Other);
        assert_eq!(scheme(b"SIPS:x", 0..6), Scheme::Sips);
        assert_eq!(scheme(b"sip:", 0..4), Scheme::Sip);
        assert_eq!(host_port(b"sip:", 0..4), None);
        // A malformed port is not taken for the default: no address at all.
        let b = b"sip:a@1.2.3.4:99999";
        assert_eq!(host_port(b, 0..b.len()).unwrap().ipv4(b), None);
    }

    #[test]
    fn parameters_with_spaces() {
        let b = b" ; received = 1.2.3.4 ;rport;branch=z9\r\n ; q=\"a;b\"";
        let got: Vec<(&str, Option<&str>)> = params(b, 0..b.len())
            .map(|p| (s(b, p.name), p.value.map(|v| s(b, v))))
            .collect();
        assert_eq!(
            got,
            vec![
                ("received", Some("1.2.3.4")),
                ("rport", None),
                ("branch", Some("z9")),
                ("q", Some("\"a;b\""))
            ]
        );
    }
}
