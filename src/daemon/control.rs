//! The control socket: a Unix stream socket on which the daemon answers one request
//! per connection (`status`, `status-text`), and the client side used by
//! `sipalgd status`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/var/run/sipalgd.sock";

/// The socket path: `--socket` if given, else `$SIPALGD_SOCKET`, else the default.
pub fn socket_path(arg: Option<&str>) -> PathBuf {
    arg.map(PathBuf::from)
        .or_else(|| std::env::var_os("SIPALGD_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
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
        let _ = std::fs::create_dir_all(dir);
    }
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
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

/// Sends one request and returns the whole answer.
pub fn request(path: &Path, what: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.write_all(format!("{what}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
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
        let _ = std::fs::remove_file(&path);
    }
}
