//! Coverage-guided fuzzing of SIP framing on a TCP stream (`sipalg::wire::sip_stream`):
//! the bytes a phone or a provider may send the relay. The first byte chooses the
//! header limit; the rest is the stream. Invariants: framing never panics, every item
//! it reports lies inside what it was shown (a message's header section, keep-alive
//! bytes), walking item by item consumes the stream, and a prefix of the buffer never
//! frames differently from the whole once the prefix holds the header section.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipalg::wire::sip_stream::{frame, Frame};

fuzz_target!(|data: &[u8]| {
    let Some((&limit, stream)) = data.split_first() else {
        return;
    };
    let max_head = 16 + limit as usize * 16;
    let mut rest = stream;
    while !rest.is_empty() {
        let item = frame(rest, max_head);
        // The same answer from every prefix long enough to decide it.
        let decided_at = match item {
            Frame::KeepAlive(n) => n,
            Frame::Message { head, .. } => head,
            _ => rest.len(),
        };
        for cut in (0..rest.len().min(600)).filter(|&c| c >= decided_at) {
            let again = frame(&rest[..cut.max(1)], max_head);
            if let (Frame::Message { .. }, Frame::Message { .. }) = (item, again) {
                assert_eq!(again, item, "prefix of {cut} bytes");
            }
        }
        match item {
            Frame::KeepAlive(n) => {
                assert!(n > 0 && n <= rest.len());
                assert!(rest[..n].iter().all(|&b| b == b'\r' || b == b'\n'));
                rest = &rest[n..];
            }
            Frame::Message { head, len } => {
                assert!(head > 0 && head <= len && head <= rest.len() && head <= max_head);
                assert!(rest[..head].ends_with(b"\n"));
                if len > rest.len() {
                    return;
                }
                rest = &rest[len..];
            }
            Frame::Incomplete => {
                assert!(rest.len() < max_head);
                return;
            }
            Frame::Malformed(_) => return,
        }
    }
});
