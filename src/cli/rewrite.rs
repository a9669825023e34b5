//! `sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound] [--explain]`
//!
//! Reads one SIP message on stdin and prints what the ALG would send. `--from` is the
//! LAN host's private address and `--public` the address it appears as on the WAN;
//! without `--inbound` the message travels LAN → WAN (sent from `--from`), with it
//! WAN → LAN (sent to `--public`, delivered to `--from`). `--explain` lists each edit
//! and the facts on stderr. A message that cannot be parsed is printed unchanged.

use crate::engine::{self, Direction, KeepPorts, Nat};
use std::io::{Read, Write};
use std::net::SocketAddrV4;

struct Args {
    nat: Nat,
    direction: Direction,
    explain: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut from, mut public, mut direction, mut explain) =
        (None, None, Direction::Outbound, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--from" | "--public" => {
                let v = it.next().ok_or_else(|| format!("{a} needs IP:PORT"))?;
                let addr: SocketAddrV4 = v
                    .parse()
                    .map_err(|_| format!("{a}: '{v}' is not an IPv4 IP:PORT"))?;
                if a == "--from" {
                    from = Some(addr);
                } else {
                    public = Some(addr);
                }
            }
            "--inbound" => direction = Direction::Inbound,
            "--explain" => explain = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let private = from.ok_or("--from IP:PORT is required")?;
    let public = public.ok_or("--public IP:PORT is required")?;
    Ok(Args {
        nat: Nat { private, public },
        direction,
        explain,
    })
}

pub fn run(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sipalgd rewrite: {e}\nusage: sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound] [--explain]");
            return 2;
        }
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("sipalgd rewrite: cannot read stdin: {e}");
        return 1;
    }
    let mut stdout = std::io::stdout().lock();
    let written = match engine::plan(&input, args.direction, &args.nat, &mut KeepPorts) {
        Err(e) => {
            eprintln!("unparsable ({:?}): passed unchanged", e.0);
            stdout.write_all(&input)
        }
        Ok(plan) => {
            if args.explain {
                explain(&plan);
            }
            stdout.write_all(&plan.output())
        }
    };
    match written.and_then(|_| stdout.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sipalgd rewrite: cannot write stdout: {e}");
            1
        }
    }
}

fn explain(plan: &engine::Plan) {
    let original = plan.original();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if let Some(skip) = plan.facts.skipped {
        eprintln!("left unchanged: {}", skip.name());
    } else if plan.is_unchanged() {
        eprintln!("nothing to change");
    }
    for e in plan.edits.iter() {
        eprintln!(
            "{}: {} -> {}",
            e.field.name(),
            s(&original[e.range()]),
            s(e.replacement())
        );
    }
    let f = &plan.facts;
    let what = match (f.method, f.status) {
        (Some(m), _) => s(m),
        (None, Some(st)) => st.to_string(),
        _ => String::new(),
    };
    eprintln!(
        "facts: {what} call-id={} cseq={} {}",
        f.call_id.map(s).unwrap_or_default(),
        f.cseq.map(|c| c.to_string()).unwrap_or_default(),
        f.cseq_method.map(s).unwrap_or_default()
    );
    for c in f.contacts() {
        let addr = c
            .address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let exp = f
            .contact_expiry(c)
            .map(|e| e.to_string())
            .unwrap_or_else(|| "-".into());
        eprintln!("contact: {addr} expires={exp}");
    }
    if let Some(sdp) = &f.sdp {
        if sdp.has_ice {
            eprintln!("sdp: ICE candidates present, SDP left alone");
        }
        for st in sdp.streams() {
            eprintln!(
                "stream: {} {}:{} rtcp={} {} -> public {}/{}",
                st.kind.name(),
                st.address
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
                st.port,
                st.rtcp_port,
                st.direction.name(),
                st.public_port,
                st.public_rtcp_port
            );
        }
    }
}
