//! The decisions of one relayed TCP SIP connection, pure (no sockets, no clock reads:
//! `now` is passed in, in seconds of a monotonic clock).
//!
//! Each direction of a connection is a byte stream framed by
//! [`crate::wire::sip_stream::frame`]. [`Framing::step`] says what to do with the front
//! of what has been received: wait for more, pass bytes on unchanged (keep-alives, or a
//! message too large to hold, which streams through as it arrives), hand one whole
//! message to the engine, or close the connection (the stream cannot be framed). So a
//! direction never holds more than [`Limits::max_message`] bytes (or its header section),
//! and when all connections together hold more than [`Limits::budget`], only messages up
//! to [`Limits::small_message`] are held ([`hold`]); larger ones pass unchanged.

use crate::wire::sip::{Message, Name};
use crate::wire::sip_stream::{frame, Frame, StreamError};
use crate::wire::text::parse_port;
use crate::wire::via::SentBy;

/// Bounds of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message held whole (and so rewritten); larger ones pass unchanged.
    pub max_message: usize,
    /// Longest header section; beyond it the stream is not SIP and is closed.
    pub max_head: usize,
    /// Bytes all connections together may hold before only small messages are held.
    pub budget: usize,
    /// Largest message held (and rewritten) while over the budget.
    pub small_message: usize,
    /// Seconds a connection may stay without a first complete message (slow or
    /// half-open peers).
    pub first_message: u64,
    /// Seconds a connection may stay idle in both directions after that.
    pub idle: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_head: 16 * 1024,
            budget: 2 * 1024 * 1024,
            small_message: 8 * 1024,
            first_message: 30,
            idle: 3600,
        }
    }
}

/// What to do with the front of one direction's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing can be decided before more bytes arrive.
    Wait,
    /// Pass this many bytes on as they are.
    Raw(usize),
    /// This many bytes are one whole SIP message: run the engine on them.
    Message(usize),
    /// Close the connection (both directions).
    Close(StreamError),
}

/// The framing state of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framing {
    /// Bytes of an oversized message still to pass through unchanged.
    pass_left: usize,
}

impl Framing {
    /// `hold`: the largest message to hold whole now (see [`hold`]).
    pub fn step(&mut self, buf: &[u8], limits: &Limits, hold: usize) -> Step {
        if self.pass_left > 0 {
            let n = self.pass_left.min(buf.len());
            self.pass_left -= n;
            return if n == 0 { Step::Wait } else { Step::Raw(n) };
        }
        match frame(buf, limits.max_head) {
            Frame::Incomplete => Step::Wait,
            Frame::KeepAlive(n) => Step::Raw(n),
            Frame::Message { len, .. } if len <= hold.min(limits.max_message) => {
                if buf.len() >= len {
                    Step::Message(len)
                } else {
                    Step::Wait
                }
            }
            Frame::Message { len, .. } => {
                let n = len.min(buf.len());
                self.pass_left = len - n;
                Step::Raw(n)
            }
            Frame::Malformed(e) => Step::Close(e),
        }
    }

    /// Whether an oversized message is passing through.
    pub fn passing_through(&self) -> bool {
        self.pass_left > 0
    }
}

/// The largest message a connection may hold whole while all connections together
/// hold `buffered` bytes.
pub fn hold(limits: &Limits, buffered: usize) -> usize {
    if buffered < limits.budget {
        limits.max_message
    } else {
        limits.small_message
    }
}

/// Whether a connection last active at `last` (or opened at `last` and still without a
/// first message) has timed out at `now`.
pub fn timed_out(limits: &Limits, had_message: bool, last: u64, now: u64) -> bool {
    let limit = if had_message {
        limits.idle
    } else {
        limits.first_message
    };
    now.saturating_sub(last) >= limit
}

/// The port the phone says it listens on: the top Via's sent-by port (5060 when the
/// Via has none). The relay uses it as the phone's private signalling endpoint, the
/// same one its UDP messages would come from, so the engine maps Via and Contact as for
/// UDP and the connection leaves from the same public port.
pub fn listening_port(message: &[u8]) -> Option<u16> {
    let m = Message::parse(message).ok()?;
    let via = m.header(Name::Via)?;
    let sent_by = SentBy::parse(message, via.value)?;
    match sent_by.port {
        Some(p) => parse_port(&message[p]),
        None => Some(5060),
    }
}

/// The keep-alive idle time (s) for the relay's sockets: half the router's TCP
/// established timeout, so that each side's conntrack entry is refreshed before it
/// expires even when the phone and the provider are silent; at most `cap`.
pub fn keepalive_idle(conntrack_established: Option<u32>, cap: u32) -> u32 {
    conntrack_established.map_or(cap, |t| (t / 2).clamp(1, cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            max_message: 64,
            max_head: 48,
            ..Limits::default()
        }
    }

    #[test]
    fn messages_keep_alives_and_waiting() {
        let l = small();
        let mut f = Framing::default();
        let two = b"\r\n\r\nACK sip:b SIP/2.0\r\nl: 2\r\n\r\nokBYE";
        assert_eq!(f.step(two, &l, 64), Step::Raw(4));
        assert_eq!(f.step(&two[4..], &l, 64), Step::Message(29));
        assert_eq!(&two[31..33], b"ok");
        assert_eq!(f.step(&two[33..], &l, 64), Step::Wait);
        // The body not there yet.
        assert_eq!(f.step(&two[4..32], &l, 64), Step::Wait);
    }

    #[test]
    fn oversized_messages_stream_through_unchanged() {
        let l = small();
        let mut f = Framing::default();
        let big = b"MESSAGE sip:b SIP/2.0\r\nl: 100\r\n\r\n0123456789";
        // 33 header bytes + 100 body bytes: more than max_message.
        assert_eq!(f.step(big, &l, 64), Step::Raw(43));
        assert!(f.passing_through());
        assert_eq!(f.step(&[b'x'; 60], &l, 64), Step::Raw(60));
        // 133 bytes in all: the last 30 of them, then the next message's start.
        let mut rest = [b'y'; 33];
        rest[30..].copy_from_slice(b"ACK");
        assert_eq!(f.step(&rest, &l, 64), Step::Raw(30));
        assert!(!f.passing_through());
        assert_eq!(f.step(b"ACK", &l, 64), Step::Wait);
        assert_eq!(f.step(b"", &l, 64), Step::Wait);
    }

    #[test]
    fn over_the_budget_only_small_messages_are_held() {
        let l = Limits {
            max_message: 64,
            budget: 100,
            small_message: 30,
            ..Limits::default()
        };
        assert_eq!(hold(&l, 99), 64);
        assert_eq!(hold(&l, 100), 30);
        let m = b"ACK sip:b SIP/2.0\r\nl: 2\r\n\r\nok";
        assert_eq!(Framing::default().step(m, &l, 64), Step::Message(29));
        assert_eq!(Framing::default().step(m, &l, 30), Step::Message(29));
        let mut f = Framing::default();
        assert_eq!(f.step(m, &l, 28), Step::Raw(29), "passed on unchanged");
        assert!(!f.passing_through());
    }

    #[test]
    fn unframable_streams_close() {
        let l = small();
        let mut f = Framing::default();
        assert_eq!(
            f.step(&[b'A'; 48], &l, 64),
            Step::Close(StreamError::HeadTooLong)
        );
        assert_eq!(
            f.step(b"A sip:b SIP/2.0\r\nl: -1\r\n\r\n", &l, 64),
            Step::Close(StreamError::BadContentLength)
        );
    }

    #[test]
    fn timeouts() {
        let l = Limits::default();
        assert!(!timed_out(&l, false, 100, 129));
        assert!(timed_out(&l, false, 100, 130));
        assert!(!timed_out(&l, true, 100, 130));
        assert!(timed_out(&l, true, 100, 3700));
        assert!(
            !timed_out(&l, true, 200, 100),
            "a clock read late is not a timeout"
        );
    }

    #[test]
    fn phone_port_from_the_top_via() {
        assert_eq!(
            listening_port(b"REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.20:5070;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP 10.0.0.1:9\r\n\r\n"),
            Some(5070)
        );
        assert_eq!(
            listening_port(
                b"OPTIONS sip:a SIP/2.0\r\nv: SIP/2.0/TCP 192.168.1.20;branch=z9hG4bK1\r\n\r\n"
            ),
            Some(5060)
        );
        assert_eq!(listening_port(b"OPTIONS sip:a SIP/2.0\r\n\r\n"), None);
        assert_eq!(listening_port(b"\x00\x01"), None);
    }

    #[test]
    fn keepalive_follows_the_conntrack_timeout() {
        assert_eq!(keepalive_idle(Some(7440), 600), 600);
        assert_eq!(keepalive_idle(Some(10), 600), 5);
        assert_eq!(keepalive_idle(Some(1), 600), 1);
        assert_eq!(keepalive_idle(None, 600), 600);
    }
}
