//! `sipalgd cleanup [--socket PATH] [--wait SECONDS]`: remove everything sipalg
//! installs in the firewall (its nft table, the iptables-nft fallback chains, the TCP
//! relay's policy route). Used by the init script and the package's removal scripts;
//! safe to run when nothing is installed.
//!
//! It never races the daemon: it first takes the lock the running daemon holds for its
//! whole life, teardown included ([`crate::daemon::control::DaemonLock`]), waiting up to
//! `--wait` seconds for a daemon that is stopping (procd gives it `term_timeout`, then
//! SIGKILL). If a daemon still holds the lock after that, nothing is removed (it owns
//! its state and would install it again) and the exit status is 1.

use crate::daemon::control::{self, DaemonLock, Lock};
use std::time::Duration;

const USAGE: &str = "usage: sipalgd cleanup [--socket PATH] [--wait SECONDS]";

pub fn run(args: &[String]) -> i32 {
    let (mut socket, mut wait) = (None, 0u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => socket = it.next().cloned(),
            "--wait" => match it.next().and_then(|v| v.parse().ok()) {
                Some(s) => wait = s,
                None => {
                    eprintln!("sipalgd cleanup: --wait needs a number of seconds\n{USAGE}");
                    return 2;
                }
            },
            other => {
                eprintln!("sipalgd cleanup: unknown argument '{other}'\n{USAGE}");
                return 2;
            }
        }
    }
    let lock = control::lock_path(&control::socket_path(socket.as_deref()));
    let held = match DaemonLock::acquire_existing(&lock, Duration::ZERO) {
        Ok(Lock::Busy) if wait > 0 => {
            eprintln!("sipalgd cleanup: waiting up to {wait}s for the running sipalgd to exit");
            DaemonLock::acquire_existing(&lock, Duration::from_secs(wait))
        }
        other => other,
    };
    let _held = match held {
        Ok(Lock::Held(l)) => Some(l),
        Ok(Lock::NoFile) => None,
        Ok(Lock::Busy) => {
            eprintln!(
                "sipalgd cleanup: sipalgd is running ({} is locked): stop it first (/etc/init.d/sipalg stop); nothing removed",
                lock.display()
            );
            return 1;
        }
        Err(e) => {
            eprintln!(
                "sipalgd cleanup: cannot open {}: {e}; removing anyway",
                lock.display()
            );
            None
        }
    };
    crate::daemon::firewall::remove_all();
    0
}
