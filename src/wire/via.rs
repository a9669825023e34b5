//! A view of one Via entry (RFC 3261 §20.42):
//!
//! ```text
//! SIP / 2.0 / UDP 10.0.0.2:5060 ;branch=z9hG4bK1;received=1.2.3.4;rport=5060
//!             ^^^ ^^^^^^^^ ^^^^         transport, host, port
//!                                              ^^^^^^^        ^^^^ received, rport values
//! ```
//! Linear white space may appear between the protocol tokens (RFC 4475 `wsinv`).

use super::text::{eq_lower, is_lws, parse_ipv4, skip_lws};
use super::uri::{entry_end, params, Param};
use core::ops::Range;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Range<usize>,
    pub port: Option<Range<usize>>,
    pub received: Option<Range<usize>>,
    pub rport: Option<Range<usize>>,
    pub branch: Option<Range<usize>>,
}

fn token_end(buf: &[u8], from: usize, end: usize) -> usize {
    let mut i = from;
    while i < end && !is_lws(buf[i]) && !matches!(buf[i], b'/' | b';' | b':' | b',') {
        i += 1;
    }
    i
}

fn expect(buf: &[u8], at: usize, end: usize, b: u8) -> Option<usize> {
    let i = skip_lws(buf, at, end);
    (i < end && buf[i] == b).then_some(i + 1)
}

/// The start of a Via entry: sent-protocol and sent-by, read from the start of a
/// header value without splitting the value into its entries first (what a message
/// going out needs: only the top sent-by is rewritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBy {
    pub transport: Transport,
    pub host: Range<usize>,
    pub port: Option<Range<usize>>,
    /// Where this entry's parameters begin.
    params: usize,
}

impl SentBy {
    /// Reads the sent-protocol and sent-by of the first entry in `value` (leading white
    /// space and empty entries are skipped).
    pub fn parse(buf: &[u8], value: Range<usize>) -> Option<SentBy> {
        let end = value.end;
        let mut i = value.start;
        while i < end && (is_lws(buf[i]) || buf[i] == b',') {
            i += 1;
        }
        let t = token_end(buf, i, end);
        if !eq_lower(&buf[i..t], b"sip") {
            return None;
        }
        i = expect(buf, t, end, b'/')?;
        i = skip_lws(buf, i, end);
        let t = token_end(buf, i, end);
        if &buf[i..t] != b"2.0" {
            return None;
        }
        i = expect(buf, t, end, b'/')?;
        i = skip_lws(buf, i, end);
        let t = token_end(buf, i, end);
        let transport = match &buf[i..t] {
            x if eq_lower(x, b"udp") => Transport::Udp,
            x if eq_lower(x, b"tcp") => Transport::Tcp,
            x if eq_lower(x, b"tls") => Transport::Tls,
            [] => return None,
            _ => Transport::Other,
        };
        i = skip_lws(buf, t, end);
        let host_start = i;
        let host_end = if buf.get(i) == Some(&b'[') {
            i + buf[i..end].iter().position(|&b| b == b']')? + 1
        } else {
            token_end(buf, i, end)
        };
        if host_end == host_start {
            return None;
        }
        let mut port = None;
        let mut params = host_end;
        if host_end < end && buf[host_end] == b':' {
            let p_end = token_end(buf, host_end + 1, end);
            if p_end == host_end + 1 {
                return None;
            }
            port = Some(host_end + 1..p_end);
            params = p_end;
        }
        Some(SentBy {
            transport,
            host: host_start..host_end,
            port,
            params,
        })
    }

    /// `host[:port]` as written.
    pub fn span(&self) -> Range<usize> {
        self.host.start..self.port.as_ref().map_or(self.host.end, |p| p.end)
    }

    /// The value of this entry's `branch` parameter, read without splitting the other
    /// parameters (what an outgoing request needs: its transaction key). Stops at the
    /// entry's end (a comma outside quotes).
    pub fn branch(&self, buf: &[u8], value_end: usize) -> Option<Range<usize>> {
        let end = value_end.min(buf.len());
        let mut i = self.params;
        loop {
            i += buf
                .get(i..end)?
                .iter()
                .position(|b| matches!(b, b';' | b',' | b'"'))?;
            match buf[i] {
                b',' => return None,
                b'"' => {
                    i += 1;
                    while i < end && buf[i] != b'"' {
                        i += if buf[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                _ => {
                    let name = skip_lws(buf, i + 1, end);
                    i = name;
                    if end - name < 6 || !eq_lower(&buf[name..name + 6], b"branch") {
                        continue;
                    }
                    let eq = skip_lws(buf, name + 6, end);
                    if eq >= end || buf[eq] != b'=' {
                        continue;
                    }
                    let start = skip_lws(buf, eq + 1, end);
                    let mut j = start;
                    while j < end && !matches!(buf[j], b';' | b',') && !is_lws(buf[j]) {
                        j += 1;
                    }
                    return Some(start..j);
                }
            }
        }
    }

    /// The whole entry, with the parameters up to its end (the next comma outside
    /// quotes, or `value_end`).
    pub fn via(&self, buf: &[u8], value_end: usize) -> Via {
        let end = entry_end(buf, self.params, value_end);
        let mut via = Via {
            transport: self.transport,
            host: self.host.clone(),
            port: self.port.clone(),
            received: None,
            rport: None,
            branch: None,
        };
        for Param { name, value } in params(buf, self.params..end) {
            let n = &buf[name];
            if eq_lower(n, b"received") {
                via.received = value;
            } else if eq_lower(n, b"rport") {
                via.rport = value;
            } else if eq_lower(n, b"branch") {
                via.branch = value;
            }
        }
        via
    }
}

impl Via {
    /// Parses one Via entry (one element of a comma list).
    pub fn parse(buf: &[u8], entry: Range<usize>) -> Option<Via> {
        Some(SentBy::parse(buf, entry.clone())?.via(buf, entry.end))
    }

    pub fn host_ipv4(&self, buf: &[u8]) -> Option<Ipv4Addr> {
        parse_ipv4(&buf[self.host.clone()])
    }

    pub fn span(&self) -> Range<usize> {
        self.host.start..self.port.as_ref().map_or(self.host.end, |p| p.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8], r: Range<usize>) -> &str {
        core::str::from_utf8(&b[r]).unwrap()
    }

    #[test]
    fn plain_via_with_params() {
        let b = b"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;received=203.0.113.1;rport=40000";
        let v = Via::parse(b, 0..b.len()).unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(s(b, v.host.clone()), "10.0.0.2");
        assert_eq!(s(b, v.port.clone().unwrap()), "5060");
        assert_eq!(s(b, v.received.clone().unwrap()), "203.0.113.1");
        assert_eq!(s(b, v.rport.clone().unwrap()), "40000");
        assert_eq!(s(b, v.branch.clone().unwrap()), "z9hG4bK1");
        assert_eq!(v.host_ipv4(b), Some(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn folded_wsinv_via() {
        let b = b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw";
        let v = Via::parse(b, 0..b.len()).unwrap();
        assert_eq!(s(b, v.host.clone()), "192.0.2.2");
        assert_eq!(v.port, None);
        assert_eq!(v.rport, None);
    }

    #[test]
    fn empty_rport_and_tls() {
        let b = b"SIP/2.0/TLS client.example.com;rport;branch=x";
        let v = Via::parse(b, 0..b.len()).unwrap();
        assert_eq!(v.transport, Transport::Tls);
        assert_eq!(s(b, v.host.clone()), "client.example.com");
        assert_eq!(v.rport, None);
    }

    /// The top entry's sent-by straight from a header value with several entries; its
    /// parameters end at the comma.
    #[test]
    fn sent_by_of_the_first_entry() {
        let b =
            b" , SIP/2.0/UDP 10.0.0.2:5060;received=\"a,b\";rport=1 , SIP/2.0/TCP 10.0.0.3;rport=2";
        let top = SentBy::parse(b, 0..b.len()).unwrap();
        assert_eq!(
            (
                top.transport,
                s(b, top.host.clone()),
                top.port.clone().map(|p| s(b, p))
            ),
            (Transport::Udp, "10.0.0.2", Some("5060"))
        );
        let v = top.via(b, b.len());
        assert_eq!(s(b, v.received.unwrap()), "\"a,b\"");
        assert_eq!(s(b, v.rport.unwrap()), "1");
        let b = b"SIP/2.0/UDP 10.0.0.2,SIP/2.0/UDP 10.0.0.3;rport=2";
        let v = SentBy::parse(b, 0..b.len()).unwrap().via(b, b.len());
        assert_eq!((s(b, v.host), v.rport), ("10.0.0.2", None));
    }

    /// The branch alone, as the full parse finds it: after other and quoted parameters,
    /// any case, with white space; not from the next entry, not a longer name.
    #[test]
    fn branch_alone_agrees_with_the_full_parse() {
        for b in [
            &b"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport"[..],
            b"SIP/2.0/UDP 10.0.0.2;rport;received=\"a;branch=no\";BRANCH = z9x ;ttl=1",
            b"SIP/2.0/UDP 10.0.0.2;branchx=no;branch=yes,SIP/2.0/UDP 10.0.0.3;branch=other",
            b"SIP/2.0/UDP 10.0.0.2;rport, SIP/2.0/UDP 10.0.0.3;branch=other",
            b"SIP/2.0/UDP 10.0.0.2;branch",
            b"SIP/2.0/UDP 10.0.0.2;branch=",
            b"SIP/2.0/UDP 10.0.0.2;received=\"unterminated;branch=x",
        ] {
            let top = SentBy::parse(b, 0..b.len()).unwrap();
            let full = top.via(b, b.len()).branch;
            assert_eq!(
                top.branch(b, b.len()).map(|r| s(b, r)),
                full.map(|r| s(b, r)),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn ipv6_and_garbage() {
        let b = b"SIP/2.0/UDP [2001:db8::9:1]:5061;branch=x";
        let v = Via::parse(b, 0..b.len()).unwrap();
        assert_eq!(s(b, v.span()), "[2001:db8::9:1]:5061");
        for bad in [
            &b"SIP/2.0/UDP"[..],
            b"HTTP/1.1/TCP x",
            b"SIP/3.0/UDP x",
            b"SIP/2.0/UDP x:",
            b"",
        ] {
            assert_eq!(
                Via::parse(bad, 0..bad.len()),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
