//! The framing glue of one relayed connection: what happens to the bytes received on
//! one side. [`super::conn`] decides what the front of the bytes is (wait, pass on,
//! one message, close); this carries the decision out through an [`Io`] (the
//! connection's sockets and the daemon's engine, or a recorder in the tests), counts
//! it, and accounts for the bytes held.

use super::conn::{self, Framing, Limits, Step};
use super::Stats;
use crate::engine::Direction;
use crate::wire::sip_stream::StreamError;
use std::io;
use std::sync::atomic::Ordering;

/// A buffer's capacity is given back beyond this once it has drained.
pub(super) const KEEP_CAPACITY: usize = 8192;
/// Keep-alive bytes kept from before a connection's first message.
pub(super) const EARLY_MAX: usize = 16;

/// One direction of a connection: received bytes not yet passed on, and their framing.
#[derive(Default)]
pub(super) struct Side {
    pub buf: Vec<u8>,
    framing: Framing,
    pub eof: bool,
    /// This side's share of [`Stats::buffered`].
    pub accounted: usize,
}

/// What became of the connection after a side's bytes were passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Continue,
    Close(Why),
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The stream cannot be framed as SIP.
    Unframable(StreamError),
    /// The onward connection could not be opened.
    Onward,
    /// Sending failed.
    Send,
}

/// Where a connection's bytes go.
pub(super) trait Io {
    /// Whether the onward connection is open.
    fn is_open(&self) -> bool;
    /// Opens the onward connection for the phone whose first message (or first bytes
    /// of one) `first` is; false: it could not be opened, close.
    fn open(&mut self, first: &[u8]) -> bool;
    /// Sends `bytes` on in `direction`.
    fn send(&mut self, direction: Direction, bytes: &[u8]) -> io::Result<()>;
    /// One whole message crossing in `direction`: the bytes to send instead, or None
    /// to send it unchanged.
    fn message(&mut self, direction: Direction, message: &[u8]) -> Option<Vec<u8>>;
}

/// Passes on what can be decided about the front of `side`'s bytes, and accounts for
/// what it still holds.
pub(super) fn pass(
    io: &mut impl Io,
    side: &mut Side,
    direction: Direction,
    limits: &Limits,
    stats: &Stats,
) -> Outcome {
    let outcome = pass_front(io, side, direction, limits, stats);
    if side.buf.capacity() > KEEP_CAPACITY && side.buf.len() <= KEEP_CAPACITY / 2 {
        side.buf.shrink_to(KEEP_CAPACITY);
    }
    stats.account(&mut side.accounted, side.buf.len());
    outcome
}

fn pass_front(
    io: &mut impl Io,
    side: &mut Side,
    direction: Direction,
    limits: &Limits,
    stats: &Stats,
) -> Outcome {
    loop {
        let hold = conn::hold(limits, stats.buffered.load(Ordering::Relaxed));
        let n = match side.framing.step(&side.buf, limits, hold) {
            Step::Wait => return Outcome::Continue,
            Step::Close(e) => {
                stats.closed_unframable.fetch_add(1, Ordering::Relaxed);
                return Outcome::Close(Why::Unframable(e));
            }
            Step::Raw(n) => {
                if let Err(why) = raw(io, direction, &side.buf[..n]) {
                    return Outcome::Close(why);
                }
                n
            }
            Step::Message(n) => {
                if let Err(why) = message(io, direction, &side.buf[..n], stats) {
                    return Outcome::Close(why);
                }
                n
            }
        };
        side.buf.drain(..n);
    }
}

/// Bytes passed on as they are: keep-alives, or part of a message too large to hold
/// (whose first bytes, from the phone, open the onward connection).
fn raw(io: &mut impl Io, direction: Direction, bytes: &[u8]) -> Result<(), Why> {
    let message = !matches!(bytes.first(), Some(b'\r' | b'\n'));
    if direction == Direction::Outbound && !io.is_open() && message && !io.open(bytes) {
        return Err(Why::Onward);
    }
    io.send(direction, bytes).map_err(|_| Why::Send)
}

/// One whole message: through the engine, then on.
fn message(io: &mut impl Io, direction: Direction, m: &[u8], stats: &Stats) -> Result<(), Why> {
    if !io.is_open() && !io.open(m) {
        return Err(Why::Onward);
    }
    stats.messages.fetch_add(1, Ordering::Relaxed);
    let sent = match io.message(direction, m) {
        Some(o) => {
            stats.rewritten.fetch_add(1, Ordering::Relaxed);
            io.send(direction, &o)
        }
        None => io.send(direction, m),
    };
    sent.map_err(|_| Why::Send)
}

/// Keep-alives the phone sent before its first message: passed on once the onward
/// connection is open. A few bytes at most: a phone that sends nothing but keep-alives
/// gets no more than [`EARLY_MAX`] of them.
#[derive(Debug, Default)]
pub(super) struct Early(Vec<u8>);

impl Early {
    pub fn keep(&mut self, bytes: &[u8]) {
        let room = EARLY_MAX.saturating_sub(self.0.len());
        self.0.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What was kept (and nothing is kept any more).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Inbound, Outbound};

    /// Records what the glue asks of the sockets and the engine.
    #[derive(Default)]
    struct Recorder {
        open: bool,
        /// What `open` answers.
        can_open: bool,
        /// Sends fail.
        broken: bool,
        opened_with: Vec<Vec<u8>>,
        sent: Vec<(Direction, Vec<u8>)>,
        engine: Vec<(Direction, Vec<u8>)>,
        /// The engine rewrites messages to this.
        rewrite: Option<Vec<u8>>,
    }

    impl Io for Recorder {
        fn is_open(&self) -> bool {
            self.open
        }
        fn open(&mut self, first: &[u8]) -> bool {
            self.opened_with.push(first.to_vec());
            self.open = self.can_open;
            self.can_open
        }
        fn send(&mut self, direction: Direction, bytes: &[u8]) -> io::Result<()> {
            if self.broken {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.sent.push((direction, bytes.to_vec()));
            Ok(())
        }
        fn message(&mut self, direction: Direction, message: &[u8]) -> Option<Vec<u8>> {
            self.engine.push((direction, message.to_vec()));
            self.rewrite.clone()
        }
    }

    fn recorder() -> Recorder {
        Recorder {
            can_open: true,
            ..Recorder::default()
        }
    }

    const ACK: &[u8] = b"ACK sip:b SIP/2.0\r\nl: 2\r\n\r\nok";

    fn side(bytes: &[u8]) -> Side {
        Side {
            buf: bytes.to_vec(),
            ..Side::default()
        }
    }

    fn run(io: &mut Recorder, s: &mut Side, d: Direction, stats: &Stats) -> Outcome {
        pass(io, s, d, &Limits::default(), stats)
    }

    #[test]
    fn keep_alives_before_the_first_message_do_not_open_the_onward_connection() {
        let (mut io, stats) = (recorder(), Stats::default());
        let mut s = side(b"\r\n\r\n");
        assert_eq!(run(&mut io, &mut s, Outbound, &stats), Outcome::Continue);
        assert!(io.opened_with.is_empty());
        assert_eq!(io.sent, vec![(Outbound, b"\r\n\r\n".to_vec())]);
        assert!(s.buf.is_empty());
        assert_eq!(stats.counts().messages, 0);
    }

    #[test]
    fn the_first_message_opens_the_onward_connection_and_goes_through_the_engine() {
        let (mut io, stats) = (recorder(), Stats::default());
        let mut bytes = ACK.to_vec();
        bytes.extend_from_slice(b"\r\n\r\nBYE");
        let mut s = side(&bytes);
        assert_eq!(run(&mut io, &mut s, Outbound, &stats), Outcome::Continue);
        assert_eq!(io.opened_with, vec![ACK.to_vec()]);
        assert_eq!(io.engine, vec![(Outbound, ACK.to_vec())]);
        assert_eq!(
            io.sent,
            vec![(Outbound, ACK.to_vec()), (Outbound, b"\r\n\r\n".to_vec())],
            "unchanged: the engine left it alone"
        );
        assert_eq!(s.buf, b"BYE", "the start of the next message waits");
        let c = stats.counts();
        assert_eq!((c.messages, c.rewritten), (1, 0));
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 3);
        assert_eq!(s.accounted, 3);
    }

    #[test]
    fn a_rewritten_message_is_sent_instead_and_counted() {
        let (mut io, stats) = (recorder(), Stats::default());
        io.open = true;
        io.rewrite = Some(b"REWRITTEN".to_vec());
        let mut s = side(ACK);
        assert_eq!(run(&mut io, &mut s, Inbound, &stats), Outcome::Continue);
        assert!(io.opened_with.is_empty(), "already open");
        assert_eq!(io.engine, vec![(Inbound, ACK.to_vec())]);
        assert_eq!(io.sent, vec![(Inbound, b"REWRITTEN".to_vec())]);
        let c = stats.counts();
        assert_eq!((c.messages, c.rewritten), (1, 1));
    }

    #[test]
    fn a_message_split_across_reads_waits_and_is_accounted() {
        let (mut io, stats) = (recorder(), Stats::default());
        let mut s = side(&ACK[..10]);
        assert_eq!(run(&mut io, &mut s, Outbound, &stats), Outcome::Continue);
        assert!(io.sent.is_empty() && io.engine.is_empty() && io.opened_with.is_empty());
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 10);
        s.buf.extend_from_slice(&ACK[10..]);
        assert_eq!(run(&mut io, &mut s, Outbound, &stats), Outcome::Continue);
        assert_eq!(io.engine, vec![(Outbound, ACK.to_vec())]);
        assert_eq!(stats.buffered.load(Ordering::Relaxed), 0);
        assert_eq!(s.accounted, 0);
    }

    #[test]
    fn an_oversized_message_streams_through_unchanged_and_opens_on_its_first_bytes() {
        let (mut io, stats) = (recorder(), Stats::default());
        let limits = Limits {
            max_message: 64,
            ..Limits::default()
        };
        let big = b"MESSAGE sip:b SIP/2.0\r\nl: 100\r\n\r\n0123456789";
        let mut s = side(big);
        assert_eq!(
            pass(&mut io, &mut s, Outbound, &limits, &stats),
            Outcome::Continue
        );
        assert_eq!(io.opened_with, vec![big.to_vec()]);
        assert_eq!(io.sent, vec![(Outbound, big.to_vec())]);
        assert!(io.engine.is_empty(), "too large to hold: not rewritten");
        // The rest of its body, even if it starts with a line feed, is passed on.
        s.buf.extend_from_slice(&[b'\n'; 90]);
        pass(&mut io, &mut s, Outbound, &limits, &stats);
        assert_eq!(io.sent[1], (Outbound, vec![b'\n'; 90]));
        assert_eq!(stats.counts().messages, 0);
    }

    #[test]
    fn over_the_budget_a_large_message_passes_unchanged() {
        let (mut io, stats) = (recorder(), Stats::default());
        io.open = true;
        let limits = Limits {
            budget: 100,
            small_message: 20,
            ..Limits::default()
        };
        stats.buffered.store(100, Ordering::Relaxed);
        let mut s = side(ACK);
        pass(&mut io, &mut s, Inbound, &limits, &stats);
        assert!(io.engine.is_empty());
        assert_eq!(io.sent, vec![(Inbound, ACK.to_vec())]);
        stats.buffered.store(99, Ordering::Relaxed);
        let mut s = side(ACK);
        pass(&mut io, &mut s, Inbound, &limits, &stats);
        assert_eq!(io.engine, vec![(Inbound, ACK.to_vec())], "under it: held");
    }

    #[test]
    fn an_unframable_stream_closes_and_is_counted() {
        let (mut io, stats) = (recorder(), Stats::default());
        let mut s = side(b"A sip:b SIP/2.0\r\nl: -1\r\n\r\n");
        assert_eq!(
            run(&mut io, &mut s, Outbound, &stats),
            Outcome::Close(Why::Unframable(StreamError::BadContentLength))
        );
        assert!(io.sent.is_empty());
        assert_eq!(stats.counts().closed_unframable, 1);
        assert_eq!(
            stats.buffered.load(Ordering::Relaxed),
            s.buf.len(),
            "held until the connection is gone"
        );
    }

    #[test]
    fn no_onward_connection_closes_before_anything_is_sent() {
        let (mut io, stats) = (Recorder::default(), Stats::default());
        let mut s = side(ACK);
        assert_eq!(
            run(&mut io, &mut s, Outbound, &stats),
            Outcome::Close(Why::Onward)
        );
        assert!(io.sent.is_empty() && io.engine.is_empty());
        assert_eq!(stats.counts().messages, 0);
        // Nor for the first bytes of an oversized message.
        let limits = Limits {
            max_message: 16,
            ..Limits::default()
        };
        let mut s = side(ACK);
        assert_eq!(
            pass(&mut io, &mut s, Outbound, &limits, &stats),
            Outcome::Close(Why::Onward)
        );
        assert!(io.sent.is_empty());
    }

    #[test]
    fn a_failed_send_closes() {
        let (mut io, stats) = (recorder(), Stats::default());
        io.broken = true;
        assert_eq!(
            run(&mut io, &mut side(ACK), Outbound, &stats),
            Outcome::Close(Why::Send)
        );
        assert_eq!(
            run(&mut io, &mut side(b"\r\n"), Inbound, &stats),
            Outcome::Close(Why::Send)
        );
    }

    #[test]
    fn a_drained_buffer_gives_its_capacity_back() {
        let (mut io, stats) = (recorder(), Stats::default());
        let mut s = side(ACK);
        s.buf.reserve(4 * KEEP_CAPACITY);
        run(&mut io, &mut s, Outbound, &stats);
        assert!(s.buf.is_empty());
        assert!(s.buf.capacity() <= KEEP_CAPACITY);
        // A buffer still holding more than half of that keeps its room.
        let mut s = side(&vec![b'x'; KEEP_CAPACITY / 2 + 1]);
        s.buf.reserve(4 * KEEP_CAPACITY);
        let cap = s.buf.capacity();
        run(&mut io, &mut s, Outbound, &stats);
        assert_eq!(s.buf.capacity(), cap);
    }

    #[test]
    fn early_keep_alives_are_kept_up_to_a_few_bytes() {
        let mut e = Early::default();
        e.keep(b"\r\n\r\n");
        e.keep(&[b'\n'; 20]);
        let kept = e.take();
        assert_eq!(kept.len(), EARLY_MAX);
        assert_eq!(&kept[..4], b"\r\n\r\n");
        assert!(e.take().is_empty(), "taken once");
        e.keep(b"\r\n");
        assert_eq!(e.take(), b"\r\n");
    }
}
