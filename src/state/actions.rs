//! What the pure state asks the datapath to do. The daemon turns each action into
//! netlink messages (nft set/map elements, conntrack updates); tests just look at them.

use std::net::{Ipv4Addr, SocketAddrV4};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// New flows from the phone's signalling endpoint `private` leave the WAN from
    /// `public_port` for `seconds`. `refresh`: the element exists already and only its
    /// lifetime starts again (a re-add does that only from Linux 6.12, so the datapath
    /// replaces it).
    Snat {
        private: SocketAddrV4,
        public_port: u16,
        seconds: u32,
        refresh: bool,
    },
    /// A phone's media endpoint with the ALG off: DSCP and the media timeout apply to
    /// its flows (with the ALG on, [`Action::MediaSnat`] and the pinholes do that).
    MediaEndpoint {
        private: SocketAddrV4,
    },
    RemoveMediaEndpoint {
        private: SocketAddrV4,
    },
    /// The phone's media leaves the WAN from `public_port` (symmetric RTP), marked as
    /// media (DSCP, media timeout).
    MediaSnat {
        private: SocketAddrV4,
        public_port: u16,
    },
    RemoveMediaSnat {
        private: SocketAddrV4,
    },
    /// Media sent from the WAN to `public_port` reaches `private`: from `remote` (the
    /// address in the far end's SDP), or from anyone when `remote` is None
    /// (`media_source any`).
    Pinhole {
        remote: Option<Ipv4Addr>,
        public_port: u16,
        private: SocketAddrV4,
    },
    RemovePinhole {
        remote: Option<Ipv4Addr>,
        public_port: u16,
    },
    /// Media other LAN hosts send to the router's public address and `public_port` is
    /// reflected to `private` (hairpin): two LAN phones in one call through an outside
    /// PBX. Added when that public address comes back from outside in an SDP, i.e.
    /// before the other LAN phone can know it.
    Hairpin {
        public_port: u16,
        private: SocketAddrV4,
    },
    RemoveHairpin {
        public_port: u16,
    },
    /// A registered phone stays reachable on `public_port` from `registrar` and the
    /// trusted sources for `seconds`. `refresh`: as for [`Action::Snat`] (a REGISTER
    /// refresh of the same binding).
    Reachable {
        registrar: Ipv4Addr,
        public_port: u16,
        private: SocketAddrV4,
        seconds: u32,
        refresh: bool,
    },
    Unreachable {
        registrar: Ipv4Addr,
        public_port: u16,
    },
    /// The signalling flow `private -> remote` lives at least `seconds` more.
    FlowTimeout {
        private: SocketAddrV4,
        remote: SocketAddrV4,
        seconds: u32,
    },
}
