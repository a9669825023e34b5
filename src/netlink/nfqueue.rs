//! NFQUEUE (`linux/netfilter/nfnetlink_queue.h`) on our own netlink socket: zero-copy
//! views of queued packets, verdict and config encoders, and a [`Queue`] that receives
//! packets in bursts and sends many verdicts in one `send`.
//!
//! ```text
//! packet (kernel → us): nlmsghdr | nfgenmsg (res_id = queue) | attributes
//!   NFQA_PACKET_HDR  { be32 packet_id, be16 hw_protocol, u8 hook, pad }
//!   NFQA_PAYLOAD     the packet from its IP header on (up to copy_range bytes)
//! verdict (us → kernel): nlmsghdr (NFQNL_MSG_VERDICT) | nfgenmsg | attributes
//!   NFQA_VERDICT_HDR { be32 verdict, be32 packet_id }
//!   NFQA_PAYLOAD     optional replacement packet
//! ```
//! Every packet arrives as its own datagram; verdicts may share one (nfnetlink handles
//! every message of a datagram). Anything else on the socket (error replies to our
//! verdicts, unknown types) is counted, never fatal.

use std::io;

use super::msg::{
    nfnl_type, Msg, MsgBuilder, Msgs, NETLINK_NETFILTER, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
use super::socket::NetlinkSocket;

pub const NFNL_SUBSYS_QUEUE: u8 = 3;
const NFQNL_MSG_PACKET: u8 = 0;
const NFQNL_MSG_VERDICT: u8 = 1;
const NFQNL_MSG_CONFIG: u8 = 2;

const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_PAYLOAD: u16 = 10;

const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;

const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_PACKET: u8 = 2;

/// Accept the packet (unmodified) when the queue is full or the socket cannot take it;
/// without it, the kernel drops such a packet (counted in
/// `/proc/net/netfilter/nfnetlink_queue`). sipalgd does not set it: see [`Config`].
pub const NFQA_CFG_F_FAIL_OPEN: u32 = 1;
/// Hand over GSO packets whole (we do not want them: checksums would be partial).
pub const NFQA_CFG_F_GSO: u32 = 4;

/// `NF_DROP`
pub const NF_DROP: u32 = 0;
/// `NF_ACCEPT`
pub const NF_ACCEPT: u32 = 1;

/// Largest packet the kernel hands over (copy_range) plus the message around it.
pub const MAX_MESSAGE: usize = 0xffff + 256;

/// One queued packet, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub queue: u16,
    pub id: u32,
    /// The netfilter hook (0 prerouting … 4 postrouting).
    pub hook: u8,
    /// The packet from the IP header on.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The packet in a netlink message, or `None` for any other message.
    pub fn parse(m: &Msg<'a>) -> Option<Packet<'a>> {
        if m.ty != nfnl_type(NFNL_SUBSYS_QUEUE, NFQNL_MSG_PACKET) {
            return None;
        }
        let queue = u16::from_be_bytes(m.payload.get(2..4)?.try_into().ok()?);
        let attrs = m.nf_attrs();
        let hdr = attrs.find(NFQA_PACKET_HDR)?.payload;
        let id = u32::from_be_bytes(hdr.get(0..4)?.try_into().ok()?);
        let hook = *hdr.get(6)?;
        let payload = attrs.find(NFQA_PAYLOAD).map_or(&[][..], |a| a.payload);
        Some(Packet {
            queue,
            id,
            hook,
            payload,
        })
    }
}

/// The largest replacement packet a verdict can carry (a netlink attribute's length is
/// 16 bits, header included).
pub const MAX_REPLACEMENT: usize = u16::MAX as usize - 4;

/// Appends one verdict message: accept packet `id`, with `replacement` if given and
/// not over [`MAX_REPLACEMENT`] (a longer one is dropped: the packet passes unchanged).
pub fn put_verdict(b: &mut MsgBuilder, queue: u16, id: u32, replacement: Option<&[u8]>) {
    put(b, queue, id, NF_ACCEPT, replacement)
}

/// Appends one verdict message: drop packet `id` (its sender retransmits it).
pub fn put_drop(b: &mut MsgBuilder, queue: u16, id: u32) {
    put(b, queue, id, NF_DROP, None)
}

fn put(b: &mut MsgBuilder, queue: u16, id: u32, verdict: u32, replacement: Option<&[u8]>) {
    let o = b.begin(
        nfnl_type(NFNL_SUBSYS_QUEUE, NFQNL_MSG_VERDICT),
        NLM_F_REQUEST,
        0,
        libc::AF_UNSPEC as u8,
        queue,
    );
    let mut hdr = [0u8; 8];
    hdr[..4].copy_from_slice(&verdict.to_be_bytes());
    hdr[4..].copy_from_slice(&id.to_be_bytes());
    b.attrs().put(NFQA_VERDICT_HDR, &hdr);
    if let Some(p) = replacement.filter(|p| p.len() <= MAX_REPLACEMENT) {
        b.attrs().put(NFQA_PAYLOAD, p);
    }
    b.end(o);
}

/// The queue's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub queue: u16,
    /// Packets the kernel keeps waiting for a verdict (in our socket or held by us);
    /// beyond it, a new packet is dropped (or, with `NFQA_CFG_F_FAIL_OPEN`, accepted).
    pub max_len: u32,
    /// `NFQA_CFG_F_*` flags to set (all others of `NFQA_CFG_F_FAIL_OPEN | GSO` cleared).
    pub flags: u32,
}

/// The config messages for `c`, sequence numbers from `seq`, each asking for an ACK.
fn config_messages(c: &Config, seq: u32) -> Vec<Vec<u8>> {
    let msg = |seq: u32, fill: &dyn Fn(&mut MsgBuilder)| {
        let mut b = MsgBuilder::new();
        let o = b.begin(
            nfnl_type(NFNL_SUBSYS_QUEUE, NFQNL_MSG_CONFIG),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            libc::AF_UNSPEC as u8,
            c.queue,
        );
        fill(&mut b);
        b.end(o);
        b.buf
    };
    vec![
        msg(seq, &|b| {
            // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf }
            b.attrs().put(NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
        }),
        msg(seq + 1, &|b| {
            // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode } (packed)
            let mut p = [0u8; 5];
            p[..4].copy_from_slice(&0xffffu32.to_be_bytes());
            p[4] = NFQNL_COPY_PACKET;
            b.attrs()
                .put(NFQA_CFG_PARAMS, &p)
                .put_u32_be(NFQA_CFG_QUEUE_MAXLEN, c.max_len);
        }),
        msg(seq + 2, &|b| {
            b.attrs()
                .put_u32_be(NFQA_CFG_FLAGS, c.flags)
                .put_u32_be(NFQA_CFG_MASK, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
        }),
    ]
}

/// What one [`Queue::recv_burst`] saw besides packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    /// Error replies to earlier verdicts.
    pub verdict_errors: u64,
    /// Packets the kernel numbered but could not hand to us (the socket was full):
    /// dropped (without `NFQA_CFG_F_FAIL_OPEN`). Seen as gaps in the packet ids.
    pub missed: u64,
    /// `ENOBUFS` from recv: the socket overflowed at least once (never reported once
    /// [`NetlinkSocket::set_no_enobufs`] is on).
    pub overruns: u64,
    /// Messages that were neither packets nor errors.
    pub other: u64,
}

/// A bound NFQUEUE. Received packets stay in one buffer until the next burst.
pub struct Queue {
    sock: NetlinkSocket,
    queue: u16,
    buf: Vec<u8>,
    /// (start, end) of each received datagram in `buf`.
    datagrams: Vec<(usize, usize)>,
    last_id: Option<u32>,
    /// `ENOBUFS` seen since the last [`Queue::packets`].
    overruns: u64,
    out: MsgBuilder,
}

impl Queue {
    /// Binds queue `c.queue` (copy whole packets) with the given length and flags, and
    /// asks for a receive buffer of `rcvbuf` bytes; a packet that finds it full is
    /// refused alone (`NETLINK_NO_ENOBUFS`), not everything until it is empty. Returns
    /// the queue and the buffer size the kernel granted.
    pub fn open(c: &Config, rcvbuf: usize, burst_bytes: usize) -> io::Result<(Queue, usize)> {
        let mut sock = NetlinkSocket::open(NETLINK_NETFILTER)?;
        let granted = sock.set_recv_buffer(rcvbuf)?;
        sock.set_no_enobufs()?;
        let seq = sock.next_seqs(3);
        for (i, m) in config_messages(c, seq).iter().enumerate() {
            sock.request(m, seq + i as u32, |_| {})?;
        }
        Ok((
            Queue {
                sock,
                queue: c.queue,
                buf: vec![0; burst_bytes.max(MAX_MESSAGE)],
                datagrams: Vec::new(),
                last_id: None,
                overruns: 0,
                out: MsgBuilder::new(),
            },
            granted,
        ))
    }

    /// Receives a burst: waits for the first datagram (up to the socket timeout) when
    /// `block`, then takes what is already queued, up to `max` datagrams or the
    /// buffer's room. Returns how many arrived (0: nothing, or the wait timed out). An
    /// overflow of the socket (`ENOBUFS`) is counted in the next [`Queue::packets`]
    /// events; what arrived before it is kept (each packet must get its verdict).
    pub fn recv_burst(&mut self, block: bool, max: usize) -> io::Result<usize> {
        self.datagrams.clear();
        let mut at = 0;
        while self.datagrams.len() < max && self.buf.len() - at >= MAX_MESSAGE {
            let wait = block && self.datagrams.is_empty();
            match self.sock.recv_into(&mut self.buf[at..], !wait) {
                Ok(n) => {
                    self.datagrams.push((at, at + n));
                    at += super::attr::align4(n);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => self.overruns += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if self.datagrams.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(self.datagrams.len())
    }

    /// The packets of the last burst in arrival order, and what else arrived.
    pub fn packets(&mut self) -> (Vec<Packet<'_>>, Events) {
        let mut events = Events {
            overruns: std::mem::take(&mut self.overruns),
            ..Events::default()
        };
        let mut packets = Vec::with_capacity(self.datagrams.len());
        for &(s, e) in &self.datagrams {
            for m in Msgs::new(&self.buf[s..e]) {
                match Packet::parse(&m) {
                    Some(p) => {
                        if let Some(last) = self.last_id {
                            let gap = p.id.wrapping_sub(last).wrapping_sub(1);
                            // Ids only grow; a huge "gap" is a rebind or wrap, not loss.
                            if gap < 1 << 20 {
                                events.missed += u64::from(gap);
                            }
                        }
                        self.last_id = Some(p.id);
                        packets.push(p);
                    }
                    None if m.ty == NLMSG_ERROR => events.verdict_errors += 1,
                    None => events.other += 1,
                }
            }
        }
        (packets, events)
    }

    /// Sends verdicts: drops for `drops`, then accepts (optionally with a replacement
    /// packet) in order, several per datagram (at most `max_bytes` each).
    pub fn send_verdicts<'p>(
        &mut self,
        drops: &[u32],
        verdicts: impl IntoIterator<Item = (u32, Option<&'p [u8]>)>,
        max_bytes: usize,
    ) -> io::Result<()> {
        self.out.buf.clear();
        let mut result = Ok(());
        let all = drops
            .iter()
            .map(|&id| (id, NF_DROP, None))
            .chain(verdicts.into_iter().map(|(id, r)| (id, NF_ACCEPT, r)));
        for (id, verdict, replacement) in all {
            put(&mut self.out, self.queue, id, verdict, replacement);
            if self.out.buf.len() >= max_bytes {
                if let Err(e) = self.sock.send(&self.out.buf) {
                    result = Err(e);
                }
                self.out.buf.clear();
            }
        }
        if !self.out.buf.is_empty() {
            if let Err(e) = self.sock.send(&self.out.buf) {
                result = Err(e);
            }
        }
        result
    }
}

/// One queue's line of `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets waiting for a verdict now.
    pub waiting: u64,
    /// Dropped because the queue was full (`queue_dropped`; without fail-open).
    pub dropped: u64,
    /// Dropped because our socket was full (`queue_user_dropped`; without fail-open).
    pub user_dropped: u64,
    /// The last packet id the kernel assigned.
    pub id_sequence: u64,
}

/// Parses `/proc/net/netfilter/nfnetlink_queue` for `queue`:
/// `queue portid waiting copy_mode copy_range dropped user_dropped id_sequence 1`.
pub fn queue_stats(text: &str, queue: u16) -> Option<QueueStats> {
    text.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        (f.len() >= 8 && f[0] == u64::from(queue)).then(|| QueueStats {
            waiting: f[2],
            dropped: f[5],
            user_dropped: f[6],
            id_sequence: f[7],
        })
    })
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    /// A packet message as the kernel sends it (captured layout): queue 5060, id 7,
    /// hook 4 (postrouting), hw_protocol 0x0800, and a 4-byte payload.
    const PACKET: [u8; 40] = [
        40, 0, 0, 0, // len
        0x00, 0x03, // type: subsys 3, NFQNL_MSG_PACKET
        0, 0, // flags
        0, 0, 0, 0, // seq
        0, 0, 0, 0, // pid
        2, 0, 0x13, 0xc4, // nfgenmsg: AF_INET, v0, res_id 5060 (BE)
        11, 0, 1, 0, // NFQA_PACKET_HDR, len 11 (7 bytes)
        0, 0, 0, 7, 0x08, 0x00, 4, 0, // id 7, 0x0800, hook 4, pad
        8, 0, 10, 0, // NFQA_PAYLOAD, len 8
        0x45, 0, 0, 28, // payload
    ];

    #[test]
    fn parses_a_queued_packet_in_place() {
        let m = Msgs::new(&PACKET).next().unwrap();
        let p = Packet::parse(&m).unwrap();
        assert_eq!(
            p,
            Packet {
                queue: 5060,
                id: 7,
                hook: 4,
                payload: &[0x45, 0, 0, 28],
            }
        );
        assert!(std::ptr::eq(p.payload.as_ptr(), PACKET[36..].as_ptr()));
    }

    #[test]
    fn other_messages_are_not_packets() {
        let mut err = PACKET;
        err[4] = 2; // NLMSG_ERROR
        err[5] = 0;
        assert_eq!(Packet::parse(&Msgs::new(&err).next().unwrap()), None);
        // A packet header cut short is not a packet either.
        let mut short = PACKET;
        short[20] = 6;
        assert_eq!(Packet::parse(&Msgs::new(&short).next().unwrap()), None);
    }

    #[test]
    fn verdicts_are_encoded_back_to_back() {
        let mut b = MsgBuilder::new();
        put_verdict(&mut b, 5060, 7, None);
        put_verdict(&mut b, 5060, 8, Some(&[0x45, 0, 0]));
        assert_eq!(
            b.buf,
            [
                32, 0, 0, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                0, // hdr: VERDICT, REQUEST
                0, 0, 0x13, 0xc4, // AF_UNSPEC, v0, queue 5060
                12, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 7, // NFQA_VERDICT_HDR: NF_ACCEPT, id 7
                40, 0, 0, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
                0, 0, 0x13, 0xc4, //
                12, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 8, // id 8
                7, 0, 10, 0, 0x45, 0, 0, 0, // NFQA_PAYLOAD (3 bytes + pad)
            ]
        );
    }

    #[test]
    fn a_drop_verdict() {
        let mut b = MsgBuilder::new();
        put_drop(&mut b, 5060, 9);
        assert_eq!(
            b.buf,
            [
                32, 0, 0, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // VERDICT, REQUEST
                0, 0, 0x13, 0xc4, // AF_UNSPEC, v0, queue 5060
                12, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9, // NFQA_VERDICT_HDR: NF_DROP, id 9
            ]
        );
    }

    #[test]
    fn a_replacement_too_long_for_netlink_is_left_out_not_a_panic() {
        let mut b = MsgBuilder::new();
        put_verdict(&mut b, 5060, 9, Some(&vec![0x45; MAX_REPLACEMENT + 1]));
        assert_eq!(b.buf.len(), 32, "a plain accept");
        let mut b = MsgBuilder::new();
        put_verdict(&mut b, 5060, 9, Some(&vec![0x45; MAX_REPLACEMENT]));
        assert_eq!(b.buf.len(), 32 + 4 + MAX_REPLACEMENT + 1);
    }

    #[test]
    fn config_binds_copies_whole_packets_and_sets_flags() {
        let c = Config {
            queue: 5060,
            max_len: 8192,
            flags: NFQA_CFG_F_FAIL_OPEN,
        };
        let m = config_messages(&c, 100);
        assert_eq!(
            m[0],
            [
                28, 0, 0, 0, 0x02, 0x03, 5, 0, 100, 0, 0, 0, 0, 0, 0,
                0, // CONFIG, REQUEST|ACK
                0, 0, 0x13, 0xc4, //
                8, 0, 1, 0, 1, 0, 0, 0, // NFQA_CFG_CMD: BIND, pf 0
            ]
        );
        assert_eq!(
            m[1][20..],
            [
                9, 0, 2, 0, 0, 0, 0xff, 0xff, 2, 0, 0, 0, // PARAMS: 65535, COPY_PACKET
                8, 0, 3, 0, 0, 0, 0x20, 0, // QUEUE_MAXLEN 8192
            ]
        );
        assert_eq!(
            m[2][20..],
            [
                8, 0, 5, 0, 0, 0, 0, 1, // FLAGS: FAIL_OPEN
                8, 0, 4, 0, 0, 0, 0, 5, // MASK: FAIL_OPEN | GSO
            ]
        );
    }

    #[test]
    fn proc_line_of_our_queue() {
        let text = "    0  12345     0 2 65535     0     0        3  1\n 5060  4242     2 2 65535     5     9    80000  1\n";
        assert_eq!(
            queue_stats(text, 5060),
            Some(QueueStats {
                waiting: 2,
                dropped: 5,
                user_dropped: 9,
                id_sequence: 80000
            })
        );
        assert_eq!(queue_stats(text, 7), None);
    }
}
