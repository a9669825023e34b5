//! Netlink attributes (`struct nlattr`, `linux/netlink.h`): a builder that appends to a
//! `Vec<u8>` and a zero-copy parser that iterates the attributes of a buffer.
//!
//! Layout of one attribute (header fields in host byte order, payload as given):
//!
//! ```text
//!  0      2      4
//! +------+------+-----------------+-----------+
//! | len  | type | payload         | pad to 4  |
//! +------+------+-----------------+-----------+
//!   len = 4 + payload length (padding not counted)
//! ```
//!
//! `type` carries two flags: [`NLA_F_NESTED`] (payload is more attributes) and
//! [`NLA_F_NET_BYTEORDER`]. Netfilter integers are big-endian in the payload.

/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;
/// The payload is a list of attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// The payload is in network byte order (informational).
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// Mask for the attribute type without the flags.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the netlink alignment (4).
pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends attributes to a buffer. Nested attributes are opened with [`AttrWriter::begin_nested`]
/// and closed with [`AttrWriter::end_nested`], which patches the length.
pub struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

/// Marker returned by [`AttrWriter::begin_nested`]: the offset of the nest's header.
#[must_use]
pub struct Nest(usize);

impl<'a> AttrWriter<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        AttrWriter { buf }
    }

    /// Appends an attribute with a raw payload, then zero padding to 4.
    pub fn put(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + payload.len();
        assert!(len <= u16::MAX as usize, "netlink attribute too long");
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    pub fn put_u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.put(ty, &[v])
    }

    pub fn put_u16_be(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    pub fn put_u32_be(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    pub fn put_u64_be(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    /// A NUL-terminated string (`NLA_STRING`/`NLA_NUL_STRING`).
    pub fn put_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let len = NLA_HDRLEN + s.len() + 1;
        assert!(len <= u16::MAX as usize, "netlink attribute too long");
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// Opens a nested attribute; `NLA_F_NESTED` is set on its type.
    pub fn begin_nested(&mut self, ty: u16) -> Nest {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        Nest(at)
    }

    /// Closes a nest: writes its length (header + everything appended since).
    pub fn end_nested(&mut self, nest: Nest) -> &mut Self {
        let len = self.buf.len() - nest.0;
        assert!(len <= u16::MAX as usize, "netlink nest too long");
        self.buf[nest.0..nest.0 + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        let n = align4(self.buf.len()) - self.buf.len();
        self.buf.extend_from_slice(&[0u8; 3][..n]);
    }
}

/// One parsed attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Type without flags.
    pub ty: u16,
    /// `NLA_F_NESTED` was set.
    pub nested_flag: bool,
    /// Payload without header and padding.
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The payload as a list of attributes (whether or not `NLA_F_NESTED` is set: older
    /// kernel code, ctnetlink included, does not always set it).
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }

    pub fn u8(&self) -> Option<u8> {
        self.payload.first().copied()
    }

    pub fn u16_be(&self) -> Option<u16> {
        Some(u16::from_be_bytes(self.payload.get(..2)?.try_into().ok()?))
    }

    pub fn u32_be(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.payload.get(..4)?.try_into().ok()?))
    }

    pub fn u64_be(&self) -> Option<u64> {
        Some(u64::from_be_bytes(self.payload.get(..8)?.try_into().ok()?))
    }

    /// The payload up to the first NUL, if it is UTF-8.
    pub fn str(&self) -> Option<&'a str> {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        std::str::from_utf8(&self.payload[..end]).ok()
    }
}

/// Iterator over the attributes in a buffer. It stops at the first malformed header
/// (length below 4 or past the end), like the kernel's `nla_for_each_attr`.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { rest: buf }
    }

    /// The first attribute of type `ty`.
    pub fn find(&self, ty: u16) -> Option<Attr<'a>> {
        Iterator::find(&mut self.clone(), |a: &Attr<'a>| a.ty == ty)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        if self.rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        let ty = u16::from_ne_bytes([self.rest[2], self.rest[3]]);
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[NLA_HDRLEN..len];
        self.rest = &self.rest[align4(len).min(self.rest.len())..];
        Some(Attr {
            ty: ty & NLA_TYPE_MASK,
            nested_flag: ty & NLA_F_NESTED != 0,
            payload,
        })
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn string_is_nul_terminated_and_padded() {
        let mut b = Vec::new();
        AttrWriter::new(&mut b).put_str(1, "t");
        assert_eq!(b, [6, 0, 1, 0, b't', 0, 0, 0]);
        let mut b = Vec::new();
        AttrWriter::new(&mut b).put_str(2, "abc");
        assert_eq!(b, [8, 0, 2, 0, b'a', b'b', b'c', 0]);
    }

    #[test]
    fn integers_are_big_endian() {
        let mut b = Vec::new();
        AttrWriter::new(&mut b)
            .put_u8(1, 17)
            .put_u16_be(2, 5060)
            .put_u32_be(7, 60)
            .put_u64_be(4, 90_000);
        assert_eq!(
            b,
            [
                5, 0, 1, 0, 17, 0, 0, 0, //
                6, 0, 2, 0, 0x13, 0xc4, 0, 0, //
                8, 0, 7, 0, 0, 0, 0, 60, //
                12, 0, 4, 0, 0, 0, 0, 0, 0, 0x01, 0x5f, 0x90,
            ]
        );
    }

    #[test]
    fn nested_lengths_are_patched() {
        let mut b = Vec::new();
        let mut w = AttrWriter::new(&mut b);
        let outer = w.begin_nested(1);
        let inner = w.begin_nested(1);
        w.put(1, &[10, 0, 0, 2]);
        w.end_nested(inner);
        w.end_nested(outer);
        assert_eq!(b, [16, 0, 1, 0x80, 12, 0, 1, 0x80, 8, 0, 1, 0, 10, 0, 0, 2]);
    }

    #[test]
    fn parse_walks_padding_and_nests() {
        let b = [
            6, 0, 1, 0, b't', 0, 0, 0, // "t"
            20, 0, 3, 0x80, // nest 3
            5, 0, 1, 0, 17, 0, 0, 0, // u8 17
            6, 0, 2, 0, 0x13, 0xc4, 0, 0, // be16 5060
        ];
        let attrs: Vec<_> = Attrs::new(&b).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].ty, 1);
        assert_eq!(attrs[0].str(), Some("t"));
        assert_eq!(attrs[1].ty, 3);
        assert!(attrs[1].nested_flag);
        let inner = attrs[1].nested();
        assert_eq!(inner.find(1).and_then(|a| a.u8()), Some(17));
        assert_eq!(inner.find(2).and_then(|a| a.u16_be()), Some(5060));
        assert_eq!(inner.find(3), None);
    }

    #[test]
    fn parse_stops_on_malformed_length() {
        // Second attribute claims 40 bytes but only 8 remain; a zero length never loops.
        let b = [5, 0, 1, 0, 1, 0, 0, 0, 40, 0, 2, 0, 0, 0, 0, 0];
        assert_eq!(Attrs::new(&b).count(), 1);
        let b = [0, 0, 1, 0, 1, 0, 0, 0];
        assert_eq!(Attrs::new(&b).count(), 0);
        // Last attribute unpadded at the end of the buffer is still accepted.
        let b = [5, 0, 1, 0, 9];
        assert_eq!(Attrs::new(&b).next().and_then(|a| a.u8()), Some(9));
    }
}
