//! Wiring of the TCP relay ([`crate::relay`]) to the daemon: each whole message a
//! relayed connection carries goes through the ALG core
//! ([`crate::alg::Processor::stream_message`]) under the state lock; the actions it
//! yields are committed (lock released) before the message is sent on. The onward
//! connection leaves from the public port the phone's UDP signalling has (or would
//! get) from the same port pool.

use super::kernel::NetlinkKernel;
use super::Shared;
use crate::engine::Direction;
use crate::relay::{Conn, Handler, Onward};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};

/// The relay's [`Handler`]: the daemon's shared state, its own netlink sockets, and
/// the public ports the relay's connections hold.
pub struct Relay {
    pub shared: Arc<Mutex<Shared>>,
    datapath: Mutex<NetlinkKernel>,
    /// Public port and number of connections of each phone endpoint.
    held: Mutex<HashMap<SocketAddrV4, (u16, usize)>>,
}

impl Relay {
    pub fn new(shared: Arc<Mutex<Shared>>) -> Self {
        Relay {
            shared,
            datapath: Mutex::new(NetlinkKernel::default()),
            held: Mutex::new(HashMap::new()),
        }
    }
}

impl Handler for Relay {
    fn now(&self) -> u64 {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).now()
    }

    fn open(&self, phone: SocketAddrV4) -> Option<Onward> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let p = &mut s.processor;
        let (wan_ip, advertised) = (p.wan_ip?, p.advertised_ip()?);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let port = match held.get_mut(&phone) {
            Some((port, n)) => {
                *n += 1;
                *port
            }
            None => {
                let port = match p.mappings.by_private(phone) {
                    Some(m) => m.public_port,
                    None => p.pool.take(phone.port(), phone, false),
                };
                held.insert(phone, (port, 1));
                port
            }
        };
        Some(Onward {
            bind: SocketAddrV4::new(wan_ip, port),
            advertised,
        })
    }

    fn message(&self, direction: Direction, conn: &Conn, message: &[u8]) -> Option<Vec<u8>> {
        let (out, actions, wan_ip) = {
            let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            let now = s.now();
            let (out, actions) = s.processor.stream_message(direction, conn, message, now);
            (out, actions, s.processor.wan_ip)
        };
        if let Some(wan_ip) = wan_ip.filter(|_| !actions.is_empty()) {
            let failed = self
                .datapath
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .apply(&actions, wan_ip);
            if failed > 0 {
                let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
                s.processor.counters.program_errors += failed as u64;
            }
        }
        out
    }

    fn closed(&self, conn: &Conn) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let Some((port, n)) = held.get_mut(&conn.phone) else {
            return;
        };
        *n -= 1;
        if *n > 0 {
            return;
        }
        let port = *port;
        held.remove(&conn.phone);
        drop(held);
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let p = &mut s.processor;
        if p.mappings.by_private(conn.phone).is_none() {
            p.pool.release(port, conn.phone);
        }
    }
}
