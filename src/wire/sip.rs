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

use super::text::{eq_lower, find_byte, find_lf, is_wsp, parse_u32, trim};
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

impl StartLine {
    pub fn method<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            StartLine::Request { method, .. } => Some(&buf[method.clone()]),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Range<usize>> {
        match self {
            StartLine::Request { uri, .. } => Some(uri.clone()),
            StartLine::Response { .. } => None,
        }
    }
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
        macro_rules! is {
            ($lower:literal, $name:expr) => {
                if eq_lower(name, $lower) {
                    $name
                } else {
                    Name::Other
                }
            };
        }
        // Dispatch on length first: most headers are then decided by one comparison.
        match name.len() {
            1 => match name[0] | 0x20 {
                b'v' => Name::Via,
                b'm' => Name::Contact,
                b'i' => Name::CallId,
                b'f' => Name::From,
                b't' => Name::To,
                b'l' => Name::ContentLength,
                b'c' => Name::ContentType,
                _ => Name::Other,
            },
            2 => is!(b"to", Name::To),
            3 => is!(b"via", Name::Via),
            4 if name[0] | 0x20 == b'f' => is!(b"from", Name::From),
            4 => is!(b"cseq", Name::CSeq),
            5 => is!(b"route", Name::Route),
            7 => match (name[0] | 0x20, name[1] | 0x20) {
                (b'c', b'o') => is!(b"contact", Name::Contact),
                (b'c', _) => is!(b"call-id", Name::CallId),
                _ => is!(b"expires", Name::Expires),
            },
            12 if name[0] | 0x20 == b'r' => is!(b"record-route", Name::RecordRoute),
            12 => is!(b"content-type", Name::ContentType),
            14 => is!(b"content-length", Name::ContentLength),
            _ => Name::Other,
        }
    }
}

/// Index just past the line that starts at `from` (past its LF), and the end of its
/// content (before CR LF / LF). Always inlined: called once per line of every message.
#[inline(always)]
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
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
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
        let mut framer = Message::framer(buf)?;
        while framer.next_header()?.is_some() {}
        Ok(framer.finish())
    }

    /// Frames the start line only; the header fields are then framed one by one as
    /// [`Framer::next_header`] walks them. One pass over the message, for callers that
    /// look at every header anyway (the rewrite engine).
    pub fn framer(buf: &'a [u8]) -> Result<Framer<'a>, FrameError> {
        if buf.is_empty() {
            return Err(FrameError::Empty);
        }
        let (first_end, pos) = line_at(buf, 0);
        let start = parse_start_line(buf, 0..first_end)?;
        Ok(Framer {
            fields: Fields {
                buf,
                pos,
                end: buf.len(),
            },
            header_start: pos,
            end: None,
            start,
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
        self.start.method(self.buf)
    }

    pub fn status(&self) -> Option<u16> {
        self.start.status()
    }

    pub fn request_uri(&self) -> Option<Range<usize>> {
        self.start.request_uri()
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
        Headers(Fields {
            buf: self.buf,
            pos: self.header_block.start,
            end: self.header_block.end,
        })
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

/// The header fields of a message being framed, one at a time; what is left of the
/// message once the empty line (or the end) is reached.
pub struct Framer<'a> {
    start: StartLine,
    fields: Fields<'a>,
    header_start: usize,
    /// Set once the walk has ended: (header block end, body start, terminated).
    end: Option<(usize, usize, bool)>,
}

impl<'a> Framer<'a> {
    pub fn buf(&self) -> &'a [u8] {
        self.fields.buf
    }

    pub fn method(&self) -> Option<&'a [u8]> {
        self.start.method(self.fields.buf)
    }

    pub fn status(&self) -> Option<u16> {
        self.start.status()
    }

    pub fn request_uri(&self) -> Option<Range<usize>> {
        self.start.request_uri()
    }

    /// After the last header: the body (everything after the empty line) and whether
    /// the empty line was there. Before that, an empty body.
    pub fn body(&self) -> (Range<usize>, bool) {
        let len = self.fields.buf.len();
        match self.end {
            Some((_, body, terminated)) => (body..len, terminated),
            None => (len..len, false),
        }
    }

    /// The next header field, `None` after the last one, or why the message cannot be
    /// framed (a header line without a colon, or a continuation line first).
    pub fn next_header(&mut self) -> Result<Option<Header>, FrameError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let f = &mut self.fields;
        let (buf, pos) = (f.buf, f.pos);
        if pos >= buf.len() {
            self.end = Some((buf.len(), buf.len(), false));
            return Ok(None);
        }
        match f.field() {
            Framed::Header(h) => Ok(Some(h)),
            Framed::EmptyLine { body } => {
                self.end = Some((pos, body, true));
                Ok(None)
            }
            Framed::NoColon => Err(FrameError::BadHeaderLine),
        }
    }

    /// The framed message, once [`Framer::next_header`] has walked every field
    /// without an error (what [`Message::parse`] makes sure of); fields not walked yet
    /// are walked first.
    fn finish(mut self) -> Message<'a> {
        while let Ok(Some(_)) = self.next_header() {}
        let buf = self.fields.buf;
        let (header_end, body_start, terminated) =
            self.end.unwrap_or((buf.len(), buf.len(), false));
        Message {
            buf,
            start: self.start,
            header_block: self.header_start..header_end,
            body: body_start..buf.len(),
            terminated,
        }
    }
}

/// What starts at a position in the header block.
enum Framed {
    Header(Header),
    EmptyLine { body: usize },
    NoColon,
}

/// The cursor both [`Framer`] and [`Headers`] advance: one line search per line, one
/// colon search per field.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where the header block ends (the whole buffer while it is still being framed).
    end: usize,
}

impl Fields<'_> {
    /// Frames the field at `pos` (which is `< end`) and moves past it.
    fn field(&mut self) -> Framed {
        let buf = self.buf;
        let start = self.pos;
        let (first_end, mut next) = line_at(buf, start);
        if first_end == start {
            self.pos = next;
            return Framed::EmptyLine { body: next };
        }
        let mut content_end = first_end;
        // Continuation lines start with white space.
        while next < self.end && is_wsp(buf[next]) {
            let (e, n) = line_at(buf, next);
            content_end = e;
            next = n;
        }
        self.pos = next;
        if is_wsp(buf[start]) {
            // Only possible first in the block (later ones belong to the field before):
            // a continuation of nothing.
            return Framed::NoColon;
        }
        let Some(colon) = find_byte(&buf[start..first_end], b':') else {
            return Framed::NoColon;
        };
        let colon = start + colon;
        Framed::Header(Header {
            name: trim(buf, start..colon),
            value: trim(buf, colon + 1..content_end),
        })
    }
}

/// Iterator over the header fields of a framed message.
pub struct Headers<'a>(Fields<'a>);

impl Iterator for Headers<'_> {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.0.pos >= self.0.end {
            return None;
        }
        match self.0.field() {
            Framed::Header(h) => Some(h),
            _ => None,
        }
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

    /// The framer frames header by header: the same fields as `parse` + `headers`, the
    /// body at the end, and a framing error only when the walk reaches it.
    #[test]
    fn framer_walks_once_and_reports_errors_where_they_are() {
        let b = b"INVITE sip:a@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z\r\nl: 4\r\n\r\nbody";
        let mut st = Message::framer(b).unwrap();
        assert_eq!(st.method(), Some(&b"INVITE"[..]));
        assert_eq!(&b[st.request_uri().unwrap()], b"sip:a@10.0.0.2");
        assert_eq!(
            st.body(),
            (b.len()..b.len(), false),
            "not known before the walk"
        );
        let mut streamed = Vec::new();
        while let Some(h) = st.next_header().unwrap() {
            streamed.push(h);
        }
        assert_eq!(st.next_header(), Ok(None), "stays at the end");
        assert_eq!(st.body(), (b.len() - 4..b.len(), true));
        let framed = Message::parse(b).unwrap();
        assert_eq!(streamed, framed.headers().collect::<Vec<_>>());
        assert_eq!(
            &b[streamed[0].value.clone()],
            b"SIP/2.0/UDP h\r\n ;branch=z"
        );
        let m = st.finish();
        assert_eq!(m.body(), framed.body());
        assert_eq!(m.headers().count(), 2);

        let bad = b"SIP/2.0 200 OK\r\nCall-ID: x\r\nno colon here\r\nCSeq: 1 A\r\n\r\n";
        let mut st = Message::framer(bad).unwrap();
        assert_eq!(st.status(), Some(200));
        let first = st.next_header().unwrap().unwrap();
        assert_eq!(&bad[first.name], b"Call-ID");
        assert_eq!(st.next_header(), Err(FrameError::BadHeaderLine));
        assert_eq!(Message::parse(bad).unwrap_err(), FrameError::BadHeaderLine);

        let folded_first = b"BYE sip:x SIP/2.0\n x: y\n\n";
        let mut st = Message::framer(folded_first).unwrap();
        assert_eq!(st.next_header(), Err(FrameError::BadHeaderLine));

        let unterminated = b"SIP/2.0 100 Trying\r\nCall-ID: x";
        let mut st = Message::framer(unterminated).unwrap();
        assert!(st.next_header().unwrap().is_some());
        assert_eq!(st.next_header(), Ok(None));
        assert_eq!(st.body(), (unterminated.len()..unterminated.len(), false));
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
