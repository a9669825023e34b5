//! Framing SIP messages on a byte stream (TCP), RFC 3261 §18.3: a message is its
//! start line and header fields up to the empty line, then exactly `Content-Length`
//! bytes of body. Between messages a peer may send CRLF keep-alives (RFC 5626 §3.5.1:
//! a double CRLF "ping", a single CRLF "pong"), which are not messages.
//!
//! ```text
//! \r\n\r\n                                       <- keep-alive: Frame::KeepAlive(4)
//! INVITE sip:b@example.com SIP/2.0\r\n         \
//! Content-Length: 4\r\n                          | Frame::Message { head: 55, len: 59 }
//! \r\n                                          /  (head = up to and with the empty line)
//! body                                         <- the 4 body bytes
//! ```
//!
//! Pure and zero-copy: [`frame`] looks at the front of a buffer and says how many bytes
//! the first item takes; the caller keeps the bytes. It answers as soon as the header
//! section is complete, so a caller can see that a message is larger than it is willing
//! to hold before its body arrived (and then forward it unchanged as it streams).

use super::text::{eq_lower, find_lf, parse_u32, trim};

/// What is at the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to know (the header section has not ended).
    Incomplete,
    /// This many CR/LF bytes between messages (keep-alives), to be passed on as they are.
    KeepAlive(usize),
    /// A message whose header section (with the empty line) is `head` bytes and which
    /// is `len` bytes in all (`len - head` = its Content-Length). `len` may exceed the
    /// bytes buffered so far.
    Message { head: usize, len: usize },
    /// The stream cannot be framed any further: the caller must close it.
    Malformed(StreamError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The header section is longer than the caller allows (no empty line within it).
    HeadTooLong,
    /// A Content-Length that is not a number, or two that disagree: where the next
    /// message starts is unknown.
    BadContentLength,
}

/// Frames the first item of `buf`. A header section longer than `max_head` bytes is
/// [`StreamError::HeadTooLong`]. A message without Content-Length has no body (RFC 3261
/// requires the header on streams; this is what a receiver can do without it).
pub fn frame(buf: &[u8], max_head: usize) -> Frame {
    let crlf = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    if crlf > 0 {
        return Frame::KeepAlive(crlf);
    }
    let mut pos = 0;
    let mut content_length: Option<u32> = None;
    loop {
        let limit = buf.len().min(max_head);
        let found = if pos < limit {
            find_lf(&buf[pos..limit])
        } else {
            None
        };
        let Some(lf) = found else {
            return if buf.len() >= max_head {
                Frame::Malformed(StreamError::HeadTooLong)
            } else {
                Frame::Incomplete
            };
        };
        let line = pos..pos + lf;
        let next = pos + lf + 1;
        let text_end = if lf > 0 && buf[pos + lf - 1] == b'\r' {
            pos + lf - 1
        } else {
            pos + lf
        };
        if text_end == line.start && pos > 0 {
            // Saturating: a 32-bit router's usize cannot overflow on a huge length.
            let len = next.saturating_add(content_length.unwrap_or(0) as usize);
            return Frame::Message { head: next, len };
        }
        // Not the start line, not a folded continuation line.
        if pos > 0 && !super::text::is_wsp(buf[pos]) {
            if let Some(value) = content_length_value(buf, line.start..text_end) {
                let Some(n) = parse_u32(&buf[value]) else {
                    return Frame::Malformed(StreamError::BadContentLength);
                };
                if content_length.is_some_and(|c| c != n) {
                    return Frame::Malformed(StreamError::BadContentLength);
                }
                content_length = Some(n);
            }
        }
        pos = next;
    }
}

/// The value range of a `Content-Length` (or compact `l`) header line, else None.
fn content_length_value(
    buf: &[u8],
    line: core::ops::Range<usize>,
) -> Option<core::ops::Range<usize>> {
    let l = &buf[line.clone()];
    let colon = l.iter().position(|&b| b == b':')?;
    let name = trim(buf, line.start..line.start + colon);
    let n = &buf[name];
    if !(eq_lower(n, b"content-length") || eq_lower(n, b"l")) {
        return None;
    }
    Some(trim(buf, line.start + colon + 1..line.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 8192;

    #[test]
    fn a_message_with_a_body() {
        let m = b"INVITE sip:b@example.com SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";
        assert_eq!(frame(m, MAX), Frame::Message { head: 55, len: 59 });
        assert_eq!(&m[55..59], b"body");
    }

    #[test]
    fn keep_alives_are_their_own_items() {
        assert_eq!(frame(b"\r\n\r\n", MAX), Frame::KeepAlive(4));
        assert_eq!(frame(b"\r\n", MAX), Frame::KeepAlive(2));
        assert_eq!(
            frame(b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\n\r\n", MAX),
            Frame::KeepAlive(4)
        );
        assert_eq!(frame(b"", MAX), Frame::Incomplete);
    }

    #[test]
    fn split_anywhere_is_incomplete_until_the_empty_line() {
        let m = b"SIP/2.0 200 OK\r\nl: 2\r\nVia: SIP/2.0/TCP 10.0.0.2\r\n\r\nok";
        let whole = Frame::Message {
            head: m.len() - 2,
            len: m.len(),
        };
        for cut in 1..m.len() - 2 {
            assert_eq!(frame(&m[..cut], MAX), Frame::Incomplete, "cut at {cut}");
        }
        // Header section complete, body not yet: the length is known already.
        assert_eq!(frame(&m[..m.len() - 2], MAX), whole);
        assert_eq!(frame(m, MAX), whole);
    }

    #[test]
    fn two_messages_in_one_buffer_frame_one_at_a_time() {
        let two = b"ACK sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\nBYE sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let Frame::Message { len, .. } = frame(two, MAX) else {
            panic!()
        };
        assert_eq!(len, 40);
        assert_eq!(
            frame(&two[len..], MAX),
            Frame::Message { head: 40, len: 40 }
        );
    }

    #[test]
    fn bare_lf_compact_form_and_missing_length() {
        assert_eq!(
            frame(b"MESSAGE sip:b SIP/2.0\nl:3\n\nabcXYZ", MAX),
            Frame::Message { head: 27, len: 30 }
        );
        assert_eq!(
            frame(b"OPTIONS sip:b SIP/2.0\r\nVia: x\r\n\r\nNEXT", MAX),
            Frame::Message { head: 33, len: 33 }
        );
        // `Content-Type` and `Call-Info` are not `l`; equal duplicates are fine.
        assert_eq!(
            frame(
                b"X sip:b SIP/2.0\r\nContent-Type: a/b\r\nl: 1\r\nContent-Length:  1 \r\n\r\nz",
                MAX
            ),
            Frame::Message { head: 65, len: 66 }
        );
    }

    #[test]
    fn what_cannot_be_framed() {
        assert_eq!(
            frame(b"X sip:b SIP/2.0\r\nContent-Length: x\r\n\r\n", MAX),
            Frame::Malformed(StreamError::BadContentLength)
        );
        assert_eq!(
            frame(
                b"X sip:b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab",
                MAX
            ),
            Frame::Malformed(StreamError::BadContentLength)
        );
        assert_eq!(
            frame(
                b"X sip:b SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n",
                MAX
            ),
            Frame::Malformed(StreamError::BadContentLength)
        );
        let long = [b'a'; 64];
        assert_eq!(frame(&long, 32), Frame::Malformed(StreamError::HeadTooLong));
        assert_eq!(frame(&long[..31], 32), Frame::Incomplete);
        // A folded continuation is not a header of its own.
        assert_eq!(
            frame(b"X sip:b SIP/2.0\r\nSubject: a\r\n l: 7\r\n\r\n", MAX),
            Frame::Message { head: 38, len: 38 }
        );
        // A huge declared body is still a frame: the caller decides what to do with it.
        assert_eq!(
            frame(b"X sip:b SIP/2.0\r\nl: 1000000\r\n\r\n", MAX),
            Frame::Message {
                head: 31,
                len: 1_000_031
            }
        );
    }
}
