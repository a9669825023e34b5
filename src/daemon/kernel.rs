//! [`Kernel`](super::packet::Kernel) over netlink: SNAT map elements through nftables'
//! netlink API and NAT mappings read from conntrack. A netlink failure is logged and
//! counted by the caller; the packet is still accepted.

use super::packet::Kernel;
use super::ruleset::{
    MEDIA_ANY, MEDIA_DNAT, MEDIA_ENDPOINTS, MEDIA_HAIRPIN, PINHOLE_TARGETS, SIG_DNAT, SIG_TRUSTED,
    SNAT_MAP, TABLE,
};
use crate::netlink::nftables::Change;
use crate::netlink::{Conntrack, Element, Field, Key, Nft, Tuple};
use crate::state::actions::Action;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;

const IPPROTO_UDP: u8 = 17;

#[derive(Default)]
pub struct NetlinkKernel {
    nft: Option<Nft>,
    ct: Option<Conntrack>,
}

impl NetlinkKernel {
    fn nft(&mut self) -> std::io::Result<&mut Nft> {
        if self.nft.is_none() {
            self.nft = Some(Nft::open()?);
        }
        Ok(self.nft.as_mut().expect("just opened"))
    }

    fn ct(&mut self) -> Option<&mut Conntrack> {
        if self.ct.is_none() {
            match Conntrack::open() {
                Ok(c) => self.ct = Some(c),
                Err(e) => {
                    log::warn!("cannot open conntrack netlink: {e}");
                    return None;
                }
            }
        }
        self.ct.as_mut()
    }
}

fn endpoint_key(a: SocketAddrV4) -> Key {
    Key(vec![Field::Ipv4(*a.ip()), Field::Port(a.port())])
}

fn source_port_key(source: Ipv4Addr, port: u16) -> Key {
    Key(vec![Field::Ipv4(source), Field::Port(port)])
}

fn port_key(port: u16) -> Key {
    Key(vec![Field::Port(port)])
}

fn element(key: Key, data: Option<SocketAddrV4>, seconds: Option<u32>) -> Element {
    Element {
        key,
        data: data.map(endpoint_key),
        timeout_ms: seconds.map(|s| u64::from(s) * 1000),
    }
}

/// A missing element is what a delete wanted anyway.
fn deleted(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl NetlinkKernel {
    /// Every UDP conntrack entry (for media counters).
    pub fn dump_udp(&mut self) -> std::io::Result<Vec<crate::netlink::Entry>> {
        match self.ct() {
            Some(ct) => ct.dump_udp(),
            None => Err(std::io::Error::other("no conntrack netlink")),
        }
    }

    /// One action on its own, replacing clashing map elements and ignoring missing
    /// ones (the fallback when a batch is rejected).
    fn apply_one(&mut self, action: &Action, wan_ip: Ipv4Addr) -> std::io::Result<()> {
        if let Action::FlowTimeout {
            private,
            remote,
            seconds,
        } = *action
        {
            let Some(ct) = self.ct() else {
                return Err(std::io::Error::other("no conntrack netlink"));
            };
            return ct.set_timeout(
                &Tuple {
                    src: private,
                    dst: remote,
                    proto: IPPROTO_UDP,
                },
                seconds,
            );
        }
        let nft = self.nft()?;
        let r = match *action {
            Action::MediaEndpoint { private } => nft.add_elements(
                TABLE,
                MEDIA_ENDPOINTS,
                &[element(endpoint_key(private), None, None)],
            ),
            Action::RemoveMediaEndpoint { private } => {
                deleted(nft.delete_elements(TABLE, MEDIA_ENDPOINTS, &[endpoint_key(private)]))
            }
            Action::MediaSnat {
                private,
                public_port,
            } => nft
                .replace_elements(
                    TABLE,
                    SNAT_MAP,
                    &[element(
                        endpoint_key(private),
                        Some(SocketAddrV4::new(wan_ip, public_port)),
                        None,
                    )],
                )
                .and_then(|()| {
                    nft.add_elements(
                        TABLE,
                        PINHOLE_TARGETS,
                        &[element(endpoint_key(private), None, None)],
                    )
                }),
            Action::RemoveMediaSnat { private } => deleted(nft.delete_elements(
                TABLE,
                SNAT_MAP,
                &[endpoint_key(private)],
            ))
            .and_then(|()| {
                deleted(nft.delete_elements(TABLE, PINHOLE_TARGETS, &[endpoint_key(private)]))
            }),
            Action::Pinhole {
                remote,
                public_port,
                private,
            } => {
                let first = match remote {
                    Some(r) => nft.replace_elements(
                        TABLE,
                        MEDIA_DNAT,
                        &[element(
                            source_port_key(r, public_port),
                            Some(private),
                            None,
                        )],
                    ),
                    None => nft.replace_elements(
                        TABLE,
                        MEDIA_ANY,
                        &[element(port_key(public_port), Some(private), None)],
                    ),
                };
                first.and_then(|()| {
                    nft.replace_elements(
                        TABLE,
                        MEDIA_HAIRPIN,
                        &[element(port_key(public_port), Some(private), None)],
                    )
                })
            }
            Action::RemovePinhole {
                remote,
                public_port,
            } => {
                let first = match remote {
                    Some(r) => {
                        nft.delete_elements(TABLE, MEDIA_DNAT, &[source_port_key(r, public_port)])
                    }
                    None => nft.delete_elements(TABLE, MEDIA_ANY, &[port_key(public_port)]),
                };
                deleted(first).and_then(|()| {
                    deleted(nft.delete_elements(TABLE, MEDIA_HAIRPIN, &[port_key(public_port)]))
                })
            }
            Action::Reachable {
                registrar,
                public_port,
                private,
                seconds,
            } => nft
                .replace_elements(
                    TABLE,
                    SIG_DNAT,
                    &[element(
                        source_port_key(registrar, public_port),
                        Some(private),
                        Some(seconds),
                    )],
                )
                .and_then(|()| {
                    nft.replace_elements(
                        TABLE,
                        SIG_TRUSTED,
                        &[element(port_key(public_port), Some(private), Some(seconds))],
                    )
                })
                .and_then(|()| {
                    nft.add_elements(
                        TABLE,
                        PINHOLE_TARGETS,
                        &[element(endpoint_key(private), None, Some(seconds))],
                    )
                }),
            Action::Unreachable {
                registrar,
                public_port,
            } => deleted(nft.delete_elements(
                TABLE,
                SIG_DNAT,
                &[source_port_key(registrar, public_port)],
            ))
            .and_then(|()| {
                deleted(nft.delete_elements(TABLE, SIG_TRUSTED, &[port_key(public_port)]))
            }),
            Action::FlowTimeout { .. } => Ok(()),
        };
        if r.is_err() {
            self.nft = None;
        }
        r
    }
}

/// The set and map changes of one action (none for conntrack actions).
fn changes_of(action: &Action, wan_ip: Ipv4Addr) -> Vec<Change<'static>> {
    let add = |set: &'static str, key: Key, data: Option<SocketAddrV4>, seconds: Option<u32>| {
        Change::Add {
            set,
            element: element(key, data, seconds),
        }
    };
    let del = |set: &'static str, key: Key| Change::Delete { set, key };
    match *action {
        Action::MediaEndpoint { private } => {
            vec![add(MEDIA_ENDPOINTS, endpoint_key(private), None, None)]
        }
        Action::RemoveMediaEndpoint { private } => {
            vec![del(MEDIA_ENDPOINTS, endpoint_key(private))]
        }
        Action::MediaSnat {
            private,
            public_port,
        } => vec![
            add(
                SNAT_MAP,
                endpoint_key(private),
                Some(SocketAddrV4::new(wan_ip, public_port)),
                None,
            ),
            add(PINHOLE_TARGETS, endpoint_key(private), None, None),
        ],
        Action::RemoveMediaSnat { private } => {
            vec![
                del(SNAT_MAP, endpoint_key(private)),
                del(PINHOLE_TARGETS, endpoint_key(private)),
            ]
        }
        Action::Pinhole {
            remote,
            public_port,
            private,
        } => vec![
            match remote {
                Some(r) => add(
                    MEDIA_DNAT,
                    source_port_key(r, public_port),
                    Some(private),
                    None,
                ),
                None => add(MEDIA_ANY, port_key(public_port), Some(private), None),
            },
            add(MEDIA_HAIRPIN, port_key(public_port), Some(private), None),
        ],
        Action::RemovePinhole {
            remote,
            public_port,
        } => vec![
            match remote {
                Some(r) => del(MEDIA_DNAT, source_port_key(r, public_port)),
                None => del(MEDIA_ANY, port_key(public_port)),
            },
            del(MEDIA_HAIRPIN, port_key(public_port)),
        ],
        Action::Reachable {
            registrar,
            public_port,
            private,
            seconds,
        } => vec![
            add(
                SIG_DNAT,
                source_port_key(registrar, public_port),
                Some(private),
                Some(seconds),
            ),
            add(
                SIG_TRUSTED,
                port_key(public_port),
                Some(private),
                Some(seconds),
            ),
            add(PINHOLE_TARGETS, endpoint_key(private), None, Some(seconds)),
        ],
        Action::Unreachable {
            registrar,
            public_port,
        } => {
            vec![
                del(SIG_DNAT, source_port_key(registrar, public_port)),
                del(SIG_TRUSTED, port_key(public_port)),
            ]
        }
        Action::FlowTimeout { .. } => Vec::new(),
    }
}

impl Kernel for NetlinkKernel {
    fn program_snat(
        &mut self,
        private: SocketAddrV4,
        public: SocketAddrV4,
        timeout_s: u32,
    ) -> std::io::Result<()> {
        let element = Element {
            key: endpoint_key(private),
            data: Some(endpoint_key(public)),
            timeout_ms: Some(u64::from(timeout_s) * 1000),
        };
        let r = self.nft()?.replace_elements(TABLE, SNAT_MAP, &[element]);
        if let Err(e) = &r {
            log::warn!("cannot program SNAT {private} -> {public}: {e}");
            self.nft = None;
        }
        r
    }

    fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> std::io::Result<()> {
        let mut result = Ok(());
        for a in actions {
            if let Action::FlowTimeout { .. } = a {
                if let Err(e) = self.apply_one(a, wan_ip) {
                    result = Err(e);
                }
            }
        }
        let changes: Vec<Change> = actions.iter().flat_map(|a| changes_of(a, wan_ip)).collect();
        if changes.is_empty() {
            return result;
        }
        // One batch, one round trip for everything a message changed. If the kernel
        // rejects it (a key already gone, a map element with other data), redo it one
        // action at a time with replace/ignore-missing semantics.
        if self.nft()?.apply(TABLE, &changes).is_ok() {
            return result;
        }
        for a in actions
            .iter()
            .filter(|a| !matches!(a, Action::FlowTimeout { .. }))
        {
            if let Err(e) = self.apply_one(a, wan_ip) {
                result = Err(e);
            }
        }
        result
    }

    fn nat_of_outbound(&mut self, src: SocketAddrV4, dst: SocketAddrV4) -> Option<SocketAddrV4> {
        let entry = self
            .ct()?
            .get_by_orig(&Tuple {
                src,
                dst,
                proto: IPPROTO_UDP,
            })
            .ok()??;
        Some(entry.reply.dst)
    }

    fn private_of_inbound(
        &mut self,
        src: SocketAddrV4,
        public_dst: SocketAddrV4,
    ) -> Option<SocketAddrV4> {
        let entry = self
            .ct()?
            .get_by_reply(&Tuple {
                src,
                dst: public_dst,
                proto: IPPROTO_UDP,
            })
            .ok()??;
        Some(entry.orig.src)
    }
}
