//! The TCP relay: SIP over TCP between the LAN and the WAN goes through sipalgd, which
//! owns both connections and so can change message lengths without TCP sequence
//! tricks (NFQUEUE cannot: the kernel adjusts sequence numbers only with conntrack glue
//! and a helper, which OpenWrt's and many other kernels lack).
//!
//! nft's `tproxy` statement (table `inet sipalg`, see [`crate::daemon::ruleset`])
//! hands a LAN phone's connection to the provider to the transparent listener here,
//! keeping the provider's address as the accepted socket's local address. When no
//! transparent socket listens (the daemon is stopped or crashed), `tproxy` diverts
//! nothing and new connections are simply forwarded: fail-open.
//!
//! Each connection gets a thread (bounded by [`MAX_CONNECTIONS`]). On the phone's
//! first message the onward connection is opened from the router's WAN address and
//! the public port the daemon's state gives the phone (the same policy as its UDP
//! signalling), and each message is then run through the engine in its direction.
//! The decisions (framing, limits, timeouts) are pure, in [`conn`]; this is the edge.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | what the daemon sees: [`Conn`], [`Onward`], [`Handler`], [`start`] and the accept loop |
//! | `conn.rs` | pure decisions: framing steps, limits, time-outs, the phone's port, keep-alive idle time |
//! | `pump.rs` | the framing glue: a side's bytes through the engine and on, counted and accounted |
//! | `worker.rs` | one connection's thread: its two sockets, `poll`, opening the onward connection |
//! | `socket.rs` | the sockets (`socket2`): the transparent listener, the onward connection and its fall-back port, keep-alives |
//! | `stats.rs` | [`Stats`] and [`Counts`], shown by `sipalgd status` |

pub mod conn;
mod pump;
mod socket;
mod stats;
mod worker;

pub use socket::listen;
pub use stats::{Counts, Stats};

use crate::engine::Direction;
use conn::Limits;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The transparent listener's port on 127.0.0.1 (the `tproxy` target).
pub const RELAY_PORT: u16 = 5059;
/// Connections relayed at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 128;

/// What a connection knows about its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    /// The phone's signalling endpoint: its address and the port its Via names.
    pub phone: SocketAddrV4,
    /// The phone's side of the TCP connection (address, source port).
    pub source: SocketAddrV4,
    /// The far end the phone connected to.
    pub peer: SocketAddrV4,
    /// What the phone appears as on the WAN (advertised address, public port).
    pub public: SocketAddrV4,
}

/// Where the onward connection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Onward {
    /// The router's WAN address and the public port to bind.
    pub bind: SocketAddrV4,
    /// The address messages advertise (`external_address`, else the WAN address).
    pub advertised: Ipv4Addr,
}

/// The daemon's side of the relay: its state and engine.
pub trait Handler: Send + Sync + 'static {
    /// Seconds of the daemon's monotonic clock.
    fn now(&self) -> u64;
    /// The onward endpoint for `phone`, or None (no WAN address: close).
    fn open(&self, phone: SocketAddrV4) -> Option<Onward>;
    /// One whole message crossing in `direction`: the bytes to send instead, or None
    /// to send it unchanged.
    fn message(&self, direction: Direction, conn: &Conn, message: &[u8]) -> Option<Vec<u8>>;
    /// The connection is gone (its public port may be given back).
    fn closed(&self, conn: &Conn);
}

/// What every connection's thread shares.
struct Ctx {
    handler: Arc<dyn Handler>,
    stats: Arc<Stats>,
    limits: Limits,
    keepalive_idle: u32,
}

/// Starts accepting diverted connections on `listener`; returns at once.
pub fn start(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    stats: Arc<Stats>,
    limits: Limits,
    keepalive_idle: u32,
) -> io::Result<()> {
    let ctx = Arc::new(Ctx {
        handler,
        stats,
        limits,
        keepalive_idle,
    });
    std::thread::Builder::new()
        .name("tcp-relay".into())
        .spawn(move || accept_loop(listener, ctx))?;
    Ok(())
}

fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                log::debug!("tcp relay: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if ctx.stats.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        ctx.stats.active.fetch_add(1, Ordering::SeqCst);
        let c = Arc::clone(&ctx);
        let spawned = std::thread::Builder::new()
            .name("tcp-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                worker::relay(stream, &c);
                c.stats.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log::warn!("tcp relay: cannot start a connection thread: {e}");
            ctx.stats.active.fetch_sub(1, Ordering::SeqCst);
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}
