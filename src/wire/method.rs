//! SIP method names, compared in one place.
//!
//! RFC 3261 §7.1: "The method token is case-sensitive." §25.1 spells each method in
//! hex (`INVITEm = %x49.4E.56.49.54.45 ; INVITE in caps`), and §8.1.1.5 makes the CSeq
//! method match the request's. So `invite` is not INVITE but an unknown extension
//! method, which a UAS refuses (405/501): the ALG must not start a call, end one or
//! track a registration for it. Every decision the ALG takes on a method, from a
//! request line or a CSeq, goes through [`Method::is`].

/// The methods the ALG decides on (RFC 3261 §25.1's own six).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Invite,
    Ack,
    Options,
    Bye,
    Cancel,
    Register,
}

impl Method {
    /// The token as it is written on the wire.
    pub const fn token(self) -> &'static [u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Options => b"OPTIONS",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Register => b"REGISTER",
        }
    }

    /// Whether `token` (a request's method, or a CSeq's; `None`: there is none) is
    /// this method: byte for byte, case-sensitively.
    #[inline]
    pub fn is(self, token: Option<&[u8]>) -> bool {
        token == Some(self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_token_is_case_sensitive() {
        assert!(Method::Invite.is(Some(b"INVITE")));
        assert!(!Method::Invite.is(Some(b"invite")));
        assert!(!Method::Invite.is(Some(b"Invite")));
        assert!(!Method::Invite.is(Some(b"INVITe")));
        assert!(Method::Register.is(Some(b"REGISTER")));
        assert!(!Method::Register.is(Some(b"register")));
        assert!(!Method::Register.is(Some(b"Register")));
        assert!(Method::Bye.is(Some(b"BYE")));
        assert!(!Method::Bye.is(Some(b"bye")));
        assert!(Method::Cancel.is(Some(b"CANCEL")));
        assert!(!Method::Cancel.is(Some(b"cancel")));
    }

    #[test]
    fn only_the_whole_token_matches() {
        assert!(!Method::Invite.is(None));
        assert!(!Method::Invite.is(Some(b"")));
        assert!(!Method::Invite.is(Some(b"INVIT")));
        assert!(!Method::Invite.is(Some(b"INVITES")));
        assert!(!Method::Invite.is(Some(b"INVITE ")));
        assert!(!Method::Invite.is(Some(b" INVITE")));
        assert!(!Method::Ack.is(Some(b"ACKS")));
        // Another method is not this one.
        assert!(!Method::Register.is(Some(b"INVITE")));
        assert!(!Method::Options.is(Some(b"OPTION")));
    }

    /// RFC 3261 §25.1's hex spellings.
    #[test]
    fn tokens_are_rfc_3261s() {
        assert_eq!(Method::Invite.token(), [0x49, 0x4E, 0x56, 0x49, 0x54, 0x45]);
        assert_eq!(Method::Ack.token(), [0x41, 0x43, 0x4B]);
        assert_eq!(
            Method::Options.token(),
            [0x4F, 0x50, 0x54, 0x49, 0x4F, 0x4E, 0x53]
        );
        assert_eq!(Method::Bye.token(), [0x42, 0x59, 0x45]);
        assert_eq!(Method::Cancel.token(), [0x43, 0x41, 0x4E, 0x43, 0x45, 0x4C]);
        assert_eq!(
            Method::Register.token(),
            [0x52, 0x45, 0x47, 0x49, 0x53, 0x54, 0x45, 0x52]
        );
    }
}
