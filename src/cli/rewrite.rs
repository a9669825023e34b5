//! `sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound [--request FILE]] [--explain]`
//!
//! Reads one SIP message on stdin and prints what the ALG would send. `--from` is the
//! LAN host's private address and `--public` the address it appears as on the WAN;
//! without `--inbound` the message travels LAN → WAN (sent from `--from`), with it
//! WAN → LAN (sent to `--public`, delivered to `--from`). `--explain` lists each edit,
//! the facts and, inbound, why something was or was not restored, on stderr. A message
//! that cannot be parsed is printed unchanged.
//!
//! The command is stateless, but the daemon restores inbound only what it rewrote on
//! the way out. So, inbound:
//! - with `--request FILE` (the phone's message as the phone sent it: the request a
//!   response answers, or any message carrying the Contact a request is aimed at), that
//!   message is first passed outbound and the inbound one is then decided exactly as
//!   the daemon decides it (a NAT-aware phone's response comes back untouched);
//! - without it, the message is treated as coming back after the ALG rewrote the
//!   phone's request, Contact and media (a phone that is not NAT-aware), and
//!   `--explain` says that this was assumed.

use crate::engine::{
    self, AssumeRewritten, Direction, KeepPorts, MediaRequest, Memory, Nat, PortMap,
};
use crate::state::restore::Restore;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};

struct Args {
    nat: Nat,
    direction: Direction,
    explain: bool,
    request: Option<String>,
}

/// Media ports as the phone chose them, remembering which ones the outbound pass
/// mapped (so that inbound restores those streams only).
#[derive(Default)]
struct Recorded(Vec<u16>);

impl PortMap for Recorded {
    fn public_port(&mut self, r: &MediaRequest) -> u16 {
        let p = r.required.unwrap_or(r.private.port());
        self.0.push(p);
        p
    }
    fn mapped(&mut self, _: Ipv4Addr, public_port: u16) -> Option<u16> {
        self.0.contains(&public_port).then_some(public_port)
    }
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut from, mut public, mut direction, mut explain, mut request) =
        (None, None, Direction::Outbound, false, None);
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
            "--request" => {
                request = Some(it.next().ok_or("--request needs FILE")?.clone());
            }
            "--explain" => explain = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let private = from.ok_or("--from IP:PORT is required")?;
    let public = public.ok_or("--public IP:PORT is required")?;
    if request.is_some() && direction != Direction::Inbound {
        return Err("--request goes with --inbound".into());
    }
    Ok(Args {
        nat: Nat { private, public },
        direction,
        explain,
        request,
    })
}

pub fn run(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sipalgd rewrite: {e}\nusage: sipalgd rewrite --from IP:PORT --public IP:PORT [--inbound [--request FILE]] [--explain]");
            return 2;
        }
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("sipalgd rewrite: cannot read stdin: {e}");
        return 1;
    }
    // Inbound with --request: the request goes out first, into the daemon's memory.
    let mut restore = Restore::default();
    let mut recorded = Recorded::default();
    if let Some(path) = &args.request {
        let request = match std::fs::read(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sipalgd rewrite: cannot read {path}: {e}");
                return 1;
            }
        };
        let sent = engine::plan_with(
            &request,
            Direction::Outbound,
            &args.nat,
            &mut recorded,
            &mut restore.at(0),
        );
        if args.explain {
            match &sent {
                Ok(p) if p.is_unchanged() => eprintln!(
                    "request: left as the phone wrote it ({})",
                    p.facts.skipped.map_or("nothing to change", |s| s.name())
                ),
                Ok(p) => eprintln!("request: rewritten ({} edits)", p.edits.len()),
                Err(_) => eprintln!("request: unparsable, passed unchanged"),
            }
        }
    } else if args.explain && args.direction == Direction::Inbound {
        eprintln!(
            "assumed: the ALG rewrote the phone's request, Contact and media (no --request given)"
        );
    }
    let (mut at, mut stateless) = (restore.at(0), AssumeRewritten);
    let (memory, ports): (&mut dyn Memory, &mut dyn PortMap) = if args.request.is_some() {
        (&mut at, &mut recorded)
    } else {
        (&mut stateless, &mut KeepPorts)
    };
    let mut stdout = std::io::stdout().lock();
    let written = match engine::plan_with(&input, args.direction, &args.nat, ports, memory) {
        Err(e) => {
            eprintln!("unparsable ({:?}): passed unchanged", e.0);
            stdout.write_all(&input)
        }
        Ok(plan) => {
            if args.explain {
                explain(&plan, args.request.is_none());
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

/// `assumed`: no outbound side was given; what was restored was assumed rewritten.
fn explain(plan: &engine::Plan, assumed: bool) {
    let original = plan.original();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if let Some(skip) = plan.facts.skipped {
        eprintln!("left unchanged: {}", skip.name());
    } else if plan.is_unchanged() {
        eprintln!("nothing to change");
    }
    for line in plan.restoration_lines() {
        let note = if assumed { " (assumed)" } else { "" };
        eprintln!("{line}{note}");
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
