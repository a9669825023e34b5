//! `sipalgd cleanup`: remove everything sipalg installs in the firewall (its nft table
//! and the iptables-nft fallback chains). Used by the init script and the package's
//! removal scripts; safe to run when nothing is installed.

pub fn run(_args: &[String]) -> i32 {
    crate::daemon::firewall::remove_all();
    0
}
