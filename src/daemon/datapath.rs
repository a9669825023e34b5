//! The one path from a packet to the kernel: the NFQUEUE receive loop, and [`commit`],
//! the single place where the core's actions are carried out and their failures
//! counted. The queue, the TCP relay ([`super::tcp`]), the replay after an install
//! ([`super::install`]) and housekeeping ([`super::housekeeping`]) all commit through
//! it. The daemon decides nothing here: the core says what each packet's verdict is,
//! which actions precede it and which may trail it.

use super::kernel::NetlinkKernel;
use super::{lock, ruleset, Shared};
use crate::alg::{Hook, Resume, Step, Verdict};
use crate::netlink::nfqueue::{self, Packet, Queue};
use crate::state::actions::Action;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

// The core's limit on a rewritten packet is the one the verdict's codec has.
const _: () = assert!(crate::alg::MAX_REPLACEMENT == nfqueue::MAX_REPLACEMENT);

/// netfilter hook numbers as NFQUEUE reports them.
const NF_INET_PRE_ROUTING: u8 = 0;

/// Packets the kernel holds for a verdict (in our socket or held by us) before it drops
/// new ones: more than the socket below holds even of the smallest messages, so the
/// socket fills first and the kernel's drops show as gaps in the packet ids.
const QUEUE_MAX_LEN: u32 = 8192;
/// Receive buffer asked for (the kernel doubles it for its own bookkeeping): room for
/// thousands of queued SIP messages (~0.8-2.5 KB of kernel memory each), enough to ride
/// out a scheduling gap of a slow or busy CPU during a registration storm.
const QUEUE_RCVBUF: usize = 2 << 20;
/// The overload policy (issue #22): no `NFQA_CFG_F_FAIL_OPEN`. When sipalgd cannot keep
/// up, what does not fit is DROPPED by the kernel, never passed unrewritten: a REGISTER
/// that left with the phone's private Contact would bind an unreachable address at the
/// registrar until the next refresh, whereas a dropped one is retransmitted by the
/// phone (RFC 3261 timers A/E) and rewritten then. With no daemon at all, the rules'
/// `bypass` lets SIP through unmodified (the kernel finds no listener: -ESRCH).
const QUEUE_FLAGS: u32 = 0;
/// Datagrams taken in one burst (their verdicts go out together).
const BURST: usize = 64;
/// Burst buffer: what one burst may hold (at least one largest message more).
const BURST_BYTES: usize = 256 << 10;
/// Verdicts are sent in datagrams of about this size.
const VERDICT_DATAGRAM: usize = 32 << 10;

/// What carries actions out: the kernel over netlink (a recorder in the tests).
pub(crate) trait Apply {
    /// Carries out `actions` towards the WAN address; how many failed.
    fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> usize;
}

impl Apply for NetlinkKernel {
    fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> usize {
        NetlinkKernel::apply(self, actions, wan_ip)
    }
}

/// Carries out `actions` (towards the WAN address `wan_ip`; nothing without one) and
/// hands the number that failed to `failed`, which counts them in the core's
/// `program_errors` (only called when some failed). The one commit of the daemon: the
/// caller holds no lock unless `failed` needs the state it holds.
pub(crate) fn commit(
    kernel: &mut impl Apply,
    actions: &[Action],
    wan_ip: Option<Ipv4Addr>,
    failed: impl FnOnce(u64),
) {
    let Some(wan_ip) = wan_ip.filter(|_| !actions.is_empty()) else {
        return;
    };
    let n = kernel.apply(actions, wan_ip);
    if n > 0 {
        failed(n as u64);
    }
}

/// [`commit`] without the lock, taking it only to count failures.
pub(crate) fn commit_unlocked(
    kernel: &mut impl Apply,
    actions: &[Action],
    wan_ip: Option<Ipv4Addr>,
    shared: &Mutex<Shared>,
) {
    commit(kernel, actions, wan_ip, |n| {
        lock(shared).processor.count_program_errors(n)
    });
}

pub(crate) fn open_queue() -> std::io::Result<Queue> {
    let (q, granted) = Queue::open(
        &nfqueue::Config {
            queue: ruleset::QUEUE_NUM,
            max_len: QUEUE_MAX_LEN,
            flags: QUEUE_FLAGS,
        },
        QUEUE_RCVBUF,
        BURST_BYTES,
    )?;
    if granted < QUEUE_RCVBUF {
        log::warn!("the queue's receive buffer is {granted} bytes, not {QUEUE_RCVBUF}: under load the kernel drops more SIP (senders retransmit); see `sipalgd status`");
    }
    Ok(q)
}

/// What the receive loop keeps from burst to burst (every vector keeps its capacity).
struct Burst {
    /// Our own netlink sockets for the datapath writes, used without the lock.
    kernel: NetlinkKernel,
    /// What may trail the last verdicts (committed with the next burst, or when the
    /// queue is quiet).
    trailing: Vec<Action>,
    /// What is committed before this burst's verdicts.
    due: Vec<Action>,
    verdicts: Vec<(u32, Verdict)>,
    /// Packets that cannot leave rewritten (no public port free): dropped.
    drops: Vec<u32>,
    wan_ip: Option<Ipv4Addr>,
}

/// The packet path: receive a burst, decide every packet under the lock, then (lock
/// released) commit in ONE nft batch what must precede these verdicts plus what
/// trailed the previous ones, then send the drops (what cannot leave rewritten) and all
/// verdicts in arrival order. What may trail waits for the next burst, or is committed
/// as soon as the queue is quiet. Under overload the queue's socket fills and the kernel
/// drops what does not fit (`QUEUE_FLAGS`).
pub(crate) fn receive_loop(queue: &mut Queue, shared: &Arc<Mutex<Shared>>) -> i32 {
    let mut b = Burst {
        kernel: NetlinkKernel::default(),
        trailing: Vec::new(),
        due: Vec::new(),
        verdicts: Vec::with_capacity(BURST),
        drops: Vec::new(),
        wan_ip: None,
    };
    loop {
        let got = match queue.recv_burst(b.trailing.is_empty(), BURST) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("nfqueue: {e}");
                0
            }
        };
        if got == 0 {
            // The queue is quiet: what trailed the last verdicts goes now.
            commit_unlocked(&mut b.kernel, &b.trailing, b.wan_ip, shared);
            b.trailing.clear();
            continue;
        }
        decide_burst(queue, shared, &mut b);
        commit_unlocked(&mut b.kernel, &b.due, b.wan_ip, shared);
        send_verdicts(queue, &b.drops, &b.verdicts, shared);
        b.drops.clear();
    }
}

/// Decides every packet of the burst under the lock (released only for a conntrack
/// lookup), and collects what is due before its verdicts: what trailed the last
/// verdicts, then what precedes these.
fn decide_burst(queue: &mut Queue, shared: &Mutex<Shared>, b: &mut Burst) {
    let (packets, events) = queue.packets();
    let mut guard = Some(lock(shared));
    if let Some(g) = guard.as_mut() {
        g.processor.count_verdict_errors(events.verdict_errors);
        // Packets the kernel numbered but could not put into our full socket: dropped
        // (QUEUE_MAX_LEN is above what the socket holds, so the queue's own limit,
        // reached before numbering, is not hit first).
        g.processor.count_queue_dropped(events.missed);
        // The last burst's verdicts are sent: their packet buffers serve this one.
        for (_, v) in b.verdicts.drain(..) {
            if let Verdict::Replace(buf) = v {
                g.processor.recycle(buf);
            }
        }
    }
    for p in &packets {
        match decide(p, shared, &mut guard, &mut b.kernel) {
            Verdict::Drop => b.drops.push(p.id),
            v => b.verdicts.push((p.id, v)),
        }
    }
    let g = guard.get_or_insert_with(|| lock(shared));
    b.wan_ip = g.processor.wan_ip();
    b.due.clear();
    b.due.append(&mut b.trailing);
    g.processor.append_actions(&mut b.due, &mut b.trailing);
}

/// One packet's verdict from the core; a flow that predates us is looked up in
/// conntrack without the lock, and the packet resumed with the answer.
fn decide<'a>(
    p: &Packet<'_>,
    shared: &'a Mutex<Shared>,
    guard: &mut Option<MutexGuard<'a, Shared>>,
    kernel: &mut NetlinkKernel,
) -> Verdict {
    let hook = if p.hook == NF_INET_PRE_ROUTING {
        Hook::Inbound
    } else {
        Hook::Outbound
    };
    let mut resume = None;
    loop {
        let g = guard.get_or_insert_with(|| lock(shared));
        let now = g.now();
        match g.processor.handle(hook, p.payload, now, resume.as_ref()) {
            Step::Verdict(v) => return v,
            Step::Lookup(request) => {
                *guard = None;
                let answer = kernel.lookup(&request);
                resume = Some(Resume { request, answer });
            }
        }
    }
}

/// Sends the drops and the verdicts (errors are counted).
fn send_verdicts(
    queue: &mut Queue,
    drops: &[u32],
    verdicts: &[(u32, Verdict)],
    shared: &Mutex<Shared>,
) {
    if drops.is_empty() && verdicts.is_empty() {
        return;
    }
    let sent = queue.send_verdicts(
        drops,
        verdicts.iter().filter_map(|(id, v)| match v {
            Verdict::Replace(p) => Some((*id, Some(&p[..]))),
            Verdict::Accept => Some((*id, None)),
            Verdict::Drop => None,
        }),
        VERDICT_DATAGRAM,
    );
    if let Err(e) = sent {
        log::debug!("nfqueue verdicts: {e}");
        lock(shared).processor.count_verdict_errors(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is asked to apply; the first `fail` actions of each call fail.
    #[derive(Default)]
    struct Recorder {
        applied: Vec<(Vec<Action>, Ipv4Addr)>,
        fail: usize,
    }

    impl Apply for Recorder {
        fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> usize {
            self.applied.push((actions.to_vec(), wan_ip));
            self.fail.min(actions.len())
        }
    }

    #[test]
    fn commit_applies_towards_the_wan_and_counts_only_failures() {
        let wan: Ipv4Addr = "198.51.100.1".parse().unwrap();
        let a = vec![Action::MediaEndpoint {
            private: "192.168.1.20:4000".parse().unwrap(),
        }];
        let mut k = Recorder::default();
        let mut counted = Vec::new();
        // Nothing to do, or no WAN address: the kernel is not asked.
        commit(&mut k, &[], Some(wan), |n| counted.push(n));
        commit(&mut k, &a, None, |n| counted.push(n));
        assert!(k.applied.is_empty() && counted.is_empty());
        // Applied, none failed: nothing counted.
        commit(&mut k, &a, Some(wan), |n| counted.push(n));
        assert_eq!(k.applied, vec![(a.clone(), wan)]);
        assert!(counted.is_empty());
        // Failures are handed over to be counted.
        k.fail = 1;
        commit(&mut k, &a, Some(wan), |n| counted.push(n));
        assert_eq!(counted, vec![1]);
    }

    #[test]
    fn failures_without_the_lock_land_in_the_cores_program_errors() {
        let wan: Ipv4Addr = "198.51.100.1".parse().unwrap();
        let a = vec![
            Action::MediaEndpoint {
                private: "192.168.1.20:4000".parse().unwrap(),
            };
            3
        ];
        let shared = Mutex::new(super::super::tests::shared());
        let mut k = Recorder {
            fail: 2,
            ..Recorder::default()
        };
        commit_unlocked(&mut k, &a, Some(wan), &shared);
        commit_unlocked(&mut k, &a, Some(wan), &shared);
        assert_eq!(lock(&shared).processor.counters().program_errors, 4);
    }
}
