//! Netlink message framing (`struct nlmsghdr`, `linux/netlink.h`) and the netfilter
//! header (`struct nfgenmsg`, `linux/netfilter/nfnetlink.h`).
//!
//! ```text
//!  0        4        6        8        12       16
//! +--------+--------+--------+--------+--------+      host byte order
//! | len    | type   | flags  | seq    | pid    |
//! +--------+--------+--------+--------+--------+
//! nfnetlink payload:
//! +--------+---------+-----------------+
//! | family | version | res_id (BE u16) |  then attributes
//! +--------+---------+-----------------+
//! ```
//! For netfilter messages `type = subsystem << 8 | message`.

use super::attr::{align4, AttrWriter};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct nfgenmsg`.
pub const NFGENMSG_LEN: usize = 4;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_ECHO: u16 = 0x08;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// GET: return the complete table (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// NEW: replace an existing object.
pub const NLM_F_REPLACE: u16 = 0x100;
/// NEW: fail with EEXIST if the object exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// NEW: create the object if it does not exist.
pub const NLM_F_CREATE: u16 = 0x400;
/// ACK flag: the request was not copied into the error message (NETLINK_CAP_ACK).
pub const NLM_F_CAPPED: u16 = 0x100;
/// ACK flag: extended-ACK TLVs follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// `NETLINK_NETFILTER` protocol number.
pub const NETLINK_NETFILTER: i32 = 12;
/// `NLMSG_MIN_TYPE`: first type outside the netlink control range.
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFNETLINK_V0: u8 = 0;
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;
pub const NFNL_SUBSYS_NFTABLES: u8 = 10;

/// The netlink message type of netfilter message `msg` of subsystem `subsys`.
pub const fn nfnl_type(subsys: u8, msg: u8) -> u16 {
    (subsys as u16) << 8 | msg as u16
}

/// Builds netlink messages back to back in one buffer (a batch is just that).
#[derive(Default)]
pub struct MsgBuilder {
    pub buf: Vec<u8>,
}

/// Marker for an open message: its start offset.
#[must_use]
pub struct Open(usize);

impl MsgBuilder {
    pub fn new() -> Self {
        MsgBuilder {
            buf: Vec::with_capacity(256),
        }
    }

    /// Starts a netfilter message: `nlmsghdr` (pid 0) and `nfgenmsg`.
    pub fn begin(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Open {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        Open(at)
    }

    /// Attribute writer appending to the current message.
    pub fn attrs(&mut self) -> AttrWriter<'_> {
        AttrWriter::new(&mut self.buf)
    }

    /// Ends a message: patches `nlmsg_len` (attributes keep the buffer 4-aligned).
    pub fn end(&mut self, open: Open) {
        debug_assert_eq!(self.buf.len(), align4(self.buf.len()));
        let len = (self.buf.len() - open.0) as u32;
        self.buf[open.0..open.0 + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

/// One received netlink message.
#[derive(Clone, Copy, Debug)]
pub struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    /// Everything after `nlmsghdr`.
    pub payload: &'a [u8],
}

impl<'a> Msg<'a> {
    /// For `NLMSG_ERROR`: the (negative or zero) errno; zero is an ACK.
    /// For `NLMSG_DONE`: the dump's final status, if it carries one.
    pub fn error_code(&self) -> Option<i32> {
        match self.ty {
            NLMSG_ERROR | NLMSG_DONE => {
                Some(i32::from_ne_bytes(self.payload.get(..4)?.try_into().ok()?))
            }
            _ => None,
        }
    }

    /// For a netfilter message: the attributes after `nfgenmsg`.
    pub fn nf_attrs(&self) -> super::attr::Attrs<'a> {
        super::attr::Attrs::new(self.payload.get(NFGENMSG_LEN..).unwrap_or(&[]))
    }

    /// For a netfilter message: `nfgen_family`.
    pub fn nf_family(&self) -> Option<u8> {
        self.payload.first().copied()
    }
}

/// Iterator over the messages of one datagram; stops at the first malformed header.
pub struct Msgs<'a> {
    rest: &'a [u8],
}

impl<'a> Msgs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Msgs { rest: buf }
    }
}

impl<'a> Iterator for Msgs<'a> {
    type Item = Msg<'a>;

    fn next(&mut self) -> Option<Msg<'a>> {
        let r = self.rest;
        if r.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || len > r.len() {
            self.rest = &[];
            return None;
        }
        let m = Msg {
            ty: u16::from_ne_bytes([r[4], r[5]]),
            flags: u16::from_ne_bytes([r[6], r[7]]),
            seq: u32::from_ne_bytes(r[8..12].try_into().unwrap()),
            pid: u32::from_ne_bytes(r[12..16].try_into().unwrap()),
            payload: &r[NLMSG_HDRLEN..len],
        };
        self.rest = &r[align4(len).min(r.len())..];
        Some(m)
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn batch_begin_matches_nft() {
        // From `strace -xx nft add element …`: BATCH_BEGIN, seq 0, res_id htons(10).
        let mut b = MsgBuilder::new();
        let o = b.begin(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            0,
            0,
            NFNL_SUBSYS_NFTABLES as u16,
        );
        b.end(o);
        assert_eq!(
            b.buf,
            [20, 0, 0, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]
        );
    }

    #[test]
    fn parse_ack_and_error() {
        // Two NLMSG_ERROR messages (capped): ACK for seq 5, ENOENT (-2) for seq 6.
        let b = [
            36, 0, 0, 0, 2, 0, 0x00, 0x01, 5, 0, 0, 0, 0x39, 0x30, 0, 0, // hdr
            0, 0, 0, 0, // error 0
            20, 0, 0, 0, 0x0c, 0x0a, 5, 0, 5, 0, 0, 0, 0, 0, 0, 0, // echoed header
            36, 0, 0, 0, 2, 0, 0x00, 0x01, 6, 0, 0, 0, 0x39, 0x30, 0, 0, //
            0xfe, 0xff, 0xff, 0xff, // -2
            20, 0, 0, 0, 0x0e, 0x0a, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0,
        ];
        let v: Vec<_> = Msgs::new(&b).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].ty, v[0].seq, v[0].error_code()),
            (NLMSG_ERROR, 5, Some(0))
        );
        assert_eq!(v[1].seq, 6);
        assert_eq!(v[1].error_code(), Some(-libc::ENOENT));
        assert_eq!(v[0].pid, 12345);
    }

    #[test]
    fn types() {
        assert_eq!(nfnl_type(NFNL_SUBSYS_NFTABLES, 12), 0x0a0c);
        assert_eq!(nfnl_type(NFNL_SUBSYS_CTNETLINK, 1), 0x0101);
    }
}
