//! A blocking netlink socket: send a request or a batch, read the replies that belong to
//! it (matched by sequence number), turn `NLMSG_ERROR` into `io::Error` with the
//! kernel's errno.
//!
//! The socket lives in the network namespace of the thread that opened it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys::{cvt, setsockopt};

use super::msg::{
    Msg, Msgs, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP,
};

/// `SOL_NETLINK`
const SOL_NETLINK: libc::c_int = 270;
/// `NETLINK_CAP_ACK`: error messages do not echo the failed request's payload.
const NETLINK_CAP_ACK: libc::c_int = 10;
/// `NETLINK_NO_ENOBUFS`: an overrun drops only what does not fit (see
/// [`NetlinkSocket::set_no_enobufs`]).
const NETLINK_NO_ENOBUFS: libc::c_int = 5;
/// Receive buffer; the kernel builds dump messages of at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// Reply timeout (`SO_RCVTIMEO`).
pub const RECV_TIMEOUT_SECS: libc::time_t = 1;

pub struct NetlinkSocket {
    fd: OwnedFd,
    seq: u32,
    portid: u32,
    rbuf: Vec<u8>,
}

/// The kernel's errno (positive or negative) as an `io::Error`; ENOENT maps to
/// `ErrorKind::NotFound`.
pub fn errno_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code.abs())
}

impl NetlinkSocket {
    /// Opens and binds a netlink socket of `protocol` (e.g. `NETLINK_NETFILTER`).
    pub fn open(protocol: i32) -> io::Result<NetlinkSocket> {
        // SAFETY: plain syscalls; the fd is owned right after creation.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: zeroed sockaddr_nl is valid (pid 0: the kernel assigns one).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let salen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                salen,
            )
        })?;
        let mut len = salen;
        cvt(unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                &mut sa as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut len,
            )
        })?;
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        // Optional (Linux >= 4.3); harmless if refused.
        let _ = setsockopt(
            fd.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_CAP_ACK,
            &1 as &libc::c_int,
        );
        // Start sequence numbers somewhere unlikely to collide with stale replies.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1)
            | 1;
        Ok(NetlinkSocket {
            fd,
            seq,
            portid: sa.nl_pid,
            rbuf: vec![0; RECV_BUF],
        })
    }

    /// The port id the kernel assigned.
    pub fn portid(&self) -> u32 {
        self.portid
    }

    /// Reserves `n` consecutive sequence numbers and returns the first.
    pub fn next_seqs(&mut self, n: u32) -> u32 {
        // Avoid wrapping inside a range so that `first..first+n` comparisons stay simple.
        if self.seq.checked_add(n).is_none() {
            self.seq = 1;
        }
        let s = self.seq;
        self.seq += n;
        s
    }

    /// Sends one datagram (one message or a whole batch) to the kernel.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: buf is valid for len bytes.
            let r = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr() as *const libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r as usize != buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "short netlink send",
                ));
            }
            return Ok(());
        }
    }

    /// Receives one datagram into the internal buffer; returns its length.
    /// A timeout is reported as `ErrorKind::TimedOut`.
    fn recv(&mut self, dontwait: bool) -> io::Result<usize> {
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let r = self.recv_into(&mut rbuf, dontwait);
        self.rbuf = rbuf;
        r
    }

    /// Receives one datagram into `buf`; returns its length. Without `dontwait` it
    /// blocks up to [`RECV_TIMEOUT_SECS`] (then `ErrorKind::TimedOut`); with it, an
    /// empty socket is `ErrorKind::WouldBlock`. A datagram larger than `buf` is an
    /// `InvalidData` error (and is lost).
    pub fn recv_into(&self, buf: &mut [u8], dontwait: bool) -> io::Result<usize> {
        let flags = libc::MSG_TRUNC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
        loop {
            // SAFETY: buf is valid for its length.
            let r = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    flags,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock if !dontwait => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no netlink reply within the timeout",
                        ))
                    }
                    _ => return Err(e),
                }
            }
            let n = r as usize;
            if n > buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "netlink message truncated",
                ));
            }
            return Ok(n);
        }
    }

    /// Asks the kernel not to mark the socket congested when a message does not fit
    /// (`NETLINK_NO_ENOBUFS`, Linux >= 2.6.30). Without it, `netlink_overrun()` sets
    /// `NETLINK_S_CONGESTED` and every later message is refused until the receive queue
    /// is empty again (`netlink_rcv_wake()`), and `recv` reports `ENOBUFS` once; with
    /// it, only the messages that find the buffer full are refused.
    pub fn set_no_enobufs(&self) -> io::Result<()> {
        setsockopt(
            self.fd.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_NO_ENOBUFS,
            &1 as &libc::c_int,
        )
    }

    /// Sizes the receive buffer: `SO_RCVBUFFORCE` (root, past `rmem_max`), else
    /// `SO_RCVBUF` (capped by `net.core.rmem_max`). Returns what the kernel granted
    /// (it doubles the request for its own bookkeeping).
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<usize> {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        let fd = self.fd.as_raw_fd();
        if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v).is_err() {
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &v)?;
        }
        let mut got: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: got/len point to live values of the sizes given.
        cvt(unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &mut got as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(got.max(0) as usize)
    }

    /// Sends a batch whose messages carry sequence numbers `first..first + count` and waits
    /// for the ACK of sequence number `ack_seq` (the one message sent with `NLM_F_ACK`).
    /// Error replies for any message of the batch are collected; the first (lowest
    /// sequence number) is returned.
    ///
    /// nfnetlink processes a batch synchronously inside `sendmsg` and queues every error
    /// and requested ACK, in message order, before returning: the replies up to the ACK
    /// are read without blocking after the first, and nothing follows the ACK.
    pub fn send_batch(
        &mut self,
        buf: &[u8],
        first: u32,
        count: u32,
        ack_seq: u32,
    ) -> io::Result<()> {
        self.send(buf)?;
        let in_batch = |s: u32| s.wrapping_sub(first) < count;
        let mut got_ack = false;
        let mut got_any = false;
        let mut err: Option<(u32, i32)> = None;
        while !got_ack {
            let n = match self.recv(got_any) {
                Ok(n) => n,
                Err(e) if got_any && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            for m in Msgs::new(&self.rbuf[..n]) {
                if m.ty != NLMSG_ERROR || !in_batch(m.seq) {
                    continue;
                }
                got_any = true;
                let code = m.error_code().unwrap_or(-libc::EPROTO);
                if code != 0 {
                    if err.is_none_or(|(s, _)| m.seq.wrapping_sub(first) < s.wrapping_sub(first)) {
                        err = Some((m.seq, code));
                    }
                } else if m.seq == ack_seq {
                    got_ack = true;
                }
            }
        }
        // Nothing else of this batch can follow: nfnetlink queues every reply of a batch
        // in message order before sendmsg returns, and the ACK belongs to the last
        // message. (Stale replies of an earlier batch are skipped by sequence number.)
        match err {
            Some((_, code)) => Err(errno_error(code)),
            None => Ok(()),
        }
    }

    /// Sends one request with sequence number `seq` and hands every reply message of
    /// that sequence number (other than ACK/DONE/errors) to `on_msg`. Returns at the ACK
    /// (`NLM_F_ACK` requests) or at `NLMSG_DONE` (dumps); an error reply becomes `Err`.
    /// A request with neither `NLM_F_ACK` nor `NLM_F_DUMP` ends at its first reply message
    /// (saves the ACK on GET requests; note ctnetlink flags even a single GET reply
    /// `NLM_F_MULTI`, without a following `NLMSG_DONE`).
    pub fn request(
        &mut self,
        buf: &[u8],
        seq: u32,
        mut on_msg: impl FnMut(&Msg<'_>),
    ) -> io::Result<()> {
        let req_flags = buf
            .get(6..8)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        let single = req_flags & (NLM_F_ACK | NLM_F_DUMP) == 0;
        self.send(buf)?;
        loop {
            let n = self.recv(false)?;
            for m in Msgs::new(&self.rbuf[..n]) {
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        return match m.error_code() {
                            Some(0) => Ok(()),
                            Some(c) => Err(errno_error(c)),
                            None => Err(errno_error(libc::EPROTO)),
                        }
                    }
                    NLMSG_DONE => {
                        return match m.error_code() {
                            Some(c) if c < 0 => Err(errno_error(c)),
                            _ => Ok(()),
                        }
                    }
                    NLMSG_OVERRUN => return Err(errno_error(libc::ENOBUFS)),
                    _ => {
                        on_msg(&m);
                        if single {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}
