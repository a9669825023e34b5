//! The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.

/// Adds `data` to a running one's-complement accumulator (the result is folded to 16
/// bits, 0 only when everything added so far was zero).
///
/// Summed 8 bytes at a time with end-around carry: 2^64 - 1 is a multiple of
/// 2^16 - 1, so the folded sum is the same as that of the 16-bit words (RFC 1071 §2).
pub fn accumulate(sum: u32, data: &[u8]) -> u32 {
    let mut acc = u64::from(sum);
    let mut add = |v: u64| {
        let (s, carry) = acc.overflowing_add(v);
        acc = s + u64::from(carry);
    };
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        add(u64::from_be_bytes(c.try_into().expect("8 bytes")));
    }
    // The rest (0 to 7 bytes) as one big-endian word, zero-padded at the end.
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        add(u64::from_be_bytes(last));
    }
    fold(acc)
}

/// Folds a 64-bit one's-complement sum to 16 bits (end-around carries kept).
fn fold(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Folds an accumulator into the final complemented checksum.
pub fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_and_known_header() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // A real IPv4 header (checksum field b861) verifies to 0.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0);
        // Odd length pads with a zero byte.
        assert_eq!(checksum(&[0x01]), !0x0100);
    }

    /// RFC 1071 word by word, as the sum was first written.
    fn reference(mut sum: u32, data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        if let [last] = chunks.remainder() {
            sum = sum.wrapping_add(u32::from(u16::from_be_bytes([*last, 0])));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum
    }

    #[test]
    fn eight_bytes_at_a_time_sums_as_word_by_word() {
        // A xorshift stream of bytes; every length up to 70, split at every even point
        // (as the UDP pseudo header is), all-zero and all-0xff data included.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        let mut data: Vec<Vec<u8>> = (0..8).map(|_| (0..70).map(|_| next()).collect()).collect();
        data.push(vec![0; 70]);
        data.push(vec![0xff; 70]);
        for d in &data {
            for len in 0..=d.len() {
                let d = &d[..len];
                assert_eq!(finish(accumulate(0, d)), finish(reference(0, d)), "{d:?}");
                for cut in (0..=len).step_by(2) {
                    let (a, b) = d.split_at(cut);
                    assert_eq!(
                        finish(accumulate(accumulate(0, a), b)),
                        finish(reference(reference(0, a), b)),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
    }
}
