//! Inbound restoration is driven by what the ALG did on the way out, not by address
//! matching alone. The engine tells a [`Memory`] what it did to each outbound message
//! ([`Memory::sent`]) and asks it, for a message towards the LAN, whether the ALG
//! rewrote the request a response answers ([`Memory::response`]) or the Contact a
//! request is aimed at ([`Memory::request`]). Only then are the bytes that carry the
//! public mapping given back their private value; what the phone wrote itself (a
//! NAT-aware phone's public Via or Contact) arrives as the far end sent it.
//!
//! The daemon's memory is `state::restore::Restore` (bounded, expiring). Without one
//! (`sipalgd rewrite`, tests of single messages) [`AssumeRewritten`] answers as if the
//! ALG had rewritten everything of the phone's (a phone that is not NAT-aware).
//!
//! What is given back is what the phone wrote, byte for byte: the memory keeps the
//! phone's own `host[:port]` of the top Via, the Contact and the Record-Route the ALG
//! rewrote ([`Written`]), so that a phone that wrote no port (`192.168.1.191`) gets no
//! port back, not the `192.168.1.191:5060` it means (RFC 3261 §18.1.2 compares the
//! sent-by as written). Without that knowledge the private address is written, with a
//! port iff the token carried one.
//!
//! From and To are never rewritten in either direction.

use super::edit::Field;
use super::Nat;
use crate::wire::text::Inline;

/// What the ALG changed in an outbound message (a set of flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rewrites(pub u8);

impl Rewrites {
    pub const NONE: Rewrites = Rewrites(0);
    /// The top Via sent-by.
    pub const VIA: Rewrites = Rewrites(1);
    /// A Contact.
    pub const CONTACT: Rewrites = Rewrites(2);
    /// A Record-Route the sender added.
    pub const RECORD_ROUTE: Rewrites = Rewrites(4);
    pub const ALL: Rewrites = Rewrites(7);

    pub fn contains(self, other: Rewrites) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn with(self, other: Rewrites) -> Rewrites {
        Rewrites(self.0 | other.0)
    }

    /// The rewrite a field of an inbound message would undo.
    pub fn of(field: Field) -> Rewrites {
        match field {
            Field::ViaSentBy | Field::ViaReceived | Field::ViaRport => Rewrites::VIA,
            Field::Contact | Field::RequestUri => Rewrites::CONTACT,
            Field::Route | Field::RecordRoute => Rewrites::RECORD_ROUTE,
            _ => Rewrites::NONE,
        }
    }
}

/// What the memory knows about the outbound side of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recalled {
    /// Nothing: never seen, expired, or evicted. Fail-open: nothing is restored.
    Unknown,
    /// The ALG saw it and made these rewrites (possibly none: the phone wrote its
    /// public address itself, or the message was left alone).
    Seen(Rewrites),
}

impl Recalled {
    pub fn rewrites(self) -> Rewrites {
        match self {
            Recalled::Unknown => Rewrites::NONE,
            Recalled::Seen(r) => r,
        }
    }
}

/// An outbound message as the ALG let it go.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// A request (a client transaction starts) or a response.
    pub request: bool,
    /// The top Via branch (the Call-ID when there is none: RFC 2543).
    pub branch: Option<&'a [u8]>,
    /// The CSeq method.
    pub method: Option<&'a [u8]>,
    /// The top Via sent-by as written on the wire (after the rewrite).
    pub sent_by: Option<&'a [u8]>,
    /// What the phone wrote where the ALG rewrote it: the top Via's sent-by, the
    /// `host[:port]` of a Contact and of a Record-Route that now carry the public
    /// mapping.
    pub phone_wrote: Wrote<'a>,
    /// What the ALG changed.
    pub rewrote: Rewrites,
    /// The message carries a Contact (any).
    pub has_contact: bool,
    /// The message was left alone because the sender writes its public address itself.
    pub nat_aware: bool,
    /// A REGISTER's longest contact expiry (seconds), when it states one.
    pub registration: Option<u32>,
}

/// The phone's own `host[:port]` tokens the ALG replaced in one outbound message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wrote<'a> {
    pub via: Option<&'a [u8]>,
    pub contact: Option<&'a [u8]>,
    pub record_route: Option<&'a [u8]>,
}

/// What the phone wrote, as remembered: the bytes to give back. Empty: not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// The top Via sent-by of the request a response answers.
    pub via: Inline,
    /// The phone's Contact `host[:port]` (a 2xx's Contact, a Request-URI).
    pub contact: Inline,
    /// The phone's Record-Route `host[:port]` (Route, Record-Route).
    pub record_route: Inline,
}

impl Written {
    /// What the phone wrote in place of a token of `field`, if known.
    pub fn of(&self, field: Field) -> Option<&Inline> {
        let w = match field {
            Field::ViaSentBy => &self.via,
            Field::Contact | Field::RequestUri => &self.contact,
            Field::Route | Field::RecordRoute => &self.record_route,
            _ => return None,
        };
        (!w.is_empty()).then_some(w)
    }
}

/// The memory's answer about an inbound message: what the ALG did, and what the phone
/// had written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recall {
    pub recalled: Recalled,
    pub written: Written,
}

impl From<Recalled> for Recall {
    fn from(recalled: Recalled) -> Self {
        Recall {
            recalled,
            written: Written::default(),
        }
    }
}

/// The client transaction an inbound response belongs to (RFC 3261 §17.1.3: branch and
/// CSeq method), with the sent-by the response's top Via carries.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub branch: &'a [u8],
    pub method: &'a [u8],
    pub sent_by: &'a [u8],
    pub status: u16,
    /// The classes of fields in it that carry the public mapping: what the phone wrote
    /// is needed for these only.
    pub candidates: Rewrites,
}

/// What the ALG did on the way out, asked on the way back. See the module docs.
pub trait Memory {
    /// An outbound message of the phone behind `nat`, after planning.
    fn sent(&mut self, nat: &Nat, sent: &Sent);
    /// An inbound response to the phone behind `nat`: what the ALG did to its request
    /// (and what the phone wrote there).
    fn response(&mut self, nat: &Nat, answer: &Answer) -> Recall;
    /// An inbound request to the phone behind `nat`: what the ALG last did to the
    /// phone's Contact / Record-Route (and what the phone wrote there).
    fn request(&mut self, nat: &Nat) -> Recall;
}

/// No memory: every inbound message is treated as coming back after the ALG rewrote the
/// phone's request, Contact and Record-Route (the phone is not NAT-aware). Used by
/// `sipalgd rewrite` without `--request`, by the daemon with the ALG off (where the
/// mapping is the identity and nothing can change), and by single-message tests.
pub struct AssumeRewritten;

impl Memory for AssumeRewritten {
    fn sent(&mut self, _: &Nat, _: &Sent) {}
    fn response(&mut self, _: &Nat, _: &Answer) -> Recall {
        Recalled::Seen(Rewrites::ALL).into()
    }
    fn request(&mut self, _: &Nat) -> Recall {
        Recalled::Seen(Rewrites::ALL).into()
    }
}

/// What the inbound restoration decided, for `--explain` and debug logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restoration {
    /// Inbound response: what the memory said about its transaction.
    pub transaction: Option<Recalled>,
    /// Inbound request: what the memory said about the phone's Contact.
    pub contact: Option<Recalled>,
    /// Classes of header fields that carried the public mapping and were restored.
    pub restored: Rewrites,
    /// Classes of header fields that carried the public mapping and were left as
    /// received.
    pub kept: Rewrites,
    /// SDP streams on the public address that were restored / left as received.
    pub streams_restored: u8,
    pub streams_kept: u8,
}

fn class_name(r: Rewrites, request: bool) -> &'static str {
    match r {
        Rewrites::VIA => "Via",
        Rewrites::CONTACT if request => "Request-URI",
        Rewrites::CONTACT => "Contact",
        _ => "Route/Record-Route",
    }
}

impl Restoration {
    /// One line per decision, e.g. `Via not restored: transaction z9hG4bKstun1 (INVITE)
    /// was not rewritten by the ALG`. `branch`/`method` name the transaction.
    pub fn lines(&self, branch: Option<&[u8]>, method: Option<&[u8]>) -> Vec<String> {
        let s = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or(b"-")).into_owned();
        let mut out = Vec::new();
        let (what, recalled, request) = match (self.transaction, self.contact) {
            (Some(t), _) => (
                format!("transaction {} ({})", s(branch), s(method)),
                t,
                false,
            ),
            (None, Some(c)) => ("the phone's Contact".to_string(), c, true),
            (None, None) => return out,
        };
        for class in [Rewrites::VIA, Rewrites::CONTACT, Rewrites::RECORD_ROUTE] {
            let name = class_name(class, request);
            if self.restored.contains(class) {
                out.push(format!("{name} restored: {what} was rewritten by the ALG"));
            } else if self.kept.contains(class) {
                let why = match recalled {
                    Recalled::Unknown => {
                        format!("{what} is unknown or expired (fail-open: left as received)")
                    }
                    Recalled::Seen(r) if r.is_empty() => {
                        format!("{what} was not rewritten by the ALG")
                    }
                    Recalled::Seen(_) => {
                        format!("the ALG did not rewrite the {name} of {what}")
                    }
                };
                out.push(format!("{name} not restored: {why}"));
            }
        }
        if self.streams_restored > 0 {
            out.push(format!(
                "SDP: {} stream(s) the ALG mapped restored",
                self.streams_restored
            ));
        }
        if self.streams_kept > 0 {
            out.push(format!(
                "SDP: {} stream(s) on the public address not restored: not mapped by the ALG for this phone",
                self.streams_kept
            ));
        }
        out
    }
}
