//! A flow's NAT mapping: our own table, else conntrack for flows that predate us (a
//! [`LookupRequest`] the caller answers), else a new mapping whose SNAT element must be
//! in the datapath before the verdict.

use super::types::{answer, LookupRequest, Resume};
use super::Processor;
use crate::state::actions::Action;
use crate::state::mappings::Program;
use std::net::{Ipv4Addr, SocketAddrV4};

impl Processor {
    /// Finds (or creates) the mapping of an outbound flow from `src` to `dst`; a new
    /// SNAT element is an action before the verdict (NAT is decided on the flow's
    /// first packet).
    pub(super) fn outbound_mapping(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        wan_ip: Ipv4Addr,
        now: u64,
        resume: Option<&Resume>,
    ) -> Result<Option<u16>, LookupRequest> {
        let timeout = self.policy.signaling_timeout;
        if self.mappings.by_private(src).is_none() {
            if let Some(public) = answer(resume, LookupRequest::NatOfOutbound { src, dst })? {
                if *public.ip() == wan_ip {
                    // The flow predates us (e.g. a restart): keep what the kernel chose,
                    // and make new flows from this endpoint use it too.
                    self.mappings
                        .observed(&mut self.pool, src, public.port(), now);
                    self.before.push(Action::Snat {
                        private: src,
                        public_port: public.port(),
                        seconds: timeout,
                        refresh: false,
                    });
                    return Ok(Some(public.port()));
                }
            }
        }
        let Some((m, program)) =
            self.mappings
                .outbound(&mut self.pool, src, now, u64::from(timeout / 2))
        else {
            return Ok(None);
        };
        if let Program::Snat {
            private,
            public_port,
            refresh,
        } = program
        {
            self.before.push(Action::Snat {
                private,
                public_port,
                seconds: timeout,
                refresh,
            });
        }
        Ok(Some(m.public_port))
    }

    pub(super) fn inbound_mapping(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        now: u64,
        resume: Option<&Resume>,
    ) -> Result<Option<SocketAddrV4>, LookupRequest> {
        if let Some(m) = self.mappings.by_public_port(dst.port()).copied() {
            self.mappings.touch(m.private, now);
            return Ok(Some(m.private));
        }
        let request = LookupRequest::PrivateOfInbound {
            src,
            public_dst: dst,
        };
        let Some(private) = answer(resume, request)? else {
            return Ok(None);
        };
        self.mappings
            .observed(&mut self.pool, private, dst.port(), now);
        Ok(Some(private))
    }
}
