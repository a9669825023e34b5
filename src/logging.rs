//! Logging: the `log` facade to syslog, or to stderr.
//!
//! [`init`] installs one global [`log::Log`]. When the log socket (`/dev/log`, or
//! the path in `SIPALG_LOG_SOCKET`) exists, every record goes to syslog as facility
//! daemon, ident `sipalgd`, with the PID, so `logread -e sipalgd` finds it. Otherwise
//! records go to stderr as `sipalgd: <level>: <message>`. When stderr is a terminal
//! (the daemon run by hand), records go to both places, like `openlog(LOG_PERROR)`.
//!
//! # Why not the `syslog` crate
//!
//! The `syslog` crate connects once and never reconnects. When the log daemon
//! restarts (OpenWrt's `logd` unlinks and binds `/dev/log` again; so does rsyslog),
//! every later message is lost, and the crate drops the send error without a word
//! (Geal/rust-syslog issue #21, open; reproduced in docs/dependencies.md). It also fails if it
//! starts before the log daemon. `libc::syslog` does reconnect (musl and glibc both
//! do), but its socket blocks: with a log daemon that does not read, the 12th record
//! blocked until the program was killed (measured, docs/dependencies.md), which here
//! would stall the packet path. procd's `stderr 1` would log every line as `LOG_ERR`
//! (openwrt/procd `service/instance.c`) through the same blocking path.
//!
//! So [`SyslogWriter`] owns a Unix datagram socket connected to the log socket path.
//! It is non-blocking, so a stuck log daemon can never stall the packet path. On any
//! send error (ECONNREFUSED, ENOTCONN, ENOENT, EPIPE, EAGAIN…) it reconnects once and
//! retries. If that fails too, the global logger writes the record to stderr. It
//! counts a record in [`dropped`] only when stderr fails as well.
//!
//! # Wire format
//!
//! One datagram per record: `<PRI>Mmm dd hh:mm:ss sipalgd[PID]: message`. This is
//! the RFC 3164 local format that glibc's and musl's `syslog()` send. It has no
//! trailing newline and no NUL. The timestamp is not optional in practice. OpenWrt's
//! `logd` (ubox `log/syslog.c`) does not parse a timestamp. After `<PRI>`, it cuts
//! 16 bytes whenever byte 15 is a space. Without a timestamp,
//! `sipalgd[12345]: ` (any 5-digit PID) is exactly 16 bytes, so logd would strip
//! the ident and `logread -e sipalgd` would miss the record. With the timestamp,
//! logd strips exactly the timestamp. rsyslog and busybox syslogd parse it, and use
//! the time of reception when they do not find a valid one.
//!
//! A message becomes one record. `\n`, `\r` and NUL become spaces (logd reads each
//! record as a C string). Trailing newlines are removed. The message is truncated
//! to [`MAX_MESSAGE`] bytes, at a character boundary.

use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The system log socket.
pub const DEFAULT_SOCKET: &str = "/dev/log";
/// Environment variable that overrides [`DEFAULT_SOCKET`] (tests, containers).
pub const SOCKET_ENV: &str = "SIPALG_LOG_SOCKET";
/// The syslog ident (tag).
pub const IDENT: &str = "sipalgd";
/// Longest message body sent, in bytes; longer messages are truncated.
pub const MAX_MESSAGE: usize = 1024;
/// Facility daemon (`LOG_DAEMON`, 3 << 3), as `libc::LOG_DAEMON`.
pub const FACILITY_DAEMON: i32 = 3 << 3;

/// Where [`init`] sends records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Syslog at this socket path. Records that syslog does not take go to stderr.
    Syslog(PathBuf),
    /// Stderr only: there was no log socket at startup.
    Stderr,
}

// AtomicUsize, not AtomicU64: 32-bit MIPS (ath79, ramips) has no 64-bit atomics.
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the global logger, once, and sets the level.
///
/// The socket is `$SIPALG_LOG_SOCKET` if that is set and not empty, else `/dev/log`.
/// If the socket does not exist, the logger uses stderr. `init` never fails.
/// A second call only changes the level and returns the first call's target.
pub fn init(level: LevelFilter) -> Target {
    let socket = std::env::var_os(SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SOCKET), PathBuf::from);
    init_at(level, &socket)
}

/// Like [`init`], with an explicit log socket path.
pub fn init_at(level: LevelFilter, socket: &Path) -> Target {
    let logger = LOGGER.get_or_init(|| Logger::new(socket, std::io::stderr().is_terminal()));
    // set_logger fails only if a logger is already installed (ours, by an earlier call).
    let _ = log::set_logger(logger);
    log::set_max_level(level);
    logger.target()
}

/// Changes the level of the installed logger (for a SIGHUP reload).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// Counts records that went nowhere: syslog and stderr both failed.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed) as u64
}

/// The syslog severity of a `log` level. Debug and trace are both `LOG_DEBUG`.
pub fn severity(level: Level) -> i32 {
    match level {
        Level::Error => 3,                // LOG_ERR
        Level::Warn => 4,                 // LOG_WARNING
        Level::Info => 6,                 // LOG_INFO
        Level::Debug | Level::Trace => 7, // LOG_DEBUG
    }
}

/// A datagram connection to a syslog socket that reconnects when it needs to.
///
/// This is the testable core of the logger. It never blocks and never panics.
#[derive(Debug)]
pub struct SyslogWriter {
    path: PathBuf,
    ident: String,
    facility: i32,
    pid: u32,
    sock: Option<UnixDatagram>,
    buf: Vec<u8>,
}

impl SyslogWriter {
    /// A writer to the socket at `path`. `facility` is pre-shifted, as `libc::LOG_DAEMON`.
    ///
    /// It tries to connect now. If that fails, it tries again on each send.
    pub fn new(path: impl Into<PathBuf>, ident: &str, facility: i32) -> Self {
        let mut w = SyslogWriter {
            path: path.into(),
            ident: ident.to_string(),
            facility: facility & 0x3f8, // LOG_FACMASK
            pid: std::process::id(),
            sock: None,
            buf: Vec::with_capacity(128 + MAX_MESSAGE),
        };
        w.sock = connect(&w.path).ok();
        w
    }

    /// The log socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one record. On any error it reconnects once and retries. If the retry
    /// fails, it returns that error; the caller decides where the message goes.
    pub fn send(&mut self, level: Level, msg: &str) -> io::Result<()> {
        self.buf.clear();
        let pri = self.facility | severity(level);
        let _ = write!(self.buf, "<{pri}>");
        push_timestamp(&mut self.buf);
        let _ = write!(self.buf, "{}[{}]: ", self.ident, self.pid);
        push_message(&mut self.buf, msg);

        let fresh = self.sock.is_none();
        match self.try_send() {
            Err(_) if !fresh => self.try_send(),
            r => r,
        }
    }

    /// One attempt: connect if not connected, then send. Any error disconnects.
    fn try_send(&mut self) -> io::Result<()> {
        let r = match &self.sock {
            Some(s) => s.send(&self.buf),
            None => connect(&self.path).and_then(|s| {
                let r = s.send(&self.buf);
                self.sock = Some(s);
                r
            }),
        };
        match r {
            Ok(n) if n == self.buf.len() => Ok(()),
            Ok(_) => {
                self.sock = None;
                Err(io::Error::new(io::ErrorKind::WriteZero, "short datagram"))
            }
            Err(e) => {
                self.sock = None;
                Err(e)
            }
        }
    }
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.set_nonblocking(true)?;
    s.connect(path)?;
    Ok(s)
}

/// Truncates `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends the message as one line: no trailing newline, `\n`, `\r` and NUL as
/// spaces, truncated to [`MAX_MESSAGE`] bytes. The mapped bytes are ASCII, so they
/// never occur inside a multi-byte UTF-8 character.
fn push_message(buf: &mut Vec<u8>, msg: &str) {
    let msg = truncate(msg.trim_end_matches(['\n', '\r']), MAX_MESSAGE);
    buf.extend(msg.bytes().map(|b| match b {
        b'\n' | b'\r' | 0 => b' ',
        b => b,
    }));
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Appends the local time as `Mmm dd hh:mm:ss ` (16 bytes, day padded with a space).
fn push_timestamp(buf: &mut Vec<u8>) {
    // SAFETY: time(NULL) only reads the clock. localtime_r writes only into `tm`.
    // A zeroed `tm` is a valid value (tm_zone, on musl, is then a null pointer).
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            tm = std::mem::zeroed();
            tm.tm_mday = 1;
        }
        tm
    };
    push_tm(buf, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

fn push_tm(buf: &mut Vec<u8>, mon: i32, mday: i32, hour: i32, min: i32, sec: i32) {
    let month = MONTHS[mon.clamp(0, 11) as usize];
    let _ = write!(
        buf,
        "{month} {:>2} {:02}:{:02}:{:02} ",
        mday.clamp(1, 31),
        hour.clamp(0, 23),
        min.clamp(0, 59),
        sec.clamp(0, 60)
    );
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// Writes `sipalgd: <level>: <message>\n` to fd 2. Returns false if that failed.
///
/// It uses write(2) on fd 2, not `std::io::stderr()`, because std reports success
/// when fd 2 is closed, and such a record must count as dropped.
fn write_stderr(level: Level, msg: &str) -> bool {
    let mut line = Vec::with_capacity(msg.len().min(MAX_MESSAGE) + 24);
    let _ = write!(line, "{IDENT}: {}: ", level_name(level));
    push_message(&mut line, msg);
    line.push(b'\n');

    // Holding std's stderr lock keeps our lines whole among other stderr writers.
    let _guard = io::stderr().lock();
    let mut rest = &line[..];
    while !rest.is_empty() {
        // SAFETY: the pointer and length describe the live slice `rest`.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if n == 0 {
            return false;
        }
        rest = &rest[n as usize..];
    }
    true
}

struct Logger {
    syslog: Option<Mutex<SyslogWriter>>,
    /// Also copy every record to stderr (stderr is a terminal).
    echo: bool,
}

impl Logger {
    fn new(socket: &Path, echo: bool) -> Self {
        let syslog = socket
            .exists()
            .then(|| Mutex::new(SyslogWriter::new(socket, IDENT, FACILITY_DAEMON)));
        Logger { syslog, echo }
    }

    fn target(&self) -> Target {
        match &self.syslog {
            Some(w) => Target::Syslog(
                w.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .path()
                    .to_path_buf(),
            ),
            None => Target::Stderr,
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Format before taking the lock: a Display impl that logs must not deadlock.
        let formatted;
        let msg = match record.args().as_str() {
            Some(s) => s,
            None => {
                let mut s = String::new();
                let _ = write!(s, "{}", record.args());
                formatted = s;
                &formatted
            }
        };
        let level = record.level();
        let mut delivered = match &self.syslog {
            Some(w) => w
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .send(level, msg)
                .is_ok(),
            None => false,
        };
        if self.echo || !delivered {
            delivered |= write_stderr(level, msg);
        }
        if !delivered {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities() {
        assert_eq!(severity(Level::Error), libc::LOG_ERR);
        assert_eq!(severity(Level::Warn), libc::LOG_WARNING);
        assert_eq!(severity(Level::Info), libc::LOG_INFO);
        assert_eq!(severity(Level::Debug), libc::LOG_DEBUG);
        assert_eq!(severity(Level::Trace), libc::LOG_DEBUG);
        assert_eq!(FACILITY_DAEMON, libc::LOG_DAEMON);
    }

    #[test]
    fn truncation_at_char_boundary() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc");
        assert_eq!(truncate("aé", 2), "a"); // é is 2 bytes: cut before it
        assert_eq!(truncate("a€b", 3), "a");
        assert_eq!(truncate("a€b", 4), "a€");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn message_is_one_line() {
        let mut b = Vec::new();
        push_message(&mut b, "a\nb\r\nc\0d\n\n");
        assert_eq!(b, b"a b  c d");
        let mut b = Vec::new();
        push_message(&mut b, &"é".repeat(MAX_MESSAGE));
        assert_eq!(b.len(), MAX_MESSAGE);
        assert!(std::str::from_utf8(&b).is_ok());
    }

    #[test]
    fn timestamp_format() {
        let mut b = Vec::new();
        push_tm(&mut b, 10, 2, 0, 2, 31);
        assert_eq!(b, b"Nov  2 00:02:31 ");
        let mut b = Vec::new();
        push_tm(&mut b, 0, 22, 13, 5, 9);
        assert_eq!(b, b"Jan 22 13:05:09 ");
        let mut b = Vec::new();
        push_timestamp(&mut b);
        assert_eq!(b.len(), 16);
        assert_eq!(b[15], b' ');
    }

    #[test]
    fn no_socket_means_stderr() {
        let l = Logger::new(Path::new("/nonexistent/sipalg/log"), false);
        assert_eq!(l.target(), Target::Stderr);
    }
}
