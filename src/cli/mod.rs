//! `sipalgd` command line: one file per subcommand.

pub mod check;
pub mod cleanup;
pub mod rewrite;
pub mod rules;
pub mod schema;
pub mod status;

const USAGE: &str = "usage:
  sipalgd [--config-dir DIR] [--socket PATH]
                                          run the daemon in the foreground
  sipalgd check [--config-dir DIR]        validate the configuration
  sipalgd rules [--config-dir DIR] [--backend nft|iptables-nft]
                                          print the nft ruleset the daemon would install
  sipalgd status [--json] [--socket PATH] ask the running daemon for its status
  sipalgd cleanup [--socket PATH] [--wait SECONDS]
                                          remove sipalg's nft table, queue rules and policy
                                          route (after the running daemon, if any, exits)
  sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound [--request FILE]] [--explain]
                                          rewrite one SIP message read on stdin
  sipalgd --version";

/// Runs the command line and returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        None => crate::daemon::run(args),
        Some(a) if a.starts_with("--config-dir") || a == "--socket" => crate::daemon::run(args),
        Some("check") => check::run(&args[1..]),
        Some("status") => status::run(&args[1..]),
        Some("rules") => rules::run(&args[1..]),
        Some("cleanup") => cleanup::run(&args[1..]),
        Some("rewrite") => rewrite::run(&args[1..]),
        Some("schema") => schema::run(&args[1..]),
        Some("--version") | Some("-V") => {
            println!("sipalgd {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help") | Some("-h") | Some("help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    }
}
