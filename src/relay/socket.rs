//! The relay's sockets, through `socket2` (measured in docs/dependencies.md): the
//! transparent listener, the onward connection (with its fall-back to any port), and
//! the settings of every relayed connection (no delay, a write timeout, keep-alives).

use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

/// How long the onward connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that cannot make progress this long closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive probes sent without an answer before the kernel gives a connection up.
const KEEPALIVE_PROBES: u32 = 4;

/// The transparent listener on 127.0.0.1:`port` (`IP_TRANSPARENT` needs
/// CAP_NET_ADMIN).
pub fn listen(port: u16) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_ip_transparent_v4(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).into())?;
    s.listen(128)?;
    Ok(s.into())
}

/// The keep-alive of a relayed connection idle for `keepalive_idle` seconds (see
/// [`super::conn::keepalive_idle`]): the first probe after that time (at least 1 s),
/// then one every third of it (at least 1 s), [`KEEPALIVE_PROBES`] in all.
pub(super) fn keepalive(keepalive_idle: u32) -> (Duration, Duration, u32) {
    let idle = keepalive_idle.max(1);
    (
        Duration::from_secs(idle.into()),
        Duration::from_secs((idle / 3).max(1).into()),
        KEEPALIVE_PROBES,
    )
}

/// Sets up a relayed connection (either side): no Nagle delay, a write timeout, and
/// keep-alives (see [`keepalive`]). Best effort: a setting that fails is left.
pub(super) fn tune(s: &TcpStream, keepalive_idle: u32) {
    let _ = s.set_nodelay(true);
    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
    let (time, interval, retries) = keepalive(keepalive_idle);
    let ka = TcpKeepalive::new()
        .with_time(time)
        .with_interval(interval)
        .with_retries(retries);
    let _ = SockRef::from(s).set_tcp_keepalive(&ka);
}

/// Where to bind the onward connection again after binding or connecting from
/// `bind_to` failed with `e`: from any port of the same address when that port is
/// taken (`EADDRINUSE`, or `EADDRNOTAVAIL` from `connect` when the same four-tuple is
/// in use) or below 1024 (`EACCES`: binding those needs CAP_NET_BIND_SERVICE, which
/// sipalgd runs without). The provider answers on the connection either way. None:
/// the error stands.
pub(super) fn fallback(bind_to: SocketAddrV4, e: &io::Error) -> Option<SocketAddrV4> {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRINUSE | libc::EADDRNOTAVAIL | libc::EACCES)
    )
    .then(|| SocketAddrV4::new(*bind_to.ip(), 0))
}

/// Opens the onward connection from `bind_to` to `peer`, from another port of the
/// same address if [`fallback`] says so.
pub(super) fn connect(bind_to: SocketAddrV4, peer: SocketAddrV4) -> io::Result<TcpStream> {
    let attempt = |b: SocketAddrV4| -> io::Result<TcpStream> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::V4(b).into())?;
        s.connect_timeout(&SocketAddr::V4(peer).into(), CONNECT_TIMEOUT)?;
        Ok(s.into())
    };
    match attempt(bind_to) {
        Err(e) => match fallback(bind_to, &e) {
            Some(any) => attempt(any),
            None => Err(e),
        },
        ok => ok,
    }
}

/// The IPv4 address of a socket's end, if it is one.
pub(super) fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn os(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn the_onward_port_falls_back_only_when_that_port_cannot_be_had() {
        let b: SocketAddrV4 = "198.51.100.1:5060".parse().unwrap();
        let any = Some("198.51.100.1:0".parse().unwrap());
        assert_eq!(fallback(b, &os(libc::EADDRINUSE)), any);
        assert_eq!(fallback(b, &os(libc::EADDRNOTAVAIL)), any);
        assert_eq!(fallback(b, &os(libc::EACCES)), any, "a port below 1024");
        for errno in [
            libc::ECONNREFUSED,
            libc::ETIMEDOUT,
            libc::ENETUNREACH,
            libc::EHOSTUNREACH,
            libc::EPERM,
            libc::EMFILE,
        ] {
            assert_eq!(fallback(b, &os(errno)), None, "errno {errno}");
        }
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
        assert_eq!(fallback(b, &timed_out), None);
    }

    #[test]
    fn keepalive_probes_follow_the_idle_time() {
        let s = Duration::from_secs;
        assert_eq!(keepalive(600), (s(600), s(200), 4));
        assert_eq!(keepalive(3), (s(3), s(1), 4));
        assert_eq!(keepalive(2), (s(2), s(1), 4));
        assert_eq!(
            keepalive(0),
            (s(1), s(1), 4),
            "never zero: the kernel refuses 0"
        );
    }

    #[test]
    fn tune_sets_what_the_kernel_reads_back() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        tune(&c, 30);
        let r = SockRef::from(&c);
        assert!(r.keepalive().unwrap());
        assert_eq!(r.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
        assert_eq!(r.tcp_keepalive_interval().unwrap(), Duration::from_secs(10));
        assert_eq!(r.tcp_keepalive_retries().unwrap(), 4);
        assert!(c.nodelay().unwrap());
        assert_eq!(c.write_timeout().unwrap(), Some(WRITE_TIMEOUT));
    }

    #[test]
    fn connect_opens_from_the_port_asked_for() {
        let peer = TcpListener::bind("127.0.0.1:0").unwrap();
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let s = connect(from, v4(peer.local_addr().unwrap()).unwrap()).unwrap();
        assert_eq!(s.local_addr().unwrap(), SocketAddr::V4(from));
        let (accepted, at) = peer.accept().unwrap();
        assert_eq!(at, SocketAddr::V4(from));
        drop(accepted);
    }

    #[test]
    fn connect_falls_back_to_any_port_when_the_port_is_taken() {
        let peer = TcpListener::bind("127.0.0.1:0").unwrap();
        // A listening socket holds its port even against SO_REUSEADDR.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let from = v4(taken.local_addr().unwrap()).unwrap();
        let s = connect(from, v4(peer.local_addr().unwrap()).unwrap()).unwrap();
        let local = v4(s.local_addr().unwrap()).unwrap();
        assert_eq!(local.ip(), from.ip());
        assert_ne!(local.port(), from.port());
        assert_eq!(peer.accept().unwrap().1, SocketAddr::V4(local));
    }

    #[test]
    fn connect_errors_that_are_not_about_the_port_stand() {
        // A port nobody listens on: refused, and no second attempt changes that.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = v4(closed.local_addr().unwrap()).unwrap();
        drop(closed);
        let e = connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), to).unwrap_err();
        assert_eq!(fallback(to, &e), None, "{e}");
        // The refusal comes from SO_ERROR (socket2's connect_timeout polls, then reads
        // it). qemu-user (the cross stage runs the mipsel tests under it) hands that
        // value over untranslated: the host's 111, where MIPS numbers ECONNREFUSED 146.
        const HOST_ECONNREFUSED: i32 = 111;
        assert!(
            e.kind() == io::ErrorKind::ConnectionRefused
                || (cfg!(not(target_arch = "x86_64"))
                    && e.raw_os_error() == Some(HOST_ECONNREFUSED)),
            "{e:?}"
        );
    }

    #[test]
    fn only_ipv4_ends_are_relayed() {
        assert_eq!(
            v4("192.0.2.1:5060".parse().unwrap()),
            Some("192.0.2.1:5060".parse().unwrap())
        );
        assert_eq!(v4("[2001:db8::1]:5060".parse().unwrap()), None);
    }
}
