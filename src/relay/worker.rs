//! One relayed connection's thread: the phone's socket and the onward one, the `poll`
//! loop that reads them, and the [`Io`] the framing glue ([`super::pump`]) sends
//! through: the sockets, the onward connection's opening, and the daemon's engine.

use super::pump::{self, Early, Io, Outcome, Side, Why};
use super::socket::{connect, tune, v4};
use super::{conn, Conn, Ctx};
use crate::engine::Direction;
use crate::sys;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

const CHUNK: usize = 4096;

struct Relay<'a> {
    ctx: &'a Ctx,
    down: TcpStream,
    up: Option<TcpStream>,
    conn: Conn,
    source: SocketAddrV4,
    peer: SocketAddrV4,
    had_message: bool,
    last: u64,
    /// Keep-alives the phone sent before its first message.
    early: Early,
}

/// Relays one diverted connection (`down`, the phone's) until either side closes, it
/// cannot be framed, or it times out.
pub(super) fn relay(down: TcpStream, ctx: &Ctx) {
    let (Ok(Some(source)), Ok(Some(peer))) = (down.peer_addr().map(v4), down.local_addr().map(v4))
    else {
        return;
    };
    if peer.ip().is_loopback() || source.ip().is_loopback() {
        // Someone on the router connected to the listener itself: nothing to relay.
        return;
    }
    tune(&down, ctx.keepalive_idle);
    let mut r = Relay {
        ctx,
        down,
        up: None,
        conn: Conn {
            phone: source,
            source,
            peer,
            public: source,
        },
        source,
        peer,
        had_message: false,
        last: ctx.handler.now(),
        early: Early::default(),
    };
    r.run();
    if r.up.is_some() {
        ctx.stats.closed(&r.conn);
        ctx.handler.closed(&r.conn);
    }
    let _ = r.down.shutdown(Shutdown::Both);
    if let Some(u) = &r.up {
        let _ = u.shutdown(Shutdown::Both);
    }
}

/// Reads what `from` has into `side` (at the end of the stream, marks it); returns
/// whether bytes came.
fn read_into(mut from: &TcpStream, side: &mut Side, chunk: &mut [u8]) -> bool {
    match from.read(chunk) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
        Ok(0) | Err(_) => {
            side.eof = true;
            false
        }
        Ok(n) => {
            side.buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A `poll` entry for reading `fd` (none once its side has ended).
fn readable(fd: i32, eof: bool) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: if eof { 0 } else { libc::POLLIN },
        revents: 0,
    }
}

fn ready(f: &libc::pollfd) -> bool {
    f.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

impl Relay<'_> {
    fn run(&mut self) {
        let mut from_phone = Side::default();
        let mut from_peer = Side::default();
        self.run_sides(&mut from_phone, &mut from_peer);
        let held = from_phone.accounted + from_peer.accounted;
        self.ctx.stats.buffered.fetch_sub(held, Ordering::Relaxed);
    }

    fn run_sides(&mut self, from_phone: &mut Side, from_peer: &mut Side) {
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let mut fds = [
                readable(self.down.as_raw_fd(), from_phone.eof),
                readable(
                    self.up.as_ref().map_or(-1, |u| u.as_raw_fd()),
                    from_peer.eof,
                ),
            ];
            if let Err(e) = sys::poll(&mut fds, 1000) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
            let now = self.ctx.handler.now();
            if ready(&fds[0]) {
                if read_into(&self.down, from_phone, &mut chunk) {
                    self.last = now;
                }
                if !self.pass(from_phone, Direction::Outbound) {
                    return;
                }
            }
            if ready(&fds[1]) {
                let Some(up) = self.up.as_ref() else { return };
                if read_into(up, from_peer, &mut chunk) {
                    self.last = now;
                }
                if !self.pass(from_peer, Direction::Inbound) {
                    return;
                }
            }
            // A side that closed: what it sent has been passed on; close the other.
            if from_phone.eof || from_peer.eof {
                return;
            }
            if conn::timed_out(&self.ctx.limits, self.had_message, self.last, now) {
                self.ctx.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Passes `side`'s bytes on; false: close the connection.
    fn pass(&mut self, side: &mut Side, direction: Direction) -> bool {
        let (limits, stats) = (&self.ctx.limits, &self.ctx.stats);
        match pump::pass(self, side, direction, limits, stats) {
            Outcome::Continue => true,
            Outcome::Close(Why::Unframable(e)) => {
                log::info!(
                    "tcp relay {} -> {}: closing, the stream cannot be framed ({e:?})",
                    self.source,
                    self.peer
                );
                false
            }
            Outcome::Close(_) => false,
        }
    }
}

impl Io for Relay<'_> {
    fn is_open(&self) -> bool {
        self.up.is_some()
    }

    /// Opens the onward connection for the phone whose first message this is.
    fn open(&mut self, first: &[u8]) -> bool {
        let port = conn::listening_port(first).unwrap_or(self.source.port());
        let phone = SocketAddrV4::new(*self.source.ip(), port);
        let Some(onward) = self.ctx.handler.open(phone) else {
            self.ctx.stats.onward_failed.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        self.conn.phone = phone;
        self.conn.public = SocketAddrV4::new(onward.advertised, onward.bind.port());
        match connect(onward.bind, self.peer) {
            Ok(s) => {
                if let Ok(SocketAddr::V4(local)) = s.local_addr() {
                    self.conn.public = SocketAddrV4::new(onward.advertised, local.port());
                }
                tune(&s, self.ctx.keepalive_idle);
                let early = self.early.take();
                if !early.is_empty() && (&s).write_all(&early).is_err() {
                    self.ctx.stats.onward_failed.fetch_add(1, Ordering::Relaxed);
                    self.ctx.handler.closed(&self.conn);
                    return false;
                }
                self.up = Some(s);
                self.ctx.stats.opened(self.conn, self.ctx.handler.now());
                true
            }
            Err(e) => {
                log::info!(
                    "tcp relay: cannot connect {} -> {} from {}: {e}",
                    self.source,
                    self.peer,
                    onward.bind
                );
                self.ctx.stats.onward_failed.fetch_add(1, Ordering::Relaxed);
                self.ctx.handler.closed(&self.conn);
                false
            }
        }
    }

    fn send(&mut self, direction: Direction, bytes: &[u8]) -> io::Result<()> {
        match direction {
            Direction::Outbound => match self.up.as_ref() {
                Some(mut u) => u.write_all(bytes),
                None => {
                    self.early.keep(bytes);
                    Ok(())
                }
            },
            Direction::Inbound => (&self.down).write_all(bytes),
        }
    }

    fn message(&mut self, direction: Direction, message: &[u8]) -> Option<Vec<u8>> {
        self.had_message = true;
        self.ctx.handler.message(direction, &self.conn, message)
    }
}
