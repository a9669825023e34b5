//! The syslog writer against a fake log daemon: a `UnixDatagram` bound at a temp path.
//! No root needed. Covers the exact bytes per level, one line per message, truncation,
//! a log daemon restart (the property the `syslog` crate lacks), no daemon at all, a
//! daemon that does not read (never block), and the global logger with its stderr
//! fallback and drop count.

use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use log::{Level, LevelFilter};
use sipalg::logging::{self, SyslogWriter, Target, FACILITY_DAEMON, MAX_MESSAGE};

/// A fresh directory for one socket path, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sipalg-log-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn socket(&self) -> PathBuf {
        self.0.join("log")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake log daemon: binds the path like logd does (unlink, then bind).
fn daemon(path: &Path) -> UnixDatagram {
    let _ = std::fs::remove_file(path);
    let s = UnixDatagram::bind(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn recv(d: &UnixDatagram) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = d.recv(&mut buf).expect("the fake log daemon got nothing");
    buf.truncate(n);
    buf
}

fn nothing_pending(d: &UnixDatagram) -> bool {
    d.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let r = d.recv(&mut buf);
    d.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Checks `<PRI>Mmm dd hh:mm:ss ` and returns the rest as a string.
fn strip_header(datagram: &[u8], pri: u8) -> String {
    let text = String::from_utf8(datagram.to_vec()).unwrap();
    let prefix = format!("<{pri}>");
    let rest = text
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected {prefix} in {text:?}"));
    let ts = rest.as_bytes();
    assert!(ts.len() > 16, "no timestamp in {text:?}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&&rest[..3]), "month in {text:?}");
    let day = rest[4..6].trim_start().parse::<u32>().unwrap();
    assert!((1..=31).contains(&day), "day in {text:?}");
    assert!(ts[4] == b' ' || ts[4].is_ascii_digit());
    for (i, c) in ts[..16].iter().enumerate() {
        match i {
            3 | 6 | 15 => assert_eq!(*c, b' ', "timestamp shape in {text:?}"),
            9 | 12 => assert_eq!(*c, b':', "timestamp shape in {text:?}"),
            7 | 8 | 10 | 11 | 13 | 14 => assert!(c.is_ascii_digit(), "{text:?}"),
            _ => {}
        }
    }
    rest[16..].to_string()
}

fn body(msg: &str) -> String {
    format!("sipalgd[{}]: {msg}", std::process::id())
}

#[test]
fn exact_bytes_for_each_level() {
    let dir = TempDir::new("levels");
    let d = daemon(&dir.socket());
    let mut w = SyslogWriter::new(dir.socket(), "sipalgd", FACILITY_DAEMON);
    for (level, pri) in [
        (Level::Error, 27), // daemon (3 << 3) | LOG_ERR (3)
        (Level::Warn, 28),  // | LOG_WARNING (4)
        (Level::Info, 30),  // | LOG_INFO (6)
        (Level::Debug, 31), // | LOG_DEBUG (7)
        (Level::Trace, 31),
    ] {
        w.send(level, "boom").unwrap();
        let got = recv(&d);
        assert_eq!(strip_header(&got, pri), body("boom"));
        // Exactly: <PRI> + 16-byte timestamp + ident[pid]: msg, no newline, no NUL.
        assert_eq!(
            got.len(),
            format!("<{pri}>").len() + 16 + body("boom").len()
        );
    }
    assert_eq!(logging::severity(Level::Error), 3);
    assert_eq!(logging::severity(Level::Warn), 4);
    assert_eq!(logging::severity(Level::Info), 6);
    assert_eq!(logging::severity(Level::Debug), 7);
    assert_eq!(logging::severity(Level::Trace), 7);
}

#[test]
fn one_line_per_message_and_truncation() {
    let dir = TempDir::new("trunc");
    let d = daemon(&dir.socket());
    let mut w = SyslogWriter::new(dir.socket(), "sipalgd", FACILITY_DAEMON);

    w.send(
        Level::Info,
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: x\n\n",
    )
    .unwrap();
    assert_eq!(
        strip_header(&recv(&d), 30),
        body("INVITE sip:bob@example.com SIP/2.0  Via: x")
    );

    // 1 + 2 * 600 bytes; byte MAX_MESSAGE falls inside an "é": cut before it.
    let long = format!("x{}", "é".repeat(600));
    w.send(Level::Info, &long).unwrap();
    let got = strip_header(&recv(&d), 30);
    let msg = got.strip_prefix(&body("")).unwrap();
    assert_eq!(msg.len(), MAX_MESSAGE - 1);
    assert_eq!(msg, &long[..MAX_MESSAGE - 1]);

    // Exactly MAX_MESSAGE bytes pass whole.
    let fits = "y".repeat(MAX_MESSAGE);
    w.send(Level::Info, &fits).unwrap();
    assert_eq!(strip_header(&recv(&d), 30), body(&fits));
}

#[test]
fn reconnects_after_log_daemon_restart() {
    let dir = TempDir::new("restart");
    let path = dir.socket();
    let d1 = daemon(&path);
    let mut w = SyslogWriter::new(&path, "sipalgd", FACILITY_DAEMON);
    w.send(Level::Error, "before restart").unwrap();
    assert_eq!(strip_header(&recv(&d1), 27), body("before restart"));

    // logd restarts: the old socket goes away, a new one is bound at the same path.
    drop(d1);
    std::fs::remove_file(&path).unwrap();
    let d2 = daemon(&path);
    w.send(Level::Error, "after restart").unwrap();
    assert_eq!(strip_header(&recv(&d2), 27), body("after restart"));

    // Restart with a gap: no daemon for a while (send fails), then a new one.
    drop(d2);
    std::fs::remove_file(&path).unwrap();
    let e = w.send(Level::Warn, "while down").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let d3 = daemon(&path);
    w.send(Level::Warn, "back up").unwrap();
    assert_eq!(strip_header(&recv(&d3), 28), body("back up"));
    assert!(
        nothing_pending(&d3),
        "the failed record must not arrive late"
    );
}

#[test]
fn no_log_daemon_at_all() {
    let dir = TempDir::new("none");
    let path = dir.socket();

    // No socket file: the writer can still be made, and sends fail cleanly.
    let mut w = SyslogWriter::new(&path, "sipalgd", FACILITY_DAEMON);
    for _ in 0..3 {
        let e = w.send(Level::Error, "nobody listens").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }

    // A stale socket file (the daemon died without unlinking it): ECONNREFUSED.
    drop(daemon(&path));
    assert!(path.exists());
    let mut w = SyslogWriter::new(&path, "sipalgd", FACILITY_DAEMON);
    let e = w.send(Level::Error, "stale").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");

    // The daemon starts after us: the next send connects.
    let d = daemon(&path);
    w.send(Level::Info, "late daemon").unwrap();
    assert_eq!(strip_header(&recv(&d), 30), body("late daemon"));
}

#[test]
fn never_blocks_when_the_daemon_does_not_read() {
    let dir = TempDir::new("full");
    let path = dir.socket();
    let _d = daemon(&path);
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let mut w = SyslogWriter::new(&p, "sipalgd", FACILITY_DAEMON);
        let mut first_err = None;
        for i in 0..100_000 {
            if let Err(e) = w.send(Level::Info, "filling the queue") {
                first_err = Some((i, e.kind()));
                break;
            }
        }
        let _ = tx.send(first_err);
    });
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("SyslogWriter::send blocked on a full log socket");
    let (i, kind) = r.expect("100000 datagrams queued without an error");
    assert!(i > 0);
    assert_eq!(kind, io::ErrorKind::WouldBlock);
}

/// fd 2 replaced by the write end of a pipe for the life of the guard.
struct StderrPipe {
    saved: i32,
    read: Option<std::fs::File>,
}

impl StderrPipe {
    fn new() -> Self {
        let mut fds = [0i32; 2];
        // SAFETY: plain descriptor calls; every fd used here is owned by this guard.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            let saved = libc::dup(2);
            assert!(saved >= 0);
            assert!(libc::dup2(fds[1], 2) >= 0);
            libc::close(fds[1]);
            libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK);
            StderrPipe {
                saved,
                read: Some(std::fs::File::from(OwnedFd::from_raw_fd(fds[0]))),
            }
        }
    }
    fn take(&mut self) -> String {
        let mut s = Vec::new();
        let _ = self.read.as_mut().unwrap().read_to_end(&mut s);
        String::from_utf8(s).unwrap()
    }
    /// Closes the read end: writes to fd 2 now fail with EPIPE.
    fn break_pipe(&mut self) {
        self.read = None;
    }
}

impl Drop for StderrPipe {
    fn drop(&mut self) {
        // SAFETY: restores the saved descriptor onto fd 2.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
    }
}

// One test for the global logger: it is installed once per process.
#[test]
fn global_logger_with_fallbacks() {
    let dir = TempDir::new("global");
    let path = dir.socket();
    let d = daemon(&path);
    assert_eq!(
        logging::init_at(LevelFilter::Info, &path),
        Target::Syslog(path.clone())
    );
    // A second init does not install anything new; it returns the same target.
    assert_eq!(
        logging::init_at(LevelFilter::Info, Path::new("/nonexistent")),
        Target::Syslog(path.clone())
    );

    log::info!("hello\nworld {}", 42);
    assert_eq!(strip_header(&recv(&d), 30), body("hello world 42"));
    log::debug!("filtered out");
    log::warn!("next");
    assert_eq!(strip_header(&recv(&d), 28), body("next"));
    logging::set_level(LevelFilter::Debug);
    log::debug!("now visible");
    assert_eq!(strip_header(&recv(&d), 31), body("now visible"));
    logging::set_level(LevelFilter::Info);

    // The log daemon goes away: the record goes to stderr, nothing is dropped.
    drop(d);
    std::fs::remove_file(&path).unwrap();
    let before = logging::dropped();
    let mut err = StderrPipe::new();
    log::error!("syslog is down");
    let out = err.take();
    assert!(
        out.contains("sipalgd: error: syslog is down\n"),
        "stderr got {out:?}"
    );
    assert_eq!(logging::dropped(), before);

    // Stderr fails too: the record is counted as dropped, and nothing panics.
    err.break_pipe();
    log::error!("nowhere to go");
    log::warn!("nowhere either");
    drop(err);
    assert_eq!(logging::dropped(), before + 2);

    // The daemon comes back: records flow again.
    let d = daemon(&path);
    log::info!("recovered");
    assert_eq!(strip_header(&recv(&d), 30), body("recovered"));
}
