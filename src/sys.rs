//! The helpers every edge that makes raw socket calls needs, written once: turning a
//! `-1` return into the thread's `errno`, setting a socket option from a value of any
//! plain type, and `poll(2)` (which neither std nor `socket2` offers). Used by
//! [`crate::netlink`] and [`crate::relay`]; never by the pure core
//! (docs/architecture.md).

use std::io;
use std::os::fd::RawFd;

/// A libc return value: negative is the thread's `errno` as an `io::Error`.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `setsockopt(2)` with `v` as the option value (its size as the option length).
pub fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live T of the given size; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast::<libc::c_void>(),
            core::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// `poll(2)` on `fds` for at most `timeout_ms` milliseconds (negative: no limit):
/// the number of entries with events. A negative `fd` is ignored (its `revents` is 0).
/// An interrupted call is an error of kind `Interrupted`.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a live, exclusively borrowed slice of pollfd of the stated
    // length; the kernel writes only their `revents`.
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn cvt_keeps_values_and_turns_minus_one_into_errno() {
        assert_eq!(cvt(0).unwrap(), 0);
        assert_eq!(cvt(7).unwrap(), 7);
        // SAFETY: close(2) of an fd that is not open: EBADF, nothing closed.
        let r = unsafe { libc::close(-1) };
        assert_eq!(cvt(r).unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn setsockopt_sets_what_getsockopt_reads_back() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = s.as_raw_fd();
        let read = |name| {
            let mut v: libc::c_int = 0;
            let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: an int and its length, as getsockopt(2) expects.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    name,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            cvt(r).unwrap();
            v
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, &1 as &libc::c_int).unwrap();
        assert_eq!(read(libc::SO_BROADCAST), 1);
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, &0 as &libc::c_int).unwrap();
        assert_eq!(read(libc::SO_BROADCAST), 0);
        let e = setsockopt(-1, libc::SOL_SOCKET, libc::SO_BROADCAST, &1 as &libc::c_int);
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn poll_reports_the_readable_socket_and_ignores_a_negative_fd() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let pollfd = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [pollfd(a.as_raw_fd()), pollfd(-1), pollfd(b.as_raw_fd())];
        assert_eq!(poll(&mut fds, 0).unwrap(), 0, "nothing to read yet");
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        assert_eq!(poll(&mut fds, 5000).unwrap(), 1);
        assert_eq!(fds[0].revents, 0);
        assert_eq!(fds[1].revents, 0, "a negative fd is ignored");
        assert_eq!(fds[2].revents & libc::POLLIN, libc::POLLIN);
        let mut bad = [pollfd(i32::MAX)];
        assert_eq!(poll(&mut bad, 0).unwrap(), 1);
        assert_eq!(
            bad[0].revents,
            libc::POLLNVAL,
            "a closed fd is reported, not an error"
        );
    }
}
