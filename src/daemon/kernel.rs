//! [`Kernel`](super::packet::Kernel) over netlink: SNAT map elements through nftables'
//! netlink API and NAT mappings read from conntrack. A netlink failure is logged and
//! counted by the caller; the packet is still accepted.

use super::packet::Kernel;
use super::ruleset::{SNAT_MAP, TABLE};
use crate::netlink::{Conntrack, Element, Field, Key, Nft, Tuple};
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
