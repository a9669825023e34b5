//! Byte-level helpers shared by the SIP and SDP views: whitespace, case-insensitive
//! comparison, decimal numbers and IPv4 literals, all on `&[u8]` without allocation.

use core::ops::Range;
use std::net::Ipv4Addr;

/// Space or horizontal tab.
pub fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Linear white space as it may appear inside a folded header value.
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// ASCII case-insensitive equality with a lower-case constant, compared all at once:
/// each byte of `s` is folded to lower case only where `lower` has a letter (so
/// `b | 0x20 == b'c'` holds exactly for `c` and `C`), other bytes must be equal.
#[inline]
pub fn eq_lower<const N: usize>(s: &[u8], lower: &[u8; N]) -> bool {
    let Ok(s) = <&[u8; N]>::try_from(s) else {
        return false;
    };
    let mut diff = 0;
    for i in 0..N {
        let fold = if lower[i].is_ascii_lowercase() {
            0x20
        } else {
            0
        };
        diff |= (s[i] | fold) ^ lower[i];
    }
    diff == 0
}

/// ASCII case-insensitive prefix test against a lower-case constant.
#[inline]
pub fn starts_with_lower<const N: usize>(hay: &[u8], prefix: &[u8; N]) -> bool {
    hay.len() >= N && eq_lower(&hay[..N], prefix)
}

/// Narrows `r` so that it has no linear white space at either end.
pub fn trim(buf: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && is_lws(buf[r.start]) {
        r.start += 1;
    }
    while r.end > r.start && is_lws(buf[r.end - 1]) {
        r.end -= 1;
    }
    r
}

/// First index in `r` at or after `from` whose byte is not linear white space.
pub fn skip_lws(buf: &[u8], from: usize, end: usize) -> usize {
    let mut i = from;
    while i < end && is_lws(buf[i]) {
        i += 1;
    }
    i
}

/// Parses an unsigned decimal number of at most 10 digits that fits in `u32`.
pub fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    u32::try_from(v).ok()
}

/// Parses a port number 0..=65535.
pub fn parse_port(digits: &[u8]) -> Option<u16> {
    parse_u32(digits).and_then(|v| u16::try_from(v).ok())
}

/// Parses a strict dotted-quad IPv4 literal (`1`–`3` digits per part, each ≤ 255).
pub fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    // One pass: at most 15 bytes, four parts.
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut parts = [0u8; 4];
    let (mut part, mut value, mut digits) = (0, 0u32, 0);
    for &b in s {
        if b.is_ascii_digit() {
            value = value * 10 + u32::from(b - b'0');
            digits += 1;
            if digits > 3 {
                return None;
            }
        } else if b == b'.' && digits > 0 && part < 3 {
            parts[part] = u8::try_from(value).ok()?;
            (part, value, digits) = (part + 1, 0, 0);
        } else {
            return None;
        }
    }
    if part != 3 || digits == 0 {
        return None;
    }
    parts[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(parts))
}

pub use super::search::{find_byte, find_lf};

/// Length of the run of bytes at the start of `s` that satisfy `pred`.
pub fn run_len(s: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&b| !pred(b)).unwrap_or(s.len())
}

/// The decimal text of every octet value, packed little-endian into the low three
/// bytes of a word (digits first), with the digit count in the top byte.
static OCTETS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut v = 0;
    while v < 256 {
        let (h, t, o) = ((v / 100) as u32, (v / 10 % 10) as u32, (v % 10) as u32);
        table[v] = if v >= 100 {
            (b'0' as u32 + h) | (b'0' as u32 + t) << 8 | (b'0' as u32 + o) << 16 | 3 << 24
        } else if v >= 10 {
            (b'0' as u32 + t) | (b'0' as u32 + o) << 8 | 2 << 24
        } else {
            (b'0' as u32 + o) | 1 << 24
        };
        v += 1;
    }
    table
};

/// A small formatter for addresses and numbers into a fixed inline buffer.
#[derive(Clone, Copy)]
pub struct Inline {
    buf: [u8; 24],
    len: u8,
}

impl Inline {
    pub const fn new() -> Self {
        Inline {
            buf: [0; 24],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    pub fn push(&mut self, b: u8) {
        let at = self.len as usize;
        if at < self.buf.len() {
            self.buf[at] = b;
            self.len += 1;
        }
    }

    pub fn push_u32(&mut self, v: u32) {
        let digits = match v {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            1_000..=9_999 => 4,
            10_000..=99_999 => 5,
            100_000..=999_999 => 6,
            1_000_000..=9_999_999 => 7,
            10_000_000..=99_999_999 => 8,
            100_000_000..=999_999_999 => 9,
            _ => 10,
        };
        let at = self.len as usize;
        let Some(slot) = self.buf.get_mut(at..at + digits) else {
            return;
        };
        let mut v = v;
        for d in slot.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.len += digits as u8;
    }

    /// One to three digits, without leading zeros (an IPv4 octet), from [`OCTETS`]:
    /// four bytes stored at once (the slot past the digits is overwritten later or is
    /// not part of the text).
    fn push_u8(&mut self, v: u8) {
        let at = self.len as usize;
        let Some(slot) = self.buf.get_mut(at..at + 4) else {
            return;
        };
        let entry = OCTETS[usize::from(v)];
        slot.copy_from_slice(&entry.to_le_bytes());
        self.len += (entry >> 24) as u8;
    }

    pub fn push_ip(&mut self, ip: Ipv4Addr) {
        let [a, b, c, d] = ip.octets();
        self.push_u8(a);
        self.push(b'.');
        self.push_u8(b);
        self.push(b'.');
        self.push_u8(c);
        self.push(b'.');
        self.push_u8(d);
    }

    pub fn ip(ip: Ipv4Addr) -> Self {
        let mut s = Inline::new();
        s.push_ip(ip);
        s
    }

    pub fn number(v: u32) -> Self {
        let mut s = Inline::new();
        s.push_u32(v);
        s
    }

    /// A copy of `bytes` if they fit (24 bytes); `None` if they do not.
    pub fn copy_of(bytes: &[u8]) -> Option<Self> {
        let mut s = Inline::new();
        s.buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        s.len = bytes.len() as u8;
        Some(s)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `ip` or `ip:port`.
    pub fn host_port(ip: Ipv4Addr, port: Option<u16>) -> Self {
        let mut s = Inline::ip(ip);
        if let Some(p) = port {
            s.push(b':');
            s.push_u32(u32::from(p));
        }
        s
    }
}

// By the text: bytes past `len` may hold leftovers of the octet formatter.
impl PartialEq for Inline {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Inline {}

impl Default for Inline {
    fn default() -> Self {
        Inline::new()
    }
}

impl core::fmt::Debug for Inline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_copies_what_fits_and_compares_by_text() {
        let c = Inline::copy_of(b"192.168.001.191:05060").unwrap();
        assert_eq!(c.as_bytes(), b"192.168.001.191:05060");
        assert!(Inline::copy_of(&[b'1'; 24]).is_some());
        assert!(Inline::copy_of(&[b'1'; 25]).is_none(), "never truncated");
        assert!(Inline::copy_of(b"").unwrap().is_empty());
        // The octet formatter writes past the text; equality looks at the text only.
        let formatted = Inline::ip(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(formatted, Inline::copy_of(b"10.0.0.1").unwrap());
        assert_ne!(formatted, Inline::copy_of(b"10.0.0.10").unwrap());
    }

    #[test]
    fn ipv4_literals() {
        assert_eq!(
            parse_ipv4(b"192.168.1.20"),
            Some(Ipv4Addr::new(192, 168, 1, 20))
        );
        assert_eq!(parse_ipv4(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(parse_ipv4(b"255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(parse_ipv4(b"010.1.1.1"), Some(Ipv4Addr::new(10, 1, 1, 1)));
        for bad in [
            &b"256.1.1.1"[..],
            b"1.2.3",
            b"1.2.3.4.5",
            b"1..2.3",
            b"a.b.c.d",
            b"1.2.3.4 ",
            b"",
            b"0001.2.3.4",
            b"1.2.3.",
            b".1.2.3",
            b"1.2.3.256",
            b"1.2.3.4a",
            b"255.255.255.2555",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The one-pass parser against the obvious split-and-parse reading, over every
    /// string of up to 7 bytes from `0 1 5 9 . x` plus random longer ones.
    #[test]
    fn ipv4_literals_match_a_split_reference() {
        fn reference(s: &[u8]) -> Option<Ipv4Addr> {
            let parts: Vec<&[u8]> = s.split(|&b| b == b'.').collect();
            if parts.len() != 4 {
                return None;
            }
            let mut o = [0u8; 4];
            for (i, p) in parts.iter().enumerate() {
                if p.is_empty() || p.len() > 3 {
                    return None;
                }
                o[i] = u8::try_from(parse_u32(p)?).ok()?;
            }
            Some(Ipv4Addr::from(o))
        }
        let alphabet = b"0159.x";
        let mut checked = 0;
        for len in 0..=7u32 {
            for n in 0..alphabet.len().pow(len) {
                let mut k = n;
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[k % alphabet.len()];
                        k /= alphabet.len();
                        b
                    })
                    .collect();
                assert_eq!(parse_ipv4(&s), reference(&s), "{s:?}");
                checked += 1;
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let digits = b"0123456789..";
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 7 + (x % 10) as usize;
            let s: Vec<u8> = (0..len)
                .map(|i| digits[((x >> (i * 4)) % digits.len() as u64) as usize])
                .collect();
            assert_eq!(parse_ipv4(&s), reference(&s), "{s:?}");
            checked += 1;
        }
        assert!(checked > 300_000);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0068"), Some(68));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"12a"), None);
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"65536"), None);
    }

    #[test]
    fn inline_formatting() {
        assert_eq!(
            Inline::host_port(Ipv4Addr::new(203, 0, 113, 1), Some(5060)).as_bytes(),
            b"203.0.113.1:5060"
        );
        assert_eq!(
            Inline::host_port(Ipv4Addr::new(255, 255, 255, 255), Some(65535)).as_bytes(),
            b"255.255.255.255:65535"
        );
        assert_eq!(Inline::number(0).as_bytes(), b"0");
        for v in 0..=255u8 {
            let ip = Ipv4Addr::new(v, 255 - v, v / 3, 9);
            assert_eq!(Inline::ip(ip).as_bytes(), ip.to_string().as_bytes());
        }
        assert_eq!(Inline::number(4294967295).as_bytes(), b"4294967295");
    }

    /// Against the standard library's comparison, for every byte at every position of
    /// names with letters, digits and punctuation.
    #[test]
    fn lower_case_constants() {
        fn check<const N: usize>(lower: &[u8; N]) {
            assert!(eq_lower(lower, lower));
            assert!(!eq_lower(&lower[..N - 1], lower));
            for i in 0..N {
                for b in 0..=255u8 {
                    let mut s = *lower;
                    s[i] = b;
                    assert_eq!(
                        eq_lower(&s, lower),
                        s.eq_ignore_ascii_case(lower),
                        "{:?}",
                        String::from_utf8_lossy(&s)
                    );
                }
            }
        }
        check(b"content-length");
        check(b"call-id");
        check(b"a1@[z");
        check(b"v");
    }

    #[test]
    fn trimming() {
        let b = b" \r\n a b \t";
        assert_eq!(&b[trim(b, 0..b.len())], b"a b");
        assert_eq!(trim(b"   ", 0..3), 3..3);
        assert!(starts_with_lower(b"Application/SDP", b"application/sdp"));
        assert!(!starts_with_lower(b"app", b"application"));
    }
}
