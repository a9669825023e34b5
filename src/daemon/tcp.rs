//! Wiring of the TCP relay ([`crate::relay`]) to the daemon: each whole message a
//! relayed connection carries goes through the ALG core
//! ([`crate::alg::Processor::stream_message`]) under the state lock; the actions it
//! yields are committed (lock released, through [`super::datapath::commit`]) before
//! the message is sent on. The onward
//! connection leaves from the public port the core picks
//! ([`crate::alg::Processor::open_stream`]).

use super::datapath::commit_unlocked;
use super::kernel::NetlinkKernel;
use super::{lock, Shared};
use crate::alg::Relayed;
use crate::engine::Direction;
use crate::relay::{Conn, Handler, Onward};
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};

/// The relay's [`Handler`]: the daemon's shared state and its own netlink sockets.
pub struct Relay {
    pub shared: Arc<Mutex<Shared>>,
    datapath: Mutex<NetlinkKernel>,
}

impl Relay {
    pub fn new(shared: Arc<Mutex<Shared>>) -> Self {
        Relay {
            shared,
            datapath: Mutex::new(NetlinkKernel::default()),
        }
    }
}

impl Handler for Relay {
    fn now(&self) -> u64 {
        lock(&self.shared).now()
    }

    fn open(&self, phone: SocketAddrV4) -> Option<Onward> {
        let mut s = lock(&self.shared);
        let (bind, advertised) = s.processor.open_stream(phone)?;
        Some(Onward { bind, advertised })
    }

    fn message(&self, direction: Direction, conn: &Conn, message: &[u8]) -> Option<Vec<u8>> {
        let relayed = Relayed {
            phone: conn.phone,
            peer: conn.peer,
            public: conn.public,
        };
        let (out, actions, wan_ip) = {
            let mut s = lock(&self.shared);
            let now = s.now();
            let (out, actions) = s
                .processor
                .stream_message(direction, &relayed, message, now);
            (out, actions, s.processor.wan_ip())
        };
        if !actions.is_empty() {
            let mut kernel = self.datapath.lock().unwrap_or_else(|p| p.into_inner());
            commit_unlocked(&mut *kernel, &actions, wan_ip, &self.shared);
        }
        out
    }

    fn closed(&self, conn: &Conn) {
        lock(&self.shared).processor.close_stream(conn.phone);
    }
}
