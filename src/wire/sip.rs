//! A zero-copy view of one SIP message (RFC 3261 §7): the start line, the header lines
//! (with folded continuation lines), and the body. Everything is a byte range into the
//! caller's buffer; nothing is copied or allocated.
//!
//! ```text
//! INVITE sip:bob@example.com SIP/2.0\r\n      <- start_line
//! Via: SIP/2.0/UDP 10.0.0.2:5060\r\n           <- header (name 0..3, value 5..)
//!  ;branch=z9hG4bK1\r\n                         <- folded continuation of the same header
//! Content-Length: 4\r\n
//! \r\n                                          <- end of headers
//! body                                          <- body
//! ```
//! Line ends may be CRLF or a bare LF.

use super::text::{find_byte, find_lf, is_wsp, parse_u32, trim};
use core::ops::Range;

/// Why a buffer is not a SIP message this view can frame. Callers pass such input on
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    Empty,
    BadStartLine,
    BadHeaderLine,
}

/// The start line: a request line or a status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Range<usize>,
        uri: Range<usize>,
    },
    Response {
        status: u16,
        reason: Range<usize>,
    },
}

/// One header field: its name and its value, trimmed. The value may span folded lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// The framed message.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: StartLine,
    /// From the first header line up to (not including) the empty line.
    header_block: Range<usize>,
    /// Everything after the empty line.
    body: Range<usize>,
    /// The empty line was present.
    terminated: bool,
}

/// Well-known header names, with their RFC 3261 compact forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    Via,
    Contact,
    CallId,
    CSeq,
    From,
    To,
    ContentLength,
    ContentType,
    Expires,
    RecordRoute,
    Route,
    Other,
}

impl Name {
    pub fn of(name: &[u8]) -> Name {
        let is = |long: &[u8], n: Name| {
            if name.eq_ignore_ascii_case(long) {
                n
            } else {
                Name::Other
            }
        };
        // Dispatch on length first: most headers are then decided by one comparison.
        match name.len() {
            1 => match name[0].to_ascii_lowercase() {
                b'v' => Name::Via,
                b'm' => Name::Contact,
                b'i' => Name::CallId,
                b'f' => Name::From,
                b't' => Name::To,
                b'l' => Name::ContentLength,
                b'c' => Name::ContentType,
                _ => Name::Other,
            },
            2 => is(b"to", Name::To),
            3 => is(b"via", Name::Via),
            4 => match name[0].to_ascii_lowercase() {
                b'f' => is(b"from", Name::From),
                _ => is(b"cseq", Name::CSeq),
            },
            5 => is(b"route", Name::Route),
            7 => match name[0].to_ascii_lowercase() {
                b'c' if name[1].eq_ignore_ascii_case(&b'o') => is(b"contact", Name::Contact),
                b'c' => is(b"call-id", Name::CallId),
                _ => is(b"expires", Name::Expires),
            },
            12 => match name[0].to_ascii_lowercase() {
                b'r' => is(b"record-route", Name::RecordRoute),
                _ => is(b"content-type", Name::ContentType),
            },
            14 => is(b"content-length", Name::ContentLength),
            _ => Name::Other,
        }
    }
}

/// Index just past the line that starts at `from` (past its LF), and the end of its
/// content (before CR LF / LF).
fn line_at(buf: &[u8], from: usize) -> (usize, usize) {
    match find_lf(&buf[from..]) {
        Some(i) => {
            let lf = from + i;
            let content_end = if lf > from && buf[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            (content_end, lf + 1)
        }
        None => (buf.len(), buf.len()),
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn parse_start_line(buf: &[u8], line: Range<usize>) -> Result<StartLine, FrameError> {
    let l = &buf[line.clone()];
    if let Some(rest) = l.strip_prefix(b"SIP/2.0 ") {
        // Status line: SIP/2.0 SP 3DIGIT SP Reason-Phrase
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadStartLine);
        }
        if rest.len() > 3 && rest[3] != b' ' {
            return Err(FrameError::BadStartLine);
        }
        let status = parse_u32(&rest[..3]).ok_or(FrameError::BadStartLine)? as u16;
        if !(100..=699).contains(&status) {
            return Err(FrameError::BadStartLine);
        }
        let reason_start = (line.start + 8 + 4).min(line.end);
        return Ok(StartLine::Response {
            status,
            reason: reason_start..line.end,
        });
    }
    // Request line: Method SP Request-URI SP SIP/2.0
    let m = l
        .iter()
        .position(|&b| b == b' ')
        .ok_or(FrameError::BadStartLine)?;
    if m == 0 || !l[..m].iter().all(|&b| is_token_byte(b)) {
        return Err(FrameError::BadStartLine);
    }
    let v = l
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(FrameError::BadStartLine)?;
    if v <= m + 1 || !l[v + 1..].eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(FrameError::BadStartLine);
    }
    if l[m + 1..v].iter().any(|&b| is_wsp(b)) {
        return Err(FrameError::BadStartLine);
    }
    Ok(StartLine::Request {
        method: line.start..line.start + m,
        uri: line.start + m + 1..line.start + v,
    })
}

impl<'a> Message<'a> {
    /// Frames `buf` as one SIP message. The body is everything after the empty line;
    /// use [`Message::content_length`] to learn what the sender declared.
    pub fn parse(buf: &'a [u8]) -> Result<Self, FrameError> {
        if buf.is_empty() {
            return Err(FrameError::Empty);
        }
        let (first_end, mut pos) = line_at(buf, 0);
        let start = parse_start_line(buf, 0..first_end)?;
        let header_start = pos;
        let mut terminated = false;
        let mut header_end = buf.len();
        while pos < buf.len() {
            let (content_end, next) = line_at(buf, pos);
            if content_end == pos {
                terminated = true;
                header_end = pos;
                pos = next;
                break;
            }
            let line = &buf[pos..content_end];
            if !is_wsp(line[0]) && find_byte(line, b':').is_none() {
                return Err(FrameError::BadHeaderLine);
            }
            if is_wsp(line[0]) && pos == header_start {
                return Err(FrameError::BadHeaderLine);
            }
            pos = next;
        }
        let body = if terminated {
            pos..buf.len()
        } else {
            buf.len()..buf.len()
        };
        Ok(Message {
            buf,
            start,
            header_block: header_start..header_end,
            body,
            terminated,
        })
    }

    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request (`INVITE`), or `None` for a response.
    pub fn method(&self) -> Option<&'a [u8]> {
        match &self.start {
            StartLine::Request { method, .. } => Some(&self.buf[method.clone()]),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Range<usize>> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri.clone()),
            StartLine::Response { .. } => None,
        }
    }

    /// The body: everything after the empty line (empty if there was none).
    pub fn body(&self) -> Range<usize> {
        self.body.clone()
    }

    /// Whether the header section ended with an empty line.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    pub fn headers(&self) -> Headers<'a> {
        Headers {
            buf: self.buf,
            pos: self.header_block.start,
            end: self.header_block.end,
        }
    }

    /// The first header with this name.
    pub fn header(&self, name: Name) -> Option<Header> {
        self.headers()
            .find(|h| Name::of(&self.buf[h.name.clone()]) == name)
    }

    /// The declared Content-Length, if present and numeric.
    pub fn content_length(&self) -> Option<u32> {
        self.header(Name::ContentLength)
            .and_then(|h| parse_u32(&self.buf[h.value]))
    }
}

/// Iterator over the header fields of a message.
pub struct Headers<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl Iterator for Headers<'_> {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        let buf = self.buf;
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        let (mut content_end, mut next) = line_at(buf, start);
        // Continuation lines start with white space.
        while next < self.end && is_wsp(buf[next]) {
            let (e, n) = line_at(buf, next);
            content_end = e;
            next = n;
        }
        self.pos = next;
        let colon = start + find_byte(&buf[start..content_end], b':')?;
        let name = trim(buf, start..colon);
        let value = trim(buf, colon + 1..content_end);
        Some(Header { name, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(m: &Message) -> Vec<(String, String)> {
        m.headers()
            .map(|h| {
                (
                    String::from_utf8_lossy(&m.buf()[h.name]).into_owned(),
                    String::from_utf8_lossy(&m.buf()[h.value]).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn request_with_body() {
        let b =
            b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\nl: 4\r\n\r\nbody";
        let m = Message::parse(b).unwrap();
        assert_eq!(m.method(), Some(&b"INVITE"[..]));
        assert_eq!(&b[m.request_uri().unwrap()], b"sip:bob@example.com");
        assert_eq!(&b[m.body()], b"body");
        assert_eq!(m.content_length(), Some(4));
        assert!(m.is_terminated());
    }

    #[test]
    fn status_line() {
        let b = b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Message::parse(b).unwrap();
        assert_eq!(m.status(), Some(200));
        assert!(m.method().is_none());
        assert_eq!(&b[m.body()], b"");
    }

    #[test]
    fn folded_and_spaced_headers() {
        let b = b"OPTIONS sip:x SIP/2.0\r\nTO :\r\n sip:vivekg@example.com ;tag=1\r\nSubject:\r\nv: a\r\n\tb\r\n\r\n";
        let m = Message::parse(b).unwrap();
        let h = names(&m);
        assert_eq!(h[0], ("TO".into(), "sip:vivekg@example.com ;tag=1".into()));
        assert_eq!(h[1], ("Subject".into(), "".into()));
        assert_eq!(h[2], ("v".into(), "a\r\n\tb".into()));
        assert_eq!(Name::of(b"TO"), Name::To);
        assert_eq!(Name::of(b"v"), Name::Via);
        assert_eq!(Name::of(b"M"), Name::Contact);
        assert_eq!(Name::of(b"Record-Route"), Name::RecordRoute);
        assert_eq!(Name::of(b"X-Via"), Name::Other);
        for (n, k) in [
            (&b"Call-ID"[..], Name::CallId),
            (b"CONTACT", Name::Contact),
            (b"CSeq", Name::CSeq),
            (b"Expires", Name::Expires),
            (b"Content-Type", Name::ContentType),
            (b"content-length", Name::ContentLength),
            (b"Route", Name::Route),
            (b"From", Name::From),
            (b"i", Name::CallId),
            (b"Contrib", Name::Other),
            (b"Callxid", Name::Other),
            (b"Subject", Name::Other),
        ] {
            assert_eq!(Name::of(n), k, "{}", String::from_utf8_lossy(n));
        }
    }

    #[test]
    fn lf_only_line_ends() {
        let b = b"BYE sip:a@10.0.0.2 SIP/2.0\nCall-ID: x\nContent-Length: 0\n\n";
        let m = Message::parse(b).unwrap();
        assert_eq!(
            names(&m),
            vec![
                ("Call-ID".into(), "x".into()),
                ("Content-Length".into(), "0".into())
            ]
        );
        assert!(m.is_terminated());
        assert_eq!(m.body(), b.len()..b.len());
    }

    #[test]
    fn unterminated_headers_have_empty_body() {
        let b = b"SIP/2.0 100 Trying\r\nCall-ID: x";
        let m = Message::parse(b).unwrap();
        assert!(!m.is_terminated());
        assert_eq!(names(&m), vec![("Call-ID".into(), "x".into())]);
    }

    #[test]
    fn rejects_what_is_not_sip() {
        assert_eq!(Message::parse(b"").unwrap_err(), FrameError::Empty);
        assert_eq!(
            Message::parse(b"\r\n\r\n").unwrap_err(),
            FrameError::BadStartLine
        );
        assert_eq!(
            Message::parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            FrameError::BadStartLine
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 2000 OK\r\n\r\n").unwrap_err(),
            FrameError::BadStartLine
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 099 x\r\n\r\n").unwrap_err(),
            FrameError::BadStartLine
        );
        assert_eq!(
            Message::parse(b"INVITE sip:a b SIP/2.0\r\n\r\n").unwrap_err(),
            FrameError::BadStartLine
        );
        assert_eq!(
            Message::parse(b"INVITE sip:a SIP/2.0\r\nno colon\r\n\r\n").unwrap_err(),
            FrameError::BadHeaderLine
        );
        assert_eq!(
            Message::parse(b"INVITE sip:a SIP/2.0\r\n folded-first: x\r\n\r\n").unwrap_err(),
            FrameError::BadHeaderLine
        );
        assert_eq!(
            Message::parse(b"\x00\x01\x02").unwrap_err(),
            FrameError::BadStartLine
        );
    }
}
