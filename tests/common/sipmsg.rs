//! SIP and SDP message builders for the lab tests (CRLF line ends, right lengths).

#![allow(dead_code)]

/// LF → CRLF.
pub fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// A SIP message whose Content-Length matches its body. `head` ends with a newline and
/// carries every header but Content-Length.
pub fn sip(head: &str, body: &str) -> Vec<u8> {
    let body = crlf(body);
    let mut m = crlf(&format!("{head}Content-Length: {}\n\n", body.len()));
    m.extend_from_slice(&body);
    m
}

/// A SIP message with an SDP body.
pub fn sip_sdp(head: &str, sdp: &str) -> Vec<u8> {
    sip(&format!("{head}Content-Type: application/sdp\n"), sdp)
}

/// An SDP with one connection address and the given `m=` lines (and their attributes).
pub fn sdp(ip: &str, media: &str) -> String {
    format!("v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\n{media}")
}

pub fn audio(port: u16) -> String {
    format!("m=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
