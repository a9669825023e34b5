//! The nfnetlink messages of a change: GETTABLE, and a batch of NEWSETELEM,
//! DELSETELEM or DESTROYSETELEM messages between BATCH_BEGIN and BATCH_END (the layout
//! is in the parent module's documentation), with its sequence numbers and the ACK on
//! the last data message.

use super::{
    Element, Key, AF_UNSPEC, MAX_KEY_FIELDS, NFPROTO_INET, NFTA_DATA_VALUE, NFTA_LIST_ELEM,
    NFTA_SET_ELEM_DATA, NFTA_SET_ELEM_EXPIRATION, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_LIST_ELEMENTS,
    NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_TIMEOUT, NFTA_TABLE_NAME,
    NFT_MSG_DELSETELEM, NFT_MSG_DESTROYSETELEM, NFT_MSG_GETTABLE, NFT_MSG_NEWSETELEM,
};
use crate::netlink::msg::{
    nfnl_type, MsgBuilder, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES,
    NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST,
};

/// Elements per NEWSETELEM/DELSETELEM message (a batch may hold several messages).
pub(super) const ELEMS_PER_MSG: usize = 128;

fn put_value(b: &mut MsgBuilder, ty: u16, k: &Key) {
    let mut a = b.attrs();
    let n = a.begin_nested(ty);
    a.put(NFTA_DATA_VALUE, k.encode_into(&mut [0; 4 * MAX_KEY_FIELDS]));
    a.end_nested(n);
}

/// Appends one NEWSETELEM (`data` = Some) or DELSETELEM message.
fn put_elem_msg<'e>(
    b: &mut MsgBuilder,
    msg: u8,
    flags: u16,
    seq: u32,
    table: &str,
    set: &str,
    elems: impl Iterator<Item = (&'e Key, Option<&'e Key>, Option<u64>)>,
) {
    let o = b.begin(
        nfnl_type(NFNL_SUBSYS_NFTABLES, msg),
        flags,
        seq,
        NFPROTO_INET,
        0,
    );
    b.attrs()
        .put_str(NFTA_SET_ELEM_LIST_TABLE, table)
        .put_str(NFTA_SET_ELEM_LIST_SET, set);
    let list = b.attrs().begin_nested(NFTA_SET_ELEM_LIST_ELEMENTS);
    for (key, data, timeout) in elems {
        let e = b.attrs().begin_nested(NFTA_LIST_ELEM);
        put_value(b, NFTA_SET_ELEM_KEY, key);
        if let Some(d) = data {
            put_value(b, NFTA_SET_ELEM_DATA, d);
        }
        if let Some(t) = timeout {
            b.attrs()
                .put_u64_be(NFTA_SET_ELEM_TIMEOUT, t)
                .put_u64_be(NFTA_SET_ELEM_EXPIRATION, t);
        }
        b.attrs().end_nested(e);
    }
    b.attrs().end_nested(list);
    b.end(o);
}

/// One operation inside a batch, on the set or map it names.
pub(super) enum Op<'a> {
    Add(&'a str, &'a [Element]),
    Del(&'a str, &'a [Key]),
    /// Delete, ignoring keys that are not there (DESTROYSETELEM).
    Destroy(&'a str, &'a [Key]),
    /// Changes of one kind to one set (a run from [`runs`]); deletes as DESTROYSETELEM
    /// when `destroy`.
    Run(&'a [Change<'a>], bool),
}

impl Op<'_> {
    /// How many elements it changes.
    pub(super) fn len(&self) -> usize {
        match self {
            Op::Add(_, e) => e.len(),
            Op::Del(_, k) | Op::Destroy(_, k) => k.len(),
            Op::Run(r, _) => r.len(),
        }
    }

    /// Appends its messages to the batch in `b`.
    fn put(&self, at: &mut Sequence, b: &mut MsgBuilder, table: &str) {
        match self {
            Op::Add(set, elems) => at.put(
                b,
                NFT_MSG_NEWSETELEM,
                NLM_F_REQUEST | NLM_F_CREATE,
                table,
                set,
                elems,
                |e| (&e.key, e.data.as_ref(), e.timeout_ms),
            ),
            Op::Del(set, keys) => at.put(
                b,
                NFT_MSG_DELSETELEM,
                NLM_F_REQUEST,
                table,
                set,
                keys,
                |k| (k, None, None),
            ),
            Op::Destroy(set, keys) => at.put(
                b,
                NFT_MSG_DESTROYSETELEM,
                NLM_F_REQUEST,
                table,
                set,
                keys,
                |k| (k, None, None),
            ),
            Op::Run(run, destroy) => {
                let Some(first) = run.first() else { return };
                let (msg, flags) = match (first.is_add(), *destroy) {
                    (true, _) => (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE),
                    (false, true) => (NFT_MSG_DESTROYSETELEM, NLM_F_REQUEST),
                    (false, false) => (NFT_MSG_DELSETELEM, NLM_F_REQUEST),
                };
                at.put(b, msg, flags, table, first.set(), run, |c| match c {
                    Change::Add { element: e, .. } => (&e.key, e.data.as_ref(), e.timeout_ms),
                    Change::Delete { key, .. } => (key, None, None),
                });
            }
        }
    }
}

/// A change to one set or map, for [`Nft::apply`](super::Nft::apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Add { set: &'a str, element: Element },
    Delete { set: &'a str, key: Key },
}

impl<'a> Change<'a> {
    fn set(&self) -> &'a str {
        match *self {
            Change::Add { set, .. } | Change::Delete { set, .. } => set,
        }
    }

    fn is_add(&self) -> bool {
        matches!(self, Change::Add { .. })
    }
}

/// GETTABLE for `table` in family inet, with an ACK: the kernel replies with the table
/// and the ACK, or with ENOENT.
pub(super) fn encode_get_table(seq: u32, table: &str) -> Vec<u8> {
    let mut b = MsgBuilder::new();
    let o = b.begin(
        nfnl_type(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE),
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        NFPROTO_INET,
        0,
    );
    b.attrs().put_str(NFTA_TABLE_NAME, table);
    b.end(o);
    b.buf
}

#[cfg(test)]
/// Encodes a whole batch with sequence numbers starting at `first`. Returns the buffer,
/// the number of messages (BEGIN and END included) and the sequence number of the
/// message that carries `NLM_F_ACK` (the last data message).
fn encode_batch(first: u32, table: &str, ops: &[Op<'_>]) -> (Vec<u8>, u32, u32) {
    encode_batch_into(Vec::new(), first, table, ops)
}

/// Sequence numbers while a batch is encoded: the last data message asks for the ACK.
struct Sequence {
    seq: u32,
    done: usize,
    total: usize,
    ack_seq: u32,
}

impl Sequence {
    /// Appends `items` as messages of at most [`ELEMS_PER_MSG`] elements each.
    #[allow(clippy::too_many_arguments)] // one message's header fields and its elements
    fn put<'e, T>(
        &mut self,
        b: &mut MsgBuilder,
        msg: u8,
        flags: u16,
        table: &str,
        set: &str,
        items: &'e [T],
        element: impl Fn(&'e T) -> (&'e Key, Option<&'e Key>, Option<u64>),
    ) {
        for chunk in items.chunks(ELEMS_PER_MSG) {
            self.seq += 1;
            self.done += 1;
            let ack = if self.done == self.total {
                NLM_F_ACK
            } else {
                0
            };
            self.ack_seq = self.seq;
            put_elem_msg(
                b,
                msg,
                flags | ack,
                self.seq,
                table,
                set,
                chunk.iter().map(&element),
            );
        }
    }
}

/// [`encode_batch`] into `buf` (cleared first; its capacity is reused).
pub(super) fn encode_batch_into(
    mut buf: Vec<u8>,
    first: u32,
    table: &str,
    ops: &[Op<'_>],
) -> (Vec<u8>, u32, u32) {
    buf.clear();
    let mut b = MsgBuilder { buf };
    let seq = first;
    let o = b.begin(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        AF_UNSPEC,
        NFNL_SUBSYS_NFTABLES as u16,
    );
    b.end(o);
    // Count data messages to know which is last.
    let total: usize = ops
        .iter()
        .map(|op| op.len().div_ceil(ELEMS_PER_MSG).max(1))
        .sum();
    let mut at = Sequence {
        seq,
        done: 0,
        total,
        ack_seq: seq,
    };
    for op in ops {
        op.put(&mut at, &mut b, table);
    }
    let (mut seq, ack_seq) = (at.seq, at.ack_seq);
    seq += 1;
    let o = b.begin(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq,
        AF_UNSPEC,
        NFNL_SUBSYS_NFTABLES as u16,
    );
    b.end(o);
    (b.buf, seq - first + 1, ack_seq)
}

/// `changes` ordered by set, each set's own in the order given (the batch commits as
/// one, so the order across sets is never seen; within a set a delete and a re-add must
/// stay in order), as runs of one kind to one set: each run is one message.
pub(super) fn runs<'c, 'a>(
    changes: &'c mut [Change<'a>],
) -> impl Iterator<Item = &'c [Change<'a>]> {
    changes.sort_by_key(Change::set);
    changes.chunk_by(|a, b| a.set() == b.set() && a.is_add() == b.is_add())
}

#[cfg(test)]
mod tests {
    use super::super::Field;
    use super::*;
    use std::net::Ipv4Addr;

    fn map_elem() -> Element {
        Element {
            key: Key::new(&[Field::Ipv4(Ipv4Addr::new(10, 0, 0, 2)), Field::Port(5060)]),
            data: Some(Key::new(&[
                Field::Ipv4(Ipv4Addr::new(198, 51, 100, 1)),
                Field::Port(40123),
            ])),
            timeout_ms: Some(90_000),
        }
    }

    #[test]
    fn get_table_request_layout() {
        let m = encode_get_table(7, "sipalg");
        #[rustfmt::skip]
        let mut want: Vec<u8> = vec![
            0, 0, 0, 0,             // nlmsg_len (host order, patched below)
            0x01, 0x0a,             // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE
            0x05, 0x00,             // NLM_F_REQUEST | NLM_F_ACK
            7, 0, 0, 0,             // seq
            0, 0, 0, 0,             // pid
            1, 0, 0, 0,             // NFPROTO_INET, NFNETLINK_V0, res_id 0
            11, 0, 1, 0,            // NFTA_TABLE_NAME, 4 + 7 bytes
            b's', b'i', b'p', b'a', b'l', b'g', 0, 0, // "sipalg\0", padded to 4
        ];
        let len = want.len() as u32;
        want[..4].copy_from_slice(&len.to_ne_bytes());
        if cfg!(target_endian = "little") {
            assert_eq!(m, want);
        }
        assert_eq!(m.len(), 32);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn newsetelem_batch_bytes() {
        let (buf, count, ack) = encode_batch(0, "t", &[Op::Add("m", &[map_elem()])]);
        assert_eq!((count, ack), (3, 1));
        #[rustfmt::skip]
        let expected: &[u8] = &[
            // BATCH_BEGIN
            20, 0, 0, 0, 0x10, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
            // NEWSETELEM: len 100, type 0x0a0c, REQUEST|ACK|CREATE, seq 1
            100, 0, 0, 0, 0x0c, 0x0a, 0x05, 0x04, 1, 0, 0, 0, 0, 0, 0, 0,
            1, 0, 0, 0, // NFPROTO_INET, v0, res_id 0
            6, 0, 1, 0, b't', 0, 0, 0,
            6, 0, 2, 0, b'm', 0, 0, 0,
            64, 0, 3, 0x80, // ELEMENTS
              60, 0, 1, 0x80, // LIST_ELEM
                16, 0, 1, 0x80, 12, 0, 1, 0, 10, 0, 0, 2, 0x13, 0xc4, 0, 0, // KEY
                16, 0, 2, 0x80, 12, 0, 1, 0, 0xc6, 0x33, 0x64, 0x01, 0x9c, 0xbb, 0, 0, // DATA
                12, 0, 4, 0, 0, 0, 0, 0, 0, 0x01, 0x5f, 0x90, // TIMEOUT 90000 ms
                12, 0, 5, 0, 0, 0, 0, 0, 0, 0x01, 0x5f, 0x90, // EXPIRATION 90000 ms
            // BATCH_END, seq 2
            20, 0, 0, 0, 0x11, 0, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
        ];
        assert_eq!(buf, expected);
        // The element nest is byte-identical to nft's, modulo attribute order: nft put
        // TIMEOUT first: "\x30\x00\x01\x80\x0c\x00\x04\x00…\x01\x5f\x90\x10\x00\x01\x80…".
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn delsetelem_batch_bytes() {
        let key = Key::new(&[
            Field::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
            Field::Proto(17),
            Field::Port(5060),
        ]);
        let (buf, count, ack) = encode_batch(7, "t", &[Op::Del("s", &[key])]);
        assert_eq!((count, ack), (3, 8));
        #[rustfmt::skip]
        let expected: &[u8] = &[
            20, 0, 0, 0, 0x10, 0, 0x01, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
            // DELSETELEM: type 0x0a0e, REQUEST|ACK
            64, 0, 0, 0, 0x0e, 0x0a, 0x05, 0x00, 8, 0, 0, 0, 0, 0, 0, 0,
            1, 0, 0, 0,
            6, 0, 1, 0, b't', 0, 0, 0,
            6, 0, 2, 0, b's', 0, 0, 0,
            28, 0, 3, 0x80,
              24, 0, 1, 0x80,
                20, 0, 1, 0x80, 16, 0, 1, 0, 10, 0, 0, 2, 17, 0, 0, 0, 0x13, 0xc4, 0, 0,
            20, 0, 0, 0, 0x11, 0, 0x01, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
        ];
        assert_eq!(buf, expected);
    }

    #[test]
    fn destroy_is_a_delete_with_its_own_message_type() {
        let key = map_elem().key;
        let (del, ..) = encode_batch(7, "t", &[Op::Del("s", std::slice::from_ref(&key))]);
        let (destroy, ..) = encode_batch(7, "t", &[Op::Destroy("s", std::slice::from_ref(&key))]);
        assert_eq!(del.len(), destroy.len());
        // Only the second message's type differs: 0x0a0e DELSETELEM, 0x0a1e DESTROYSETELEM.
        let diff: Vec<usize> = (0..del.len()).filter(|&i| del[i] != destroy[i]).collect();
        assert_eq!(diff, vec![24]);
        assert_eq!(
            (del[24], destroy[24]),
            (NFT_MSG_DELSETELEM, NFT_MSG_DESTROYSETELEM)
        );
    }

    #[test]
    fn changes_are_grouped_by_set_keeping_each_sets_order() {
        let key = |p| Key::new(&[Field::Port(p)]);
        let add = |set, p| Change::Add {
            set,
            element: Element {
                key: key(p),
                data: None,
                timeout_ms: None,
            },
        };
        let del = |set, p| Change::Delete { set, key: key(p) };
        let mut changes = [
            add("b", 1),
            add("a", 2),
            del("b", 3),
            add("a", 4),
            add("b", 3),
            del("a", 2),
            add("b", 5),
        ];
        let got: Vec<Vec<Change<'_>>> = runs(&mut changes).map(<[_]>::to_vec).collect();
        assert_eq!(
            got,
            vec![
                vec![add("a", 2), add("a", 4)],
                vec![del("a", 2)],
                vec![add("b", 1)],
                vec![del("b", 3)],
                vec![add("b", 3), add("b", 5)],
            ]
        );
        // Each run is one message of its kind; the last one asks for the ACK.
        let ops: Vec<Op<'_>> = runs(&mut changes).map(|r| Op::Run(r, true)).collect();
        let (buf, count, ack) = encode_batch(0, "t", &ops);
        assert_eq!((count, ack), (7, 5));
        let types: Vec<(u8, u16)> = crate::netlink::msg::Msgs::new(&buf)
            .map(|m| ((m.ty & 0xff) as u8, m.flags & NLM_F_ACK))
            .collect();
        assert_eq!(
            types,
            [
                (NFNL_MSG_BATCH_BEGIN as u8, 0),
                (NFT_MSG_NEWSETELEM, 0),
                (NFT_MSG_DESTROYSETELEM, 0),
                (NFT_MSG_NEWSETELEM, 0),
                (NFT_MSG_DESTROYSETELEM, 0),
                (NFT_MSG_NEWSETELEM, NLM_F_ACK),
                (NFNL_MSG_BATCH_END as u8, 0),
            ]
        );
    }

    #[test]
    fn large_batches_split_and_ack_last() {
        let elems: Vec<Element> = (0..300).map(|_| map_elem()).collect();
        let (_, count, ack) = encode_batch(100, "t", &[Op::Add("m", &elems)]);
        // 300 elements: 3 messages of <= 128, plus BEGIN and END.
        assert_eq!((count, ack), (5, 103));
        let (_, count, ack) = encode_batch(
            1,
            "t",
            &[Op::Del("m", &[map_elem().key]), Op::Add("m", &[map_elem()])],
        );
        assert_eq!((count, ack), (4, 3));
        // Changes to several sets go into one batch, each message naming its set.
        let (buf, count, ack) = encode_batch(
            1,
            "t",
            &[Op::Add("m", &[map_elem()]), Op::Del("s", &[map_elem().key])],
        );
        assert_eq!((count, ack), (4, 3));
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("m\0") && text.contains("s\0"));
    }
}
