//! A zero-copy view of an IPv4 packet carrying UDP, as NFQUEUE hands it over (starting
//! at the IP header), and the rebuild of such a packet around a new UDP payload with
//! lengths and checksums fixed (NFQUEUE fixes neither).
//!
//! ```text
//! 0      1      2      3
//! ver/ihl tos   total length      | ident | flags/frag | ttl | proto | checksum
//! source address | destination address | options (ihl > 5)
//! UDP: source port | destination port | length | checksum | payload
//! ```

use super::checksum::{accumulate, checksum, finish};
use std::net::{Ipv4Addr, SocketAddrV4};

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
    pub const UDP_SRC_PORT: Range<usize> = 0..2;
    pub const UDP_DST_PORT: Range<usize> = 2..4;
    pub const UDP_LENGTH: Range<usize> = 4..6;
    pub const UDP_CHECKSUM: Range<usize> = 6..8;
    pub const UDP_HEADER_LEN: usize = 8;
}

pub const PROTO_UDP: u8 = 17;
pub const PROTO_TCP: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    NotIpv4,
    Truncated,
    Fragment,
    NotUdp,
}

/// An IPv4 + UDP datagram, validated for lengths.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    udp_len: usize,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl<'a> UdpPacket<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, PacketError> {
        if buf.len() < 20 || buf[field::VER_IHL] >> 4 != 4 {
            return Err(PacketError::NotIpv4);
        }
        let header_len = usize::from(buf[field::VER_IHL] & 0x0f) * 4;
        let total = usize::from(be16(&buf[field::TOTAL_LEN]));
        if header_len < 20 || total < header_len || total > buf.len() {
            return Err(PacketError::Truncated);
        }
        if be16(&buf[field::FLAGS_FRAG]) & 0x3fff != 0 {
            return Err(PacketError::Fragment);
        }
        if buf[field::PROTOCOL] != PROTO_UDP {
            return Err(PacketError::NotUdp);
        }
        let udp = &buf[header_len..total];
        if udp.len() < field::UDP_HEADER_LEN {
            return Err(PacketError::Truncated);
        }
        let udp_len = usize::from(be16(&udp[field::UDP_LENGTH]));
        if udp_len < field::UDP_HEADER_LEN || udp_len > udp.len() {
            return Err(PacketError::Truncated);
        }
        Ok(UdpPacket {
            buf: &buf[..total],
            header_len,
            udp_len,
        })
    }

    pub fn source(&self) -> SocketAddrV4 {
        let ip: [u8; 4] = self.buf[field::SRC].try_into().unwrap_or_default();
        SocketAddrV4::new(Ipv4Addr::from(ip), be16(&self.udp()[field::UDP_SRC_PORT]))
    }

    pub fn destination(&self) -> SocketAddrV4 {
        let ip: [u8; 4] = self.buf[field::DST].try_into().unwrap_or_default();
        SocketAddrV4::new(Ipv4Addr::from(ip), be16(&self.udp()[field::UDP_DST_PORT]))
    }

    fn udp(&self) -> &'a [u8] {
        &self.buf[self.header_len..]
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len + field::UDP_HEADER_LEN..self.header_len + self.udp_len]
    }

    /// Length of the IP + UDP headers in front of the payload.
    pub fn headers_len(&self) -> usize {
        self.header_len + field::UDP_HEADER_LEN
    }

    /// Writes a copy of this packet with `payload` replaced, into `out` (which must be
    /// empty): IP total length and header checksum, UDP length and checksum are fixed.
    /// `write_payload` appends the new payload to the buffer it is given.
    pub fn rebuild(
        &self,
        out: &mut Vec<u8>,
        write_payload: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), PacketError> {
        let hl = self.header_len;
        out.extend_from_slice(&self.buf[..hl + field::UDP_HEADER_LEN]);
        write_payload(out);
        let total = out.len();
        let udp_len = total - hl;
        let total16 = u16::try_from(total).map_err(|_| PacketError::Truncated)?;
        out[field::TOTAL_LEN].copy_from_slice(&total16.to_be_bytes());
        out[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let ip_sum = checksum(&out[..hl]);
        out[field::CHECKSUM].copy_from_slice(&ip_sum.to_be_bytes());
        let udp_len16 = udp_len as u16;
        let u = hl;
        out[u + 4..u + 6].copy_from_slice(&udp_len16.to_be_bytes());
        out[u + 6..u + 8].copy_from_slice(&[0, 0]);
        let sum = udp_checksum(&out[field::SRC], &out[field::DST], &out[u..]);
        out[u + 6..u + 8].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

/// UDP checksum over the IPv4 pseudo header and the UDP datagram (checksum field 0).
/// A computed 0 is sent as 0xffff (RFC 768).
pub fn udp_checksum(src: &[u8], dst: &[u8], udp: &[u8]) -> u16 {
    let mut sum = accumulate(0, src);
    sum = accumulate(sum, dst);
    sum = accumulate(sum, &[0, PROTO_UDP]);
    sum = accumulate(sum, &(udp.len() as u16).to_be_bytes());
    sum = accumulate(sum, udp);
    match finish(sum) {
        0 => 0xffff,
        s => s,
    }
}

/// Whether the IP header checksum and the UDP checksum of `buf` verify.
pub fn checksums_ok(buf: &[u8]) -> bool {
    let Ok(p) = UdpPacket::parse(buf) else {
        return false;
    };
    let hl = p.header_len;
    if checksum(&buf[..hl]) != 0 {
        return false;
    }
    let udp = &buf[hl..hl + p.udp_len];
    let stored = be16(&udp[field::UDP_CHECKSUM]);
    if stored == 0 {
        return true;
    }
    let mut copy = udp.to_vec();
    copy[6] = 0;
    copy[7] = 0;
    udp_checksum(&buf[field::SRC], &buf[field::DST], &copy) == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 192.168.1.20:5060 -> 198.51.100.10:5060 carrying `payload`, checksums valid.
    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 192, 168, 1, 20, 198, 51, 100, 10,
        ];
        p.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[24..26].copy_from_slice(&(total - 20).to_be_bytes());
        let s = checksum(&p[..20]);
        p[10..12].copy_from_slice(&s.to_be_bytes());
        let u = udp_checksum(&[192, 168, 1, 20], &[198, 51, 100, 10], &p[20..]);
        p[26..28].copy_from_slice(&u.to_be_bytes());
        p
    }

    #[test]
    fn parses_addresses_and_payload() {
        let p = packet(b"hello");
        assert!(checksums_ok(&p));
        let v = UdpPacket::parse(&p).unwrap();
        assert_eq!(v.source(), "192.168.1.20:5060".parse().unwrap());
        assert_eq!(v.destination(), "198.51.100.10:5060".parse().unwrap());
        assert_eq!(v.payload(), b"hello");
        assert_eq!(u16::from_be_bytes([0x13, 0xc4]), 5060);
    }

    #[test]
    fn rebuild_fixes_lengths_and_checksums() {
        let p = packet(b"hello");
        let v = UdpPacket::parse(&p).unwrap();
        let mut out = Vec::new();
        v.rebuild(&mut out, |o| o.extend_from_slice(b"hello, world"))
            .unwrap();
        assert_eq!(out.len(), 20 + 8 + 12);
        assert_eq!(&out[2..4], &[0, 40]);
        assert_eq!(&out[24..26], &[0, 20]);
        assert!(checksums_ok(&out));
        assert_eq!(UdpPacket::parse(&out).unwrap().payload(), b"hello, world");
        // Everything but lengths and checksums is copied.
        assert_eq!(&out[4..10], &p[4..10]);
        assert_eq!(&out[12..24], &p[12..24]);
        // A stale checksum is detected.
        let mut bad = out.clone();
        bad[30] ^= 1;
        assert!(!checksums_ok(&bad));
    }

    #[test]
    fn rejects_what_it_cannot_handle() {
        let p = packet(b"x");
        assert_eq!(
            UdpPacket::parse(&p[..10]).unwrap_err(),
            PacketError::NotIpv4
        );
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert_eq!(UdpPacket::parse(&v6).unwrap_err(), PacketError::NotIpv4);
        let mut frag = p.clone();
        frag[6] = 0x20; // more fragments
        assert_eq!(UdpPacket::parse(&frag).unwrap_err(), PacketError::Fragment);
        let mut tcp = p.clone();
        tcp[9] = 6;
        assert_eq!(UdpPacket::parse(&tcp).unwrap_err(), PacketError::NotUdp);
        let mut long = p.clone();
        long[24..26].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(UdpPacket::parse(&long).unwrap_err(), PacketError::Truncated);
    }
}
