//! Finding one byte (a line feed, a colon) in a buffer: the operation every SIP and
//! SDP line costs. The `memchr` crate does it: SSE2 on x86-64, NEON on AArch64, a
//! word-at-a-time (SWAR) loop on the others (MIPS, 32-bit ARM).
//!
//! This module had its own SSE2/NEON/SWAR search (two `unsafe` blocks); it was measured
//! against `memchr` and replaced (issue #21, 2026-12-06; docs/dependencies.md):
//!
//! | instructions per message (stateless INVITE / daemon's path / 200 restored) | own | `memchr` |
//! |---|---|---|
//! | x86-64, callgrind (`bench/examples/profile.rs`) | 12,831 / 13,682 / 12,164 | 12,955 / 13,806 / 12,247 (+1.0 %) |
//! | AArch64, qemu-counted | 14,572 / 15,133 / 13,301 | 14,757 / 15,318 / 13,351 (+1.3 %) |
//! | mipsel (routers), qemu-counted | 25,439 / 27,319 / 23,590 | 24,928 / 26,808 / 23,292 (−2.0 %) |
//!
//! Size (stripped static musl `sipalgd`, `.text`): +912 bytes on x86-64, +2,096 on mipsel.
//! On x86-64, `memchr::memchr` itself picks AVX2 or SSE2 at run time through a function
//! pointer, which the line reader cannot inline: 13,672 instructions (+6.6 %). Its SSE2
//! searcher is called directly instead (SSE2 is part of the x86-64 baseline).

/// Index of the first `needle` in `s`.
#[inline]
pub fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        // `One::new` is `None` only without SSE2, which no x86-64 CPU lacks.
        match memchr::arch::x86_64::sse2::memchr::One::new(needle) {
            Some(one) => one.find(s),
            None => memchr::memchr(needle, s),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr(needle, s)
    }
}

/// Index of the first `\n` in `s`.
#[inline]
pub fn find_lf(s: &[u8]) -> Option<usize> {
    find_byte(s, b'\n')
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
                            if at + 3 < len {
                                w[at + 3] = needle;
                                assert_eq!(find_byte(&w, needle), naive(&w, needle));
                            }
                        }
                    }
                }
            }
        }
    }
}
