//! What a message tells the stateful layer: who it belongs to (Call-ID, CSeq, tags),
//! what it registers, and which media it announces. Everything borrows the message.

use crate::wire::via::Transport;
use std::net::{Ipv4Addr, SocketAddrV4};

pub const MAX_STREAMS: usize = 8;
pub const MAX_CONTACTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    Image,
    Application,
    Text,
    Message,
    Other,
}

impl MediaKind {
    pub fn of(name: &[u8]) -> MediaKind {
        match name {
            b"audio" => MediaKind::Audio,
            b"video" => MediaKind::Video,
            b"image" => MediaKind::Image,
            b"application" => MediaKind::Application,
            b"text" => MediaKind::Text,
            b"message" => MediaKind::Message,
            _ => MediaKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Image => "image",
            MediaKind::Application => "application",
            MediaKind::Text => "text",
            MediaKind::Message => "message",
            MediaKind::Other => "other",
        }
    }
}

/// The SDP direction attribute in force for a stream (media level overrides session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamDirection {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl StreamDirection {
    pub fn of(attribute: &[u8]) -> Option<StreamDirection> {
        match attribute {
            b"sendrecv" => Some(StreamDirection::SendRecv),
            b"sendonly" => Some(StreamDirection::SendOnly),
            b"recvonly" => Some(StreamDirection::RecvOnly),
            b"inactive" => Some(StreamDirection::Inactive),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamDirection::SendRecv => "sendrecv",
            StreamDirection::SendOnly => "sendonly",
            StreamDirection::RecvOnly => "recvonly",
            StreamDirection::Inactive => "inactive",
        }
    }
}

/// One `m=` stream as announced (addresses as written in the message) and, for an
/// outbound message whose stream belongs to the sender, the public ports it now carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub kind: MediaKind,
    /// The effective connection address (media-level `c=`, else session-level), when
    /// it is an IPv4 literal.
    pub address: Option<Ipv4Addr>,
    /// The `m=` port; 0 means the stream is removed or rejected.
    pub port: u16,
    /// `a=rtcp` port, or `port + 1` (0 when the stream is removed).
    pub rtcp_port: u16,
    /// The stream announced RTCP with `a=rtcp`.
    pub explicit_rtcp: bool,
    pub direction: StreamDirection,
    /// The stream's addresses were the sender's own and were mapped to the public side.
    pub mapped: bool,
    pub public_port: u16,
    pub public_rtcp_port: u16,
}

impl Stream {
    pub fn endpoint(&self) -> Option<SocketAddrV4> {
        self.address.map(|a| SocketAddrV4::new(a, self.port))
    }
}

/// The SDP body's facts.
#[derive(Debug, Clone, Copy)]
pub struct Sdp {
    streams: [Stream; MAX_STREAMS],
    count: usize,
    /// More than [`MAX_STREAMS`] m= lines; the rest were left alone.
    pub truncated: bool,
    /// The SDP carries ICE candidates (`a=candidate`) and was left alone.
    pub has_ice: bool,
    /// The session-level `c=` address when it is an IPv4 literal.
    pub session_address: Option<Ipv4Addr>,
}

impl Default for Sdp {
    fn default() -> Self {
        const NONE: Stream = Stream {
            kind: MediaKind::Other,
            address: None,
            port: 0,
            rtcp_port: 0,
            explicit_rtcp: false,
            direction: StreamDirection::SendRecv,
            mapped: false,
            public_port: 0,
            public_rtcp_port: 0,
        };
        Sdp {
            streams: [NONE; MAX_STREAMS],
            count: 0,
            truncated: false,
            has_ice: false,
            session_address: None,
        }
    }
}

impl Sdp {
    pub fn streams(&self) -> &[Stream] {
        &self.streams[..self.count]
    }

    pub(crate) fn push(&mut self, s: Stream) -> bool {
        if self.count == MAX_STREAMS {
            self.truncated = true;
            return false;
        }
        self.streams[self.count] = s;
        self.count += 1;
        true
    }
}

/// A Contact entry: its IPv4 endpoint as written (port defaults to 5060) and its
/// `expires` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Contact {
    pub address: Option<SocketAddrV4>,
    pub expires: Option<u32>,
}

/// Why a parseable message was deliberately left (entirely) unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The sender already advertises its public address (STUN-aware, or a PBX that
    /// knows its external address).
    NatAware,
    /// `sips:` or a TLS Via: nothing to do (and nothing readable on the wire anyway).
    Secure,
    /// The message would need more than `MAX_EDITS` edits.
    TooManyEdits,
}

impl Skip {
    pub fn name(self) -> &'static str {
        match self {
            Skip::NatAware => "sender is NAT-aware",
            Skip::Secure => "SIPS/TLS",
            Skip::TooManyEdits => "too many edits",
        }
    }
}

/// Everything the stateful layer learns from one message.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub method: Option<&'a [u8]>,
    pub status: Option<u16>,
    pub call_id: Option<&'a [u8]>,
    pub cseq: Option<u32>,
    pub cseq_method: Option<&'a [u8]>,
    pub to_tag: Option<&'a [u8]>,
    /// The To URI (the address of record of a REGISTER).
    pub to_uri: Option<&'a [u8]>,
    /// Transport of the top Via.
    pub transport: Option<Transport>,
    /// The top Via's branch parameter, where it keys one of the phone's client
    /// transactions: in an outbound request and an inbound response (else `None`).
    pub branch: Option<&'a [u8]>,
    /// The `Expires` header.
    pub expires: Option<u32>,
    pub(crate) contacts: [Contact; MAX_CONTACTS],
    pub(crate) contact_count: usize,
    /// `Contact: *` (unregister all).
    pub contact_star: bool,
    /// The SDP body, when there is one of type application/sdp.
    pub sdp: Option<Sdp>,
    pub skipped: Option<Skip>,
}

impl<'a> Facts<'a> {
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts[..self.contact_count]
    }

    pub(crate) fn push_contact(&mut self, c: Contact) {
        if self.contact_count < MAX_CONTACTS {
            self.contacts[self.contact_count] = c;
            self.contact_count += 1;
        }
    }

    /// The expiry that applies to a contact: its own parameter, else the Expires header.
    pub fn contact_expiry(&self, c: &Contact) -> Option<u32> {
        c.expires.or(self.expires)
    }

    pub fn is_request(&self) -> bool {
        self.method.is_some()
    }
}

impl Sdp {
    pub(crate) fn stream_mut(&mut self, i: usize) -> &mut Stream {
        &mut self.streams[i]
    }
}
