//! Set and map elements and their keys, in nft's register layout: the bytes of
//! `NFTA_DATA_VALUE`.

use std::net::Ipv4Addr;

/// One field of a (possibly concatenated) key, in nft's register layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `ipv4_addr`: 4 bytes, network order.
    Ipv4(Ipv4Addr),
    /// `inet_service`: 2 bytes, network order (+2 zero bytes inside a concatenation).
    Port(u16),
    /// `inet_proto`: 1 byte (+3 zero bytes inside a concatenation).
    Proto(u8),
    /// `mark`: 4 bytes, **host** order (nft's `mark` type is host-endian).
    Mark(u32),
}

impl Field {
    /// The field's bytes (4 bytes at most) and how many there are.
    fn bytes(&self, concat: bool) -> ([u8; 4], usize) {
        let pad = |b: &[u8], min: usize| {
            let mut out = [0u8; 4];
            out[..b.len()].copy_from_slice(b);
            (out, if concat { 4 } else { min })
        };
        match *self {
            Field::Ipv4(a) => (a.octets(), 4),
            Field::Port(p) => pad(&p.to_be_bytes(), 2),
            Field::Proto(p) => pad(&[p], 1),
            Field::Mark(m) => (m.to_ne_bytes(), 4),
        }
    }
}

/// Fields a key holds at most (our sets' keys have one to three).
pub const MAX_KEY_FIELDS: usize = 4;

/// A key (or map data): one field, or a concatenation `a . b . c` where every field
/// occupies a multiple of 4 bytes (`NFT_REG32_SIZE`), as the kernel expects. Held
/// inline: building one allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    fields: [Field; MAX_KEY_FIELDS],
    len: u8,
}

impl Key {
    /// A key of `fields` (one to [`MAX_KEY_FIELDS`]; more is a programming error).
    pub fn new(fields: &[Field]) -> Key {
        assert!(
            (1..=MAX_KEY_FIELDS).contains(&fields.len()),
            "a key has 1 to {MAX_KEY_FIELDS} fields"
        );
        let mut k = Key {
            fields: [Field::Proto(0); MAX_KEY_FIELDS],
            len: fields.len() as u8,
        };
        k.fields[..fields.len()].copy_from_slice(fields);
        k
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields[..usize::from(self.len)]
    }

    /// The bytes of `NFTA_DATA_VALUE`, in `buf` (4 bytes per field at most).
    pub(super) fn encode_into<'b>(&self, buf: &'b mut [u8; 4 * MAX_KEY_FIELDS]) -> &'b [u8] {
        let concat = self.len > 1;
        let mut at = 0;
        for f in self.fields() {
            let (b, n) = f.bytes(concat);
            buf[at..at + n].copy_from_slice(&b[..n]);
            at += n;
        }
        &buf[..at]
    }

    /// The bytes of `NFTA_DATA_VALUE`.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_into(&mut [0; 4 * MAX_KEY_FIELDS]).to_vec()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element {
    pub key: Key,
    /// Map data; `None` for a set.
    pub data: Option<Key>,
    /// Element timeout; `None`: the set's default timeout (or none). Sent as both
    /// `NFTA_SET_ELEM_TIMEOUT` and `NFTA_SET_ELEM_EXPIRATION`, so re-adding an existing
    /// element restarts its expiry (Linux >= 6.12; older kernels leave it unchanged).
    pub timeout_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layouts() {
        let k = Key::new(&[
            Field::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
            Field::Proto(17),
            Field::Port(5060),
        ]);
        assert_eq!(k.encode(), [10, 0, 0, 2, 17, 0, 0, 0, 0x13, 0xc4, 0, 0]);
        // A single (non-concatenated) field keeps its natural length.
        assert_eq!(Key::new(&[Field::Port(5060)]).encode(), [0x13, 0xc4]);
        assert_eq!(Key::new(&[Field::Proto(6)]).encode(), [6]);
        assert_eq!(
            Key::new(&[Field::Mark(0x10), Field::Port(1)]).encode(),
            [0x10u32.to_ne_bytes().as_slice(), &[0, 1, 0, 0]].concat()
        );
    }

    /// The batch `nft add element inet t m { 10.0.0.2 . 5060 timeout 90s : 198.51.100.1 . 40123 }`
    /// sent (strace -xx, nft 1.0.6), except that nft also sends NFTA_SET_ELEM_LIST_SET_ID
    /// and no NLM_F_ACK, orders the timeout first, and sends no NFTA_SET_ELEM_EXPIRATION
    /// (which makes a re-add refresh the element, docs/netlink.md).

    #[test]
    fn keys_alone_and_concatenated() {
        let port = Key::new(&[Field::Port(5060)]);
        assert_eq!(port.encode(), [0x13, 0xc4]);
        assert_eq!(Key::new(&[Field::Proto(17)]).encode(), [17]);
        let cat = Key::new(&[Field::Ipv4(Ipv4Addr::new(10, 0, 0, 2)), Field::Port(5060)]);
        assert_eq!(cat.encode(), [10, 0, 0, 2, 0x13, 0xc4, 0, 0]);
    }

    #[test]
    #[should_panic(expected = "a key has 1 to 4 fields")]
    fn a_key_of_too_many_fields_is_refused() {
        Key::new(&[Field::Mark(1); 5]);
    }
}
