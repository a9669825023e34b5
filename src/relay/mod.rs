//! The TCP relay: SIP over TCP between the LAN and the WAN goes through sipalgd, which
//! owns both connections and so can change message lengths without TCP sequence
//! tricks (NFQUEUE cannot: the kernel adjusts sequence numbers only with conntrack glue
//! and a helper, which OpenWrt's and many other kernels lack).
//!
//! nft's `tproxy` statement (table `inet sipalg`, see [`crate::daemon::ruleset`])
//! hands a LAN phone's connection to the provider to the transparent listener here,
//! keeping the provider's address as the accepted socket's local address. When no
//! transparent socket listens (the daemon is stopped or crashed), `tproxy` diverts
//! nothing and new connections are simply forwarded: fail-open.
//!
//! Each connection gets a thread (bounded by [`MAX_CONNECTIONS`]). On the phone's
//! first message the onward connection is opened from the router's WAN address and
//! the public port the daemon's state gives the phone (the same policy as its UDP
//! signalling), and each message is then run through the engine in its direction.
//! The decisions (framing, limits, timeouts) are pure, in [`conn`]; this is the edge.

pub mod conn;

use crate::engine::Direction;
use crate::sys::{cvt, setsockopt};
use conn::{Framing, Limits, Step};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The transparent listener's port on 127.0.0.1 (the `tproxy` target).
pub const RELAY_PORT: u16 = 5059;
/// Connections relayed at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 128;
/// How long the onward connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that cannot make progress this long closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const CHUNK: usize = 4096;
/// Keep-alive bytes kept from before a connection's first message.
const EARLY_MAX: usize = 16;
/// A buffer's capacity is given back beyond this once it has drained.
const KEEP_CAPACITY: usize = 8192;

/// What a connection knows about its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    /// The phone's signalling endpoint: its address and the port its Via names.
    pub phone: SocketAddrV4,
    /// The phone's side of the TCP connection (address, source port).
    pub source: SocketAddrV4,
    /// The far end the phone connected to.
    pub peer: SocketAddrV4,
    /// What the phone appears as on the WAN (advertised address, public port).
    pub public: SocketAddrV4,
}

/// Where the onward connection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Onward {
    /// The router's WAN address and the public port to bind.
    pub bind: SocketAddrV4,
    /// The address messages advertise (`external_address`, else the WAN address).
    pub advertised: Ipv4Addr,
}

/// The daemon's side of the relay: its state and engine.
pub trait Handler: Send + Sync + 'static {
    /// Seconds of the daemon's monotonic clock.
    fn now(&self) -> u64;
    /// The onward endpoint for `phone`, or None (no WAN address: close).
    fn open(&self, phone: SocketAddrV4) -> Option<Onward>;
    /// One whole message crossing in `direction`: the bytes to send instead, or None
    /// to send it unchanged.
    fn message(&self, direction: Direction, conn: &Conn, message: &[u8]) -> Option<Vec<u8>>;
    /// The connection is gone (its public port may be given back).
    fn closed(&self, conn: &Conn);
}

/// Counters, shown by `sipalgd status`. `AtomicUsize`, not `AtomicU64`: 32-bit MIPS
/// (ath79, ramips) has no 64-bit atomics (the cross stage builds for it).
#[derive(Debug, Default)]
pub struct Stats {
    pub active: AtomicUsize,
    /// Bytes held in all connections' buffers.
    pub buffered: AtomicUsize,
    pub accepted: AtomicUsize,
    pub refused: AtomicUsize,
    pub messages: AtomicUsize,
    pub rewritten: AtomicUsize,
    pub closed_unframable: AtomicUsize,
    pub timed_out: AtomicUsize,
    pub onward_failed: AtomicUsize,
    /// The connections being relayed (with an onward connection), and since when.
    open: Mutex<Vec<(Conn, u64)>>,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub active: u64,
    pub accepted: u64,
    pub refused: u64,
    pub messages: u64,
    pub rewritten: u64,
    pub closed_unframable: u64,
    pub timed_out: u64,
    pub onward_failed: u64,
}

impl Stats {
    /// The connections being relayed, oldest first, with the time each was opened.
    pub fn connections(&self) -> Vec<(Conn, u64)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn opened(&self, c: Conn, now: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((c, now));
    }

    fn closed(&self, c: &Conn) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open
            .iter()
            .position(|(o, _)| o.source == c.source && o.peer == c.peer)
        {
            open.remove(i);
        }
    }

    pub fn counts(&self) -> Counts {
        let l = |a: &AtomicUsize| a.load(Ordering::Relaxed) as u64;
        Counts {
            active: self.active.load(Ordering::Relaxed) as u64,
            accepted: l(&self.accepted),
            refused: l(&self.refused),
            messages: l(&self.messages),
            rewritten: l(&self.rewritten),
            closed_unframable: l(&self.closed_unframable),
            timed_out: l(&self.timed_out),
            onward_failed: l(&self.onward_failed),
        }
    }
}

struct Ctx {
    handler: Arc<dyn Handler>,
    stats: Arc<Stats>,
    limits: Limits,
    keepalive_idle: u32,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    setsockopt(fd, level, name, &v)
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { core::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

fn tcp_socket() -> io::Result<RawFd> {
    // SAFETY: plain socket(2).
    cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })
}

fn bind(fd: RawFd, a: SocketAddrV4) -> io::Result<()> {
    let s = sockaddr(a);
    // SAFETY: a valid sockaddr_in of the stated length.
    cvt(unsafe {
        libc::bind(
            fd,
            (&s as *const libc::sockaddr_in).cast(),
            core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// The transparent listener on 127.0.0.1:`port`.
pub fn listen(port: u16) -> io::Result<TcpListener> {
    let fd = tcp_socket()?;
    // SAFETY: fd was just created and is owned by the listener from here on.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    setsockopt_int(fd, libc::SOL_IP, libc::IP_TRANSPARENT, 1)?;
    bind(fd, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    // SAFETY: listen(2) on our socket.
    cvt(unsafe { libc::listen(fd, 128) })?;
    Ok(listener)
}

/// Starts accepting diverted connections on `listener`; returns at once.
pub fn start(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    stats: Arc<Stats>,
    limits: Limits,
    keepalive_idle: u32,
) -> io::Result<()> {
    let ctx = Arc::new(Ctx {
        handler,
        stats,
        limits,
        keepalive_idle,
    });
    std::thread::Builder::new()
        .name("tcp-relay".into())
        .spawn(move || accept_loop(listener, ctx))?;
    Ok(())
}

fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                log::debug!("tcp relay: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if ctx.stats.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        ctx.stats.active.fetch_add(1, Ordering::SeqCst);
        let c = Arc::clone(&ctx);
        let spawned = std::thread::Builder::new()
            .name("tcp-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                relay(stream, &c);
                c.stats.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log::warn!("tcp relay: cannot start a connection thread: {e}");
            ctx.stats.active.fetch_sub(1, Ordering::SeqCst);
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

fn tune(s: &TcpStream, keepalive_idle: u32) {
    let fd = s.as_raw_fd();
    let _ = s.set_nodelay(true);
    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
    let idle = keepalive_idle.max(1) as libc::c_int;
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    let _ = setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle);
    let _ = setsockopt_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        (idle / 3).max(1),
    );
    let _ = setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4);
}

/// Opens the onward connection from `bind` (falling back to any port when that one is
/// taken, or below 1024: binding those needs CAP_NET_BIND_SERVICE, which sipalgd runs
/// without; the provider answers on the connection either way) to `peer`.
fn connect(bind_to: SocketAddrV4, peer: SocketAddrV4) -> io::Result<TcpStream> {
    let attempt = |b: SocketAddrV4| -> io::Result<TcpStream> {
        let fd = tcp_socket()?;
        // SAFETY: fd was just created; the stream owns it from here on.
        let s = unsafe { TcpStream::from_raw_fd(fd) };
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        bind(fd, b)?;
        s.set_nonblocking(true)?;
        let a = sockaddr(peer);
        // SAFETY: a valid sockaddr_in of the stated length.
        let r = unsafe {
            libc::connect(
                fd,
                (&a as *const libc::sockaddr_in).cast(),
                core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            let mut p = [libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(p.as_mut_ptr(), 1, CONNECT_TIMEOUT.as_millis() as i32) };
            if n <= 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
        }
        s.set_nonblocking(false)?;
        Ok(s)
    };
    match attempt(bind_to) {
        Err(e)
            if e.raw_os_error() == Some(libc::EADDRINUSE)
                || e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
                || e.raw_os_error() == Some(libc::EACCES) =>
        {
            attempt(SocketAddrV4::new(*bind_to.ip(), 0))
        }
        r => r,
    }
}

/// One direction of a connection: received bytes not yet passed on, and their framing.
#[derive(Default)]
struct Side {
    buf: Vec<u8>,
    framing: Framing,
    eof: bool,
    /// This side's share of [`Stats::buffered`].
    accounted: usize,
}

enum Outcome {
    Continue,
    Close,
}

struct Relay<'a> {
    ctx: &'a Ctx,
    down: TcpStream,
    up: Option<TcpStream>,
    conn: Conn,
    source: SocketAddrV4,
    peer: SocketAddrV4,
    had_message: bool,
    last: u64,
    /// Keep-alives the phone sent before its first message (passed on once the onward
    /// connection is open; a few bytes at most).
    early: Vec<u8>,
}

fn relay(down: TcpStream, ctx: &Ctx) {
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
        early: Vec::new(),
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
                libc::pollfd {
                    fd: self.down.as_raw_fd(),
                    events: if from_phone.eof { 0 } else { libc::POLLIN },
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.up.as_ref().map_or(-1, |u| u.as_raw_fd()),
                    events: if from_peer.eof { 0 } else { libc::POLLIN },
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds (a negative fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
            let now = self.ctx.handler.now();
            let ready =
                |f: &libc::pollfd| f.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
            if ready(&fds[0]) {
                match (&self.down).read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => from_phone.eof = true,
                    Ok(n) => {
                        from_phone.buf.extend_from_slice(&chunk[..n]);
                        self.last = now;
                    }
                }
                if let Outcome::Close = self.pass(from_phone, Direction::Outbound) {
                    return;
                }
            }
            if ready(&fds[1]) {
                let Some(up) = self.up.as_ref() else { return };
                match (&*up).read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => from_peer.eof = true,
                    Ok(n) => {
                        from_peer.buf.extend_from_slice(&chunk[..n]);
                        self.last = now;
                    }
                }
                if let Outcome::Close = self.pass(from_peer, Direction::Inbound) {
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

    /// Passes on what can be decided about the front of `side`'s bytes, and accounts
    /// for what it still holds.
    fn pass(&mut self, side: &mut Side, direction: Direction) -> Outcome {
        let outcome = self.pass_front(side, direction);
        if side.buf.capacity() > KEEP_CAPACITY && side.buf.len() <= KEEP_CAPACITY / 2 {
            side.buf.shrink_to(KEEP_CAPACITY);
        }
        let (now, before) = (side.buf.len(), side.accounted);
        let buffered = &self.ctx.stats.buffered;
        if now > before {
            buffered.fetch_add(now - before, Ordering::Relaxed);
        } else {
            buffered.fetch_sub(before - now, Ordering::Relaxed);
        }
        side.accounted = now;
        outcome
    }

    fn pass_front(&mut self, side: &mut Side, direction: Direction) -> Outcome {
        loop {
            let hold = conn::hold(
                &self.ctx.limits,
                self.ctx.stats.buffered.load(Ordering::Relaxed),
            );
            let step = side.framing.step(&side.buf, &self.ctx.limits, hold);
            let n = match step {
                Step::Wait => return Outcome::Continue,
                Step::Close(e) => {
                    log::info!(
                        "tcp relay {} -> {}: closing, the stream cannot be framed ({e:?})",
                        self.source,
                        self.peer
                    );
                    self.ctx
                        .stats
                        .closed_unframable
                        .fetch_add(1, Ordering::Relaxed);
                    return Outcome::Close;
                }
                Step::Raw(n) => {
                    let message = !matches!(side.buf.first(), Some(b'\r' | b'\n'));
                    if direction == Direction::Outbound
                        && self.up.is_none()
                        && message
                        && !self.open(&side.buf[..n])
                    {
                        return Outcome::Close;
                    }
                    if self.send(direction, &side.buf[..n]).is_err() {
                        return Outcome::Close;
                    }
                    n
                }
                Step::Message(n) => {
                    if self.up.is_none() && !self.open(&side.buf[..n]) {
                        return Outcome::Close;
                    }
                    self.had_message = true;
                    self.ctx.stats.messages.fetch_add(1, Ordering::Relaxed);
                    let out = self
                        .ctx
                        .handler
                        .message(direction, &self.conn, &side.buf[..n]);
                    let sent = match &out {
                        Some(o) => {
                            self.ctx.stats.rewritten.fetch_add(1, Ordering::Relaxed);
                            self.send(direction, o)
                        }
                        None => self.send(direction, &side.buf[..n]),
                    };
                    if sent.is_err() {
                        return Outcome::Close;
                    }
                    n
                }
            };
            side.buf.drain(..n);
        }
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
                if !self.early.is_empty() && (&s).write_all(&self.early).is_err() {
                    self.ctx.stats.onward_failed.fetch_add(1, Ordering::Relaxed);
                    self.ctx.handler.closed(&self.conn);
                    return false;
                }
                self.early = Vec::new();
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
                // Keep-alives before the first message: kept for the onward connection
                // (a phone that sends nothing but keep-alives gets no more than this).
                None => {
                    let room = EARLY_MAX.saturating_sub(self.early.len());
                    self.early
                        .extend_from_slice(&bytes[..bytes.len().min(room)]);
                    Ok(())
                }
            },
            Direction::Inbound => (&self.down).write_all(bytes),
        }
    }
}
