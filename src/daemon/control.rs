//! The control socket: a Unix stream socket on which the daemon answers one request
//! per connection (`status`, `status-text`), and the client side used by
//! `sipalgd status`.
//!
//! Who may ask: the socket is created mode 0600 in the daemon's own state directory
//! (`/var/run/sipalg`, mode 0700, owned by the daemon's user; files/sipalg.init makes
//! it), so only root (rpcd and cgi-io run `sipalgd status --json` as root for LuCI)
//! and the daemon's own user can connect; the daemon also answers only peers whose
//! uid (`SO_PEERCRED`) is 0 or its own. Requests only read: nothing on this socket
//! reconfigures the daemon.
//!
//! Beside the socket, `<socket>.lock` is held (`flock`) by the running daemon for its
//! whole life, teardown included: `sipalgd cleanup` waits on it, so it never races
//! the daemon's own removal of its firewall state (see [`DaemonLock`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The daemon's state directory on OpenWrt (`/var` is a link to `/tmp`).
pub const STATE_DIR: &str = "/var/run/sipalg";
pub const DEFAULT_SOCKET: &str = "/var/run/sipalg/sipalgd.sock";

/// The socket path: `--socket` if given, else `$SIPALGD_SOCKET`, else the default.
pub fn socket_path(arg: Option<&str>) -> PathBuf {
    arg.map(PathBuf::from)
        .or_else(|| std::env::var_os("SIPALGD_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// The lock file that belongs to a socket path: `<socket>.lock`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

fn cvt(r: libc::c_int) -> std::io::Result<libc::c_int> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A listening Unix socket at `path` whose file has mode 0600 from the moment it
/// exists: the mode is set on the socket before `bind` (Linux gives the new file the
/// socket inode's mode, less the umask).
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    // SAFETY: plain socket(2); the fd is owned by `fd` from here on.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    // SAFETY: fchmod on our own socket.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) })?;
    // SAFETY: sockaddr_un is plain data; zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("socket path too long: {}", path.display()),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: a valid sockaddr_un of the stated length.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    })?;
    // Whatever the umask did to it: owner only.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    // SAFETY: listen(2) on our socket.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), 16) })?;
    Ok(UnixListener::from(fd))
}

/// The uid of the process at the other end of a Unix socket.
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    // SAFETY: ucred is plain data; getsockopt fills at most `len` bytes of it.
    let mut cred: libc::ucred = unsafe { core::mem::zeroed() };
    let mut len = core::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Whether a peer with `uid` may ask: root, or the daemon's own user.
pub fn peer_allowed(uid: u32, own: u32) -> bool {
    uid == 0 || uid == own
}

/// Binds the socket (replacing a stale one) and serves requests with `answer` on a
/// thread of its own.
pub fn serve(path: &Path, answer: impl Fn(&str) -> String + Send + 'static) -> std::io::Result<()> {
    if UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("another sipalgd answers on {}", path.display()),
        ));
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        make_state_dir(dir);
    }
    let listener = bind_private(path)?;
    // SAFETY: geteuid has no preconditions.
    let own = unsafe { libc::geteuid() };
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                match peer_uid(&conn) {
                    Some(uid) if peer_allowed(uid, own) => {}
                    other => {
                        log::debug!("control socket: refused a peer with uid {other:?}");
                        continue;
                    }
                }
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                if BufReader::new(&mut conn)
                    .take(256)
                    .read_line(&mut line)
                    .is_err()
                {
                    continue;
                }
                let reply = answer(line.trim());
                let _ = conn.write_all(reply.as_bytes());
            }
        })?;
    Ok(())
}

/// Creates the state directory (owner only) if it is missing; an existing one is left
/// as it is (the init script made it and gave it to the daemon's user).
fn make_state_dir(dir: &Path) {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return;
    }
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
}

/// Sends one request and returns the whole answer.
pub fn request(path: &Path, what: &str) -> std::io::Result<String> {
    // A refused peer gets the connection closed without a word: its write may fail
    // (EPIPE, ECONNRESET) or its read come back empty.
    let refused = || {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the daemon closed the connection without answering (it answers root and its own user only)",
        )
    };
    let closed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => refused(),
        _ => e,
    };
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.write_all(format!("{what}\n").as_bytes())
        .map_err(closed)?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(closed)?;
    if out.is_empty() {
        return Err(refused());
    }
    Ok(out)
}

/// `flock` on the daemon's lock file, held while the daemon runs (and by
/// `sipalgd cleanup` while it removes the firewall state). Released by the kernel when
/// the process exits, whatever kills it.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

fn try_flock(f: &File) -> std::io::Result<bool> {
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// What waiting for a lock came to.
#[derive(Debug)]
pub enum Lock {
    Held(DaemonLock),
    /// Someone else still holds it after the wait.
    Busy,
    /// There is no lock file: no daemon has run with this socket path.
    NoFile,
}

impl DaemonLock {
    /// The daemon's lock: the file is created (owner only) if missing. Waits up to
    /// `wait` for whoever holds it (an earlier daemon still tearing down, a cleanup).
    pub fn acquire(path: &Path, wait: Duration) -> std::io::Result<Lock> {
        if let Some(dir) = path.parent() {
            make_state_dir(dir);
        }
        // Read-only is enough for flock; a lock file left by root stays usable.
        let file = File::open(path).or_else(|_| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
        })?;
        Self::wait_for(file, wait)
    }

    /// For `sipalgd cleanup`: the lock of a daemon that may be running, without
    /// creating the file (a file created by root would keep the daemon's user out).
    pub fn acquire_existing(path: &Path, wait: Duration) -> std::io::Result<Lock> {
        match File::open(path) {
            Ok(f) => Self::wait_for(f, wait),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::NoFile),
            Err(e) => Err(e),
        }
    }

    fn wait_for(file: File, wait: Duration) -> std::io::Result<Lock> {
        let start = Instant::now();
        loop {
            if try_flock(&file)? {
                return Ok(Lock::Held(DaemonLock { _file: file }));
            }
            if start.elapsed() >= wait {
                return Ok(Lock::Busy);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_over_a_socket() {
        let path = std::env::temp_dir().join(format!("sipalgd-test-{}.sock", std::process::id()));
        serve(&path, |req| format!("you said {req}")).unwrap();
        assert_eq!(request(&path, "status").unwrap(), "you said status");
        assert_eq!(
            serve(&path, |_| String::new()).unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "the control socket is for its owner (and root) only"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn only_root_and_the_daemon_user_may_ask() {
        assert!(peer_allowed(0, 5060));
        assert!(peer_allowed(5060, 5060));
        assert!(!peer_allowed(65534, 5060));
        assert!(!peer_allowed(1000, 0));
    }

    #[test]
    fn the_lock_is_exclusive_and_waits() {
        let dir = std::env::temp_dir().join(format!("sipalgd-lock-{}", std::process::id()));
        let path = lock_path(&dir.join("s.sock"));
        assert_eq!(path, dir.join("s.sock.lock"));
        assert!(matches!(
            DaemonLock::acquire_existing(&path, Duration::ZERO).unwrap(),
            Lock::NoFile
        ));
        let held = DaemonLock::acquire(&path, Duration::ZERO).unwrap();
        assert!(matches!(held, Lock::Held(_)));
        assert!(matches!(
            DaemonLock::acquire_existing(&path, Duration::from_millis(120)).unwrap(),
            Lock::Busy
        ));
        drop(held);
        assert!(matches!(
            DaemonLock::acquire_existing(&path, Duration::ZERO).unwrap(),
            Lock::Held(_)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
