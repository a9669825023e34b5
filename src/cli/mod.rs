//! `sipalgd` command line: one file per subcommand.

pub mod check;
pub mod rewrite;
pub mod schema;

const USAGE: &str = "usage:
  sipalgd [--config-dir DIR]              run the daemon in the foreground
  sipalgd check [--config-dir DIR]        validate the configuration
  sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound] [--explain]
                                          rewrite one SIP message read on stdin
  sipalgd --version";

/// Runs the command line and returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("check") => check::run(&args[1..]),
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
