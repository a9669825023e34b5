//! ctnetlink (`linux/netfilter/nfnetlink_conntrack.h`): look up, update and delete
//! IPv4 conntrack entries.
//!
//! ```text
//! nlmsghdr type = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_*   nfgenmsg family AF_INET
//! CTA_TUPLE_ORIG | CTA_TUPLE_REPLY (nested)
//!   CTA_TUPLE_IP (nested)     CTA_IP_V4_SRC, CTA_IP_V4_DST        4 bytes each
//!   CTA_TUPLE_PROTO (nested)  CTA_PROTO_NUM u8, CTA_PROTO_SRC_PORT be16, CTA_PROTO_DST_PORT be16
//! CTA_STATUS be32   CTA_TIMEOUT be32 (s)   CTA_MARK be32
//! CTA_COUNTERS_ORIG | CTA_COUNTERS_REPLY (nested)  CTA_COUNTERS_PACKETS be64, CTA_COUNTERS_BYTES be64
//! ```
//! GET replies with one `IPCTNL_MSG_CT_NEW` message (then the ACK). `CT_NEW` without
//! `NLM_F_CREATE` updates an existing entry (`ctnetlink_change_conntrack`).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::attr::Attrs;
use super::msg::{
    nfnl_type, Msg, MsgBuilder, NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use super::socket::NetlinkSocket;

pub const AF_INET: u8 = 2;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

// enum cntl_msg_types
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
pub const IPCTNL_MSG_CT_GET: u8 = 1;
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;

// enum ctattr_type
pub const CTA_TUPLE_ORIG: u16 = 1;
pub const CTA_TUPLE_REPLY: u16 = 2;
pub const CTA_STATUS: u16 = 3;
pub const CTA_PROTOINFO: u16 = 4;
pub const CTA_TIMEOUT: u16 = 7;
pub const CTA_MARK: u16 = 8;
pub const CTA_COUNTERS_ORIG: u16 = 9;
pub const CTA_COUNTERS_REPLY: u16 = 10;
pub const CTA_USE: u16 = 11;
pub const CTA_ID: u16 = 12;
pub const CTA_MARK_MASK: u16 = 21;
// enum ctattr_tuple
pub const CTA_TUPLE_IP: u16 = 1;
pub const CTA_TUPLE_PROTO: u16 = 2;
pub const CTA_TUPLE_ZONE: u16 = 3;
// enum ctattr_ip
pub const CTA_IP_V4_SRC: u16 = 1;
pub const CTA_IP_V4_DST: u16 = 2;
// enum ctattr_l4proto
pub const CTA_PROTO_NUM: u16 = 1;
pub const CTA_PROTO_SRC_PORT: u16 = 2;
pub const CTA_PROTO_DST_PORT: u16 = 3;
// enum ctattr_counters
pub const CTA_COUNTERS_PACKETS: u16 = 1;
pub const CTA_COUNTERS_BYTES: u16 = 2;
pub const CTA_COUNTERS32_PACKETS: u16 = 3;
pub const CTA_COUNTERS32_BYTES: u16 = 4;

// enum ip_conntrack_status (bits)
pub const IPS_EXPECTED: u32 = 1 << 0;
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;
pub const IPS_CONFIRMED: u32 = 1 << 3;
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DST_NAT: u32 = 1 << 5;
pub const IPS_SRC_NAT_DONE: u32 = 1 << 7;
pub const IPS_DST_NAT_DONE: u32 = 1 << 8;
/// In a flowtable (software flow offloading) / also in hardware.
pub const IPS_OFFLOAD: u32 = 1 << 14;
pub const IPS_HW_OFFLOAD: u32 = 1 << 15;

/// A conntrack tuple (one direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// IPPROTO_UDP 17 / IPPROTO_TCP 6.
    pub proto: u8,
}

/// A conntrack entry as reported by the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub orig: Tuple,
    /// For a NATed flow the reply tuple holds the mapping: `reply.dst` is the public
    /// address and port the original source was translated to.
    pub reply: Tuple,
    /// Seconds left.
    pub timeout: Option<u32>,
    pub mark: Option<u32>,
    /// `IPS_*` bits.
    pub status: u32,
    pub packets_orig: Option<u64>,
    pub packets_reply: Option<u64>,
    pub bytes_orig: Option<u64>,
    pub bytes_reply: Option<u64>,
}

fn put_tuple(b: &mut MsgBuilder, ty: u16, t: &Tuple) {
    let mut a = b.attrs();
    let outer = a.begin_nested(ty);
    let ip = a.begin_nested(CTA_TUPLE_IP);
    a.put(CTA_IP_V4_SRC, &t.src.ip().octets());
    a.put(CTA_IP_V4_DST, &t.dst.ip().octets());
    a.end_nested(ip);
    let p = a.begin_nested(CTA_TUPLE_PROTO);
    a.put_u8(CTA_PROTO_NUM, t.proto);
    a.put_u16_be(CTA_PROTO_SRC_PORT, t.src.port());
    a.put_u16_be(CTA_PROTO_DST_PORT, t.dst.port());
    a.end_nested(p);
    a.end_nested(outer);
}

fn ipv4(a: Option<super::attr::Attr<'_>>) -> Option<Ipv4Addr> {
    let b: [u8; 4] = a?.payload.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Parses the payload of `CTA_TUPLE_ORIG`/`CTA_TUPLE_REPLY`; `None` if not IPv4.
/// Protocols without ports (ICMP) give port 0.
pub fn parse_tuple(attrs: Attrs<'_>) -> Option<Tuple> {
    let ip = attrs.find(CTA_TUPLE_IP)?.nested();
    let proto = attrs.find(CTA_TUPLE_PROTO)?.nested();
    let port = |ty| proto.find(ty).and_then(|a| a.u16_be()).unwrap_or(0);
    Some(Tuple {
        src: SocketAddrV4::new(ipv4(ip.find(CTA_IP_V4_SRC))?, port(CTA_PROTO_SRC_PORT)),
        dst: SocketAddrV4::new(ipv4(ip.find(CTA_IP_V4_DST))?, port(CTA_PROTO_DST_PORT)),
        proto: proto.find(CTA_PROTO_NUM)?.u8()?,
    })
}

fn counters(attrs: &Attrs<'_>, ty: u16) -> (Option<u64>, Option<u64>) {
    let Some(c) = attrs.find(ty) else {
        return (None, None);
    };
    let c = c.nested();
    let get = |ty64, ty32| {
        c.find(ty64)
            .and_then(|a| a.u64_be())
            .or_else(|| c.find(ty32).and_then(|a| a.u32_be()).map(u64::from))
    };
    (
        get(CTA_COUNTERS_PACKETS, CTA_COUNTERS32_PACKETS),
        get(CTA_COUNTERS_BYTES, CTA_COUNTERS32_BYTES),
    )
}

/// Parses the attributes of an `IPCTNL_MSG_CT_NEW` message (after `nfgenmsg`).
pub fn parse_entry(attrs: Attrs<'_>) -> Option<Entry> {
    let (packets_orig, bytes_orig) = counters(&attrs, CTA_COUNTERS_ORIG);
    let (packets_reply, bytes_reply) = counters(&attrs, CTA_COUNTERS_REPLY);
    Some(Entry {
        orig: parse_tuple(attrs.find(CTA_TUPLE_ORIG)?.nested())?,
        reply: parse_tuple(attrs.find(CTA_TUPLE_REPLY)?.nested())?,
        timeout: attrs.find(CTA_TIMEOUT).and_then(|a| a.u32_be()),
        mark: attrs.find(CTA_MARK).and_then(|a| a.u32_be()),
        status: attrs.find(CTA_STATUS).and_then(|a| a.u32_be()).unwrap_or(0),
        packets_orig,
        packets_reply,
        bytes_orig,
        bytes_reply,
    })
}

fn entry_of(m: &Msg<'_>) -> Option<Entry> {
    if m.ty != nfnl_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW) || m.nf_family() != Some(AF_INET)
    {
        return None;
    }
    parse_entry(m.nf_attrs())
}

/// Encodes a ctnetlink request: tuple attribute `tuple_ty`, then `(type, be32)` pairs.
fn encode(msg: u8, flags: u16, seq: u32, tuple_ty: u16, t: &Tuple, u32s: &[(u16, u32)]) -> Vec<u8> {
    let mut b = MsgBuilder::new();
    let o = b.begin(
        nfnl_type(NFNL_SUBSYS_CTNETLINK, msg),
        flags,
        seq,
        AF_INET,
        0,
    );
    put_tuple(&mut b, tuple_ty, t);
    for &(ty, v) in u32s {
        b.attrs().put_u32_be(ty, v);
    }
    b.end(o);
    b.buf
}

/// A dump request of the IPv4 entries: all of them, or with `marked = Some((mark,
/// mask))` only those with `mark & mask == mark` (the kernel filters).
fn encode_dump(seq: u32, marked: Option<(u32, u32)>) -> Vec<u8> {
    let mut b = MsgBuilder::new();
    let o = b.begin(
        nfnl_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        AF_INET,
        0,
    );
    if let Some((mark, mask)) = marked {
        b.attrs()
            .put_u32_be(CTA_MARK, mark)
            .put_u32_be(CTA_MARK_MASK, mask);
    }
    b.end(o);
    b.buf
}

/// IPv4 conntrack table access over ctnetlink.
pub struct Conntrack {
    sock: NetlinkSocket,
}

impl Conntrack {
    pub fn open() -> io::Result<Conntrack> {
        Ok(Conntrack {
            sock: NetlinkSocket::open(NETLINK_NETFILTER)?,
        })
    }

    fn get(&mut self, tuple_ty: u16, t: &Tuple) -> io::Result<Option<Entry>> {
        let seq = self.sock.next_seqs(1);
        // No NLM_F_ACK: the reply (or an error) ends the exchange.
        let req = encode(IPCTNL_MSG_CT_GET, NLM_F_REQUEST, seq, tuple_ty, t, &[]);
        let mut found = None;
        match self.sock.request(&req, seq, |m| {
            if found.is_none() {
                found = entry_of(m);
            }
        }) {
            Ok(()) => Ok(found),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Looks an entry up by its original-direction tuple; `None` if there is none.
    pub fn get_by_orig(&mut self, t: &Tuple) -> io::Result<Option<Entry>> {
        self.get(CTA_TUPLE_ORIG, t)
    }

    /// Looks an entry up by its reply-direction tuple (e.g. the public side of a NAT
    /// mapping: `src` = remote peer, `dst` = router's public address and port).
    pub fn get_by_reply(&mut self, t: &Tuple) -> io::Result<Option<Entry>> {
        self.get(CTA_TUPLE_REPLY, t)
    }

    fn update(&mut self, t: &Tuple, attr: (u16, u32)) -> io::Result<()> {
        let seq = self.sock.next_seqs(1);
        // No NLM_F_CREATE: update only; ENOENT if the entry does not exist.
        let req = encode(
            IPCTNL_MSG_CT_NEW,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            CTA_TUPLE_ORIG,
            t,
            &[attr],
        );
        self.sock.request(&req, seq, |_| {})
    }

    /// Sets the remaining lifetime (seconds) of the entry with original tuple `t`.
    /// `ErrorKind::NotFound` if there is no such entry.
    pub fn set_timeout(&mut self, t: &Tuple, seconds: u32) -> io::Result<()> {
        self.update(t, (CTA_TIMEOUT, seconds))
    }

    /// Sets the conntrack mark of the entry with original tuple `t`.
    pub fn set_mark(&mut self, t: &Tuple, mark: u32) -> io::Result<()> {
        self.update(t, (CTA_MARK, mark))
    }

    /// Deletes the entry with original tuple `t`; `false` if there was none.
    pub fn delete(&mut self, t: &Tuple) -> io::Result<bool> {
        let seq = self.sock.next_seqs(1);
        let req = encode(
            IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            CTA_TUPLE_ORIG,
            t,
            &[],
        );
        match self.sock.request(&req, seq, |_| {}) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The IPv4 entries (any protocol) whose mark has the bits of `mask` equal to
    /// `mark`: a dump the kernel filters (CTA_MARK + CTA_MARK_MASK, ctnetlink's dump
    /// filter), so only the matching entries cross to user space.
    pub fn dump_marked(&mut self, mark: u32, mask: u32) -> io::Result<Vec<Entry>> {
        let seq = self.sock.next_seqs(1);
        let req = encode_dump(seq, Some((mark, mask)));
        let mut out = Vec::new();
        self.sock.request(&req, seq, |m| {
            if let Some(e) = entry_of(m) {
                if e.mark.unwrap_or(0) & mask == mark {
                    out.push(e);
                }
            }
        })?;
        Ok(out)
    }

    /// All IPv4 UDP entries (a multi-part dump, filtered here).
    pub fn dump_udp(&mut self) -> io::Result<Vec<Entry>> {
        let seq = self.sock.next_seqs(1);
        let req = encode_dump(seq, None);
        let mut out = Vec::new();
        self.sock.request(&req, seq, |m| {
            if let Some(e) = entry_of(m) {
                if e.orig.proto == IPPROTO_UDP {
                    out.push(e);
                }
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> Tuple {
        Tuple {
            src: "10.0.0.2:5060".parse().unwrap(),
            dst: "198.51.100.10:5060".parse().unwrap(),
            proto: IPPROTO_UDP,
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn get_request_bytes() {
        let req = encode(
            IPCTNL_MSG_CT_GET,
            NLM_F_REQUEST | NLM_F_ACK,
            0x11223344,
            CTA_TUPLE_ORIG,
            &tuple(),
            &[],
        );
        #[rustfmt::skip]
        let expected: &[u8] = &[
            72, 0, 0, 0, 0x01, 0x01, 0x05, 0x00, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0,
            2, 0, 0, 0, // AF_INET, v0, res_id 0
            52, 0, 1, 0x80, // CTA_TUPLE_ORIG
              20, 0, 1, 0x80, // CTA_TUPLE_IP
                8, 0, 1, 0, 10, 0, 0, 2,
                8, 0, 2, 0, 198, 51, 100, 10,
              28, 0, 2, 0x80, // CTA_TUPLE_PROTO
                5, 0, 1, 0, 17, 0, 0, 0,
                6, 0, 2, 0, 0x13, 0xc4, 0, 0,
                6, 0, 3, 0, 0x13, 0xc4, 0, 0,
        ];
        assert_eq!(req, expected);
        let upd = encode(
            IPCTNL_MSG_CT_NEW,
            NLM_F_REQUEST | NLM_F_ACK,
            1,
            CTA_TUPLE_ORIG,
            &tuple(),
            &[(CTA_TIMEOUT, 3333)],
        );
        assert_eq!(&upd[4..6], &[0x00, 0x01]);
        assert_eq!(&upd[upd.len() - 8..], &[8, 0, 7, 0, 0, 0, 0x0d, 0x05]);
        assert_eq!(upd.len(), 80);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn dump_by_mark_request_bytes() {
        #[rustfmt::skip]
        let expected: &[u8] = &[
            36, 0, 0, 0, 0x01, 0x01, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0, // GET, REQUEST|DUMP
            2, 0, 0, 0, // AF_INET
            8, 0, 8, 0, 0x80, 0, 0, 0, // CTA_MARK
            8, 0, 21, 0, 0x80, 0, 0, 0, // CTA_MARK_MASK
        ];
        assert_eq!(encode_dump(7, Some((0x8000_0000, 0x8000_0000))), expected);
        let mut all = expected[..20].to_vec();
        all[0] = 20;
        assert_eq!(encode_dump(7, None), all, "no filter: the header alone");
    }

    /// The reply of `conntrack -G -p udp -s 10.0.0.2 -d 198.51.100.10 --sport 5060 --dport 5060`
    /// (Linux 6.18, `nf_conntrack_acct=1`), captured with `strace -xx`, for the entry made by
    /// `conntrack -I … --reply-src 198.51.100.10 --reply-dst 203.0.113.1 --reply-port-dst 40000 -t 60 -m 7`.
    #[rustfmt::skip]
    const CT_GET_REPLY: [u8; 248] = [
        0xf8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0xc1, 0x3f, 0x02, 0x6b, 0xe4, 0x11, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x34, 0x00, 0x01, 0x80, 0x14, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00,
        0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x02, 0x00, 0xc6, 0x33, 0x64, 0x0a, 0x1c, 0x00, 0x02, 0x80,
        0x05, 0x00, 0x01, 0x00, 0x11, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00, 0x13, 0xc4, 0x00, 0x00,
        0x06, 0x00, 0x03, 0x00, 0x13, 0xc4, 0x00, 0x00, 0x34, 0x00, 0x02, 0x80, 0x14, 0x00, 0x01, 0x80,
        0x08, 0x00, 0x01, 0x00, 0xc6, 0x33, 0x64, 0x0a, 0x08, 0x00, 0x02, 0x00, 0xcb, 0x00, 0x71, 0x01,
        0x1c, 0x00, 0x02, 0x80, 0x05, 0x00, 0x01, 0x00, 0x11, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00,
        0x13, 0xc4, 0x00, 0x00, 0x06, 0x00, 0x03, 0x00, 0x9c, 0x40, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00,
        0x00, 0x00, 0x00, 0x0a, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x07, 0x08, 0x00, 0x0c, 0x00,
        0x4e, 0xcc, 0x50, 0x7a, 0x08, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x07, 0x00,
        0x00, 0x00, 0x00, 0x3b, 0x1c, 0x00, 0x09, 0x80, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x1c, 0x00, 0x0a, 0x80, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x18, 0x80,
        0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[cfg(target_endian = "little")]
    #[test]
    fn parse_captured_get_reply() {
        let msgs: Vec<_> = crate::netlink::msg::Msgs::new(&CT_GET_REPLY).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].seq, 1795309505);
        let e = entry_of(&msgs[0]).expect("entry");
        assert_eq!(e.orig, tuple());
        assert_eq!(
            e.reply,
            Tuple {
                src: "198.51.100.10:5060".parse().unwrap(),
                dst: "203.0.113.1:40000".parse().unwrap(),
                proto: IPPROTO_UDP,
            }
        );
        assert_eq!(e.timeout, Some(59));
        assert_eq!(e.mark, Some(7));
        assert_eq!(e.status, IPS_SEEN_REPLY | IPS_CONFIRMED);
        assert_eq!((e.packets_orig, e.bytes_orig), (Some(0), Some(0)));
        assert_eq!((e.packets_reply, e.bytes_reply), (Some(0), Some(0)));

        // Same reply with counters patched: orig 3 packets / 0x1234 bytes.
        let mut b = CT_GET_REPLY;
        b[179] = 3; // CTA_COUNTERS_ORIG at 164: PACKETS value 172..180, BYTES value 184..192
        b[190] = 0x12;
        b[191] = 0x34;
        let e = entry_of(&crate::netlink::msg::Msgs::new(&b).next().unwrap()).unwrap();
        assert_eq!((e.packets_orig, e.bytes_orig), (Some(3), Some(0x1234)));
        // Without counters (acct off) they are None; a non-IPv4 tuple gives no entry.
        assert_eq!(
            parse_entry(Attrs::new(&CT_GET_REPLY[20..164]))
                .unwrap()
                .packets_orig,
            None
        );
        assert!(entry_of(&Msg {
            payload: &[10, 0, 0, 0],
            ..msgs[0]
        })
        .is_none());
    }
}
