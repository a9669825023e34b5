//! Finding one byte (a line feed, a colon) in a buffer: the operation every SIP and
//! SDP line costs. Sixteen bytes per step with the vector unit every x86-64 and
//! AArch64 CPU has (SSE2, NEON); eight bytes per step in a general-purpose register
//! (SWAR) on the others (MIPS, 32-bit ARM). All three give the same answers; the tests
//! below check each against a plain byte loop.

/// Index of the first `needle` in `s`.
#[inline]
pub fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    if s.len() < 16 {
        swar(s, needle)
    } else {
        vector::find(s, needle)
    }
}

/// Index of the first `\n` in `s`.
#[inline]
pub fn find_lf(s: &[u8]) -> Option<usize> {
    find_byte(s, b'\n')
}

/// Eight bytes at a time: after XOR with the needle repeated, a matching byte is zero;
/// the lowest flagged byte is the first match (the word is read little-endian, and
/// only flags above a true zero byte can be false).
fn swar(s: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut i = 0;
    while i + 8 <= s.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pattern;
        let t = x.wrapping_sub(LO) & !x & HI;
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s[i..].iter().position(|&b| b == needle).map(|p| p + i)
}

// The vector searches take an `s` of at least 16 bytes; its last block is read so
// that it ends with `s` (overlapping the block before), and the bytes already searched
// are masked off.

#[cfg(target_arch = "x86_64")]
mod vector {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };

    #[inline]
    pub fn find(s: &[u8], needle: u8) -> Option<usize> {
        // SAFETY: SSE2 is part of the x86-64 baseline. Every load reads 16 bytes at
        // `at` with `at + 16 <= s.len()` (unaligned loads are allowed).
        unsafe {
            let n = _mm_set1_epi8(needle as i8);
            let matches = |at: usize| {
                let v = _mm_loadu_si128(s.as_ptr().add(at).cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, n)) as u32
            };
            let mut i = 0;
            while i + 16 <= s.len() {
                let m = matches(i);
                if m != 0 {
                    return Some(i + m.trailing_zeros() as usize);
                }
                i += 16;
            }
            if i == s.len() {
                return None;
            }
            // The last, partly searched block again, without the bytes already seen.
            let last = s.len() - 16;
            let m = matches(last) >> (i - last);
            (m != 0).then(|| i + m.trailing_zeros() as usize)
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod vector {
    use core::arch::aarch64::{
        vceqq_u8, vdupq_n_u8, vget_lane_u64, vld1q_u8, vreinterpret_u64_u8, vreinterpretq_u16_u8,
        vshrn_n_u16,
    };

    #[inline]
    pub fn find(s: &[u8], needle: u8) -> Option<usize> {
        // SAFETY: NEON is part of the AArch64 baseline. Every load reads 16 bytes at
        // `at` with `at + 16 <= s.len()`.
        unsafe {
            let n = vdupq_n_u8(needle);
            // Four bits per byte: narrowing the 0x00/0xff comparison result by a
            // shift of four keeps one nibble of each byte in a 64-bit mask.
            let matches = |at: usize| {
                let eq = vceqq_u8(vld1q_u8(s.as_ptr().add(at)), n);
                let nibbles = vshrn_n_u16::<4>(vreinterpretq_u16_u8(eq));
                vget_lane_u64::<0>(vreinterpret_u64_u8(nibbles))
            };
            let mut i = 0;
            while i + 16 <= s.len() {
                let m = matches(i);
                if m != 0 {
                    return Some(i + (m.trailing_zeros() / 4) as usize);
                }
                i += 16;
            }
            if i == s.len() {
                return None;
            }
            let last = s.len() - 16;
            let m = matches(last) >> (4 * (i - last));
            (m != 0).then(|| i + (m.trailing_zeros() / 4) as usize)
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod vector {
    /// No vector unit to rely on: the SWAR search does all the work.
    #[inline]
    pub fn find(s: &[u8], needle: u8) -> Option<usize> {
        super::swar(s, needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &[u8], needle: u8) -> Option<usize> {
        s.iter().position(|&b| b == needle)
    }

    #[test]
    fn finds_line_feeds() {
        assert_eq!(find_lf(b""), None);
        assert_eq!(find_lf(b"\n"), Some(0));
        assert_eq!(find_lf(b"abcdefg\n"), Some(7));
        assert_eq!(find_lf(b"abcdefgh\nij\n"), Some(8));
        assert_eq!(find_lf(b"abcdefghijklmnopqrstuvwxyz"), None);
        assert_eq!(find_byte(b"Via: x", b':'), Some(3));
        assert_eq!(find_byte(b"0123456789abcdef:", b':'), Some(16));
        assert_eq!(find_byte(b"\xff\xfe\xba:", b':'), Some(3));
        // Bytes that differ from 0x0a by one bit, and 0x0b/0x09 around it.
        assert_eq!(find_lf(b"\x0b\x09\x8a\x0a\x0a"), Some(3));
    }

    /// Every length up to 70 (several vector blocks, word and byte tails), every
    /// position of the needle, at every offset into the buffer, with and without bytes
    /// near the needle's value (and 0x80+ bytes) around it; first match wins.
    #[test]
    fn agrees_with_a_byte_loop_everywhere() {
        let fillers: [&[u8]; 3] = [b"x", b"\x0b\x09\x8a\x0b\x00\xff", b"\x3b\x3a\x39"];
        for needle in [b'\n', b':', 0u8, 0xff] {
            for filler in fillers {
                let base: Vec<u8> = filler
                    .iter()
                    .copied()
                    .filter(|&b| b != needle)
                    .cycle()
                    .take(90)
                    .collect();
                for offset in 0..17 {
                    for len in 0..70 {
                        let mut v = base.clone();
                        let s = &mut v[offset..offset + len];
                        assert_eq!(find_byte(s, needle), None);
                        for at in 0..len {
                            let mut w = s.to_vec();
                            w[at] = needle;
                            assert_eq!(find_byte(&w, needle), Some(at));
                            assert_eq!(swar(&w, needle), Some(at));
                            if at + 3 < len {
                                w[at + 3] = needle;
                                assert_eq!(find_byte(&w, needle), naive(&w, needle));
                            }
                        }
                        assert_eq!(swar(s, needle), None);
                    }
                }
            }
        }
    }
}
