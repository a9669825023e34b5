//! `sipalgd status [--json] [--socket PATH]`: ask the running daemon.

use crate::daemon::control;

pub fn run(args: &[String]) -> i32 {
    let (mut json, mut socket) = (false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--socket" => socket = it.next().cloned(),
            other => {
                eprintln!("sipalgd status: unknown argument '{other}'\nusage: sipalgd status [--json] [--socket PATH]");
                return 2;
            }
        }
    }
    let path = control::socket_path(socket.as_deref());
    match control::request(&path, if json { "status" } else { "status-text" }) {
        Ok(answer) => {
            use std::io::Write;
            // A closed pipe (`sipalgd status | head`) is not an error worth a panic.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(answer.as_bytes()).and_then(|()| {
                if json {
                    out.write_all(b"\n")
                } else {
                    Ok(())
                }
            });
            0
        }
        Err(e) => {
            let why = format!(
                "sipalgd is not running (no answer on {}: {e})",
                path.display()
            );
            if json {
                let mut s = String::from("{\"running\":false,\"error\":");
                crate::daemon::status::json_string(&mut s, &why);
                s.push('}');
                println!("{s}");
            } else {
                eprintln!("{why}");
            }
            1
        }
    }
}
