//! nf_tables set and map elements over netlink (`linux/netfilter/nf_tables.h`).
//!
//! A change is one nfnetlink batch, committed atomically by the kernel:
//!
//! ```text
//! BATCH_BEGIN   type 0x10, REQUEST, family AF_UNSPEC, res_id = htons(NFNL_SUBSYS_NFTABLES)
//! NEWSETELEM    type 0x0a0c, REQUEST|CREATE[|ACK], family NFPROTO_INET
//!   NFTA_SET_ELEM_LIST_TABLE    "t\0"
//!   NFTA_SET_ELEM_LIST_SET      "m\0"
//!   NFTA_SET_ELEM_LIST_ELEMENTS (nested)
//!     NFTA_LIST_ELEM            (nested), one per element
//!       NFTA_SET_ELEM_KEY       (nested) NFTA_DATA_VALUE <key bytes>
//!       NFTA_SET_ELEM_DATA      (nested) NFTA_DATA_VALUE <data bytes>   maps only
//!       NFTA_SET_ELEM_TIMEOUT   be64 milliseconds                       optional
//! BATCH_END     type 0x11, REQUEST, family AF_UNSPEC, res_id = htons(10)
//! ```
//! Only the last data message asks for an ACK; errors are reported for any message.

//!
//! [`key`] encodes the elements and their keys, [`batch`] the messages; [`Nft`] here
//! sends them and waits for the kernel's answer.

mod batch;
mod key;

pub use batch::Change;
pub use key::{Element, Field, Key, MAX_KEY_FIELDS};

use std::io;

use super::msg::NETLINK_NETFILTER;
use super::socket::NetlinkSocket;
use batch::{encode_batch_into, encode_get_table, runs, Op, ELEMS_PER_MSG};

pub const NFPROTO_INET: u8 = 1;
pub const AF_UNSPEC: u8 = 0;

pub const NFT_MSG_GETTABLE: u8 = 1;
pub const NFT_MSG_NEWSETELEM: u8 = 12;
pub const NFT_MSG_GETSETELEM: u8 = 13;
pub const NFT_MSG_DELSETELEM: u8 = 14;
/// Like DELSETELEM, but a missing element is not an error (Linux >= 6.3).
pub const NFT_MSG_DESTROYSETELEM: u8 = 30;

// enum nft_table_attributes
pub const NFTA_TABLE_NAME: u16 = 1;
// enum nft_set_elem_list_attributes
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
// enum nft_list_attributes
pub const NFTA_LIST_ELEM: u16 = 1;
// enum nft_set_elem_attributes
pub const NFTA_SET_ELEM_KEY: u16 = 1;
pub const NFTA_SET_ELEM_DATA: u16 = 2;
pub const NFTA_SET_ELEM_FLAGS: u16 = 3;
pub const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
pub const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
// enum nft_data_attributes
pub const NFTA_DATA_VALUE: u16 = 1;

/// nf_tables element updates in family `inet`.
pub struct Nft {
    sock: NetlinkSocket,
    /// Deletes in [`Nft::apply`] use DESTROYSETELEM (see [`Nft::probe_destroy`]).
    destroy: bool,
    /// The last batch's buffer, kept for its capacity.
    batch: Vec<u8>,
}

impl Nft {
    pub fn open() -> io::Result<Nft> {
        Ok(Nft {
            sock: NetlinkSocket::open(NETLINK_NETFILTER)?,
            destroy: false,
            batch: Vec::new(),
        })
    }

    /// Asks the kernel whether it has DESTROYSETELEM, by destroying `key` (which should
    /// not exist) in `set`; from then on [`Nft::apply`] uses it for deletes, so a key
    /// already gone (expired, removed by someone else) does not reject a batch.
    pub fn probe_destroy(&mut self, table: &str, set: &str, key: &Key) -> bool {
        self.destroy = self
            .run(table, &[Op::Destroy(set, std::slice::from_ref(key))])
            .is_ok();
        self.destroy
    }

    /// Whether `table inet <table>` exists: something else may delete it (`fw4 flush`,
    /// which `/etc/init.d/firewall stop` runs, deletes every table).
    pub fn has_table(&mut self, table: &str) -> io::Result<bool> {
        let seq = self.sock.next_seqs(1);
        match self
            .sock
            .request(&encode_get_table(seq, table), seq, |_| {})
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn run(&mut self, table: &str, ops: &[Op<'_>]) -> io::Result<()> {
        let n: usize = ops.iter().map(Op::len).sum();
        if n == 0 {
            return Ok(());
        }
        // Reserve enough sequence numbers for BEGIN, the data messages and END.
        let max_msgs = (n / ELEMS_PER_MSG + ops.len() + 2) as u32;
        let first = self.sock.next_seqs(max_msgs);
        let buf = std::mem::take(&mut self.batch);
        let (buf, count, ack_seq) = encode_batch_into(buf, first, table, ops);
        let r = self.sock.send_batch(&buf, first, count, ack_seq);
        self.batch = buf;
        r
    }

    /// Adds (or refreshes) elements in one atomic batch and waits for the ACK; returns the
    /// first error. Re-adding an existing key with the same data succeeds (NLM_F_CREATE
    /// without NLM_F_EXCL) and refreshes its timeout on Linux >= 6.12 (docs/netlink.md).
    /// An existing map key with *different* data fails with EEXIST (older kernels:
    /// EBUSY): use [`Nft::replace_elements`] for that. The batch is atomic: on error
    /// nothing was added.
    pub fn add_elements(&mut self, table: &str, set: &str, elements: &[Element]) -> io::Result<()> {
        self.run(table, &[Op::Add(set, elements)])
    }

    /// Applies changes to several sets and maps of `table` in ONE atomic batch with one
    /// ACK (one round trip), as few messages as [`runs`] allows; `changes` is left
    /// ordered by set. Deletes of missing keys are fine where the kernel has
    /// DESTROYSETELEM ([`Nft::probe_destroy`]); any other failure (a clashing map
    /// element, a missing key on older kernels) rejects the whole batch, and callers
    /// then fall back to one change at a time.
    pub fn apply(&mut self, table: &str, changes: &mut [Change<'_>]) -> io::Result<()> {
        let destroy = self.destroy;
        let ops: Vec<Op<'_>> = runs(changes).map(|r| Op::Run(r, destroy)).collect();
        self.run(table, &ops)
    }

    /// Deletes keys. A missing key fails the whole (atomic) batch with ENOENT; this then
    /// retries key by key so every present key is deleted, and returns
    /// `ErrorKind::NotFound` if any key was missing. Callers may ignore `NotFound`.
    pub fn delete_elements(&mut self, table: &str, set: &str, keys: &[Key]) -> io::Result<()> {
        match self.run(table, &[Op::Del(set, keys)]) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && keys.len() > 1 => {
                let mut missing = None;
                for k in keys {
                    match self.run(table, &[Op::Del(set, std::slice::from_ref(k))]) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => missing = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                missing.map_or(Ok(()), Err)
            }
            r => r,
        }
    }

    /// Sets elements whatever they were before: new keys are added, existing keys get the
    /// new data and timeout. First tries a plain add; elements that clash (EBUSY/EEXIST:
    /// same key, other data) are then replaced one by one with DELSETELEM + NEWSETELEM
    /// in one batch, so the key never disappears for a packet.
    pub fn replace_elements(
        &mut self,
        table: &str,
        set: &str,
        elements: &[Element],
    ) -> io::Result<()> {
        let clash =
            |e: &io::Error| matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EEXIST));
        match self.add_elements(table, set, elements) {
            Err(e) if clash(&e) => {
                for el in elements {
                    match self.add_elements(table, set, std::slice::from_ref(el)) {
                        Err(e) if clash(&e) => self.run(
                            table,
                            &[
                                Op::Del(set, std::slice::from_ref(&el.key)),
                                Op::Add(set, std::slice::from_ref(el)),
                            ],
                        )?,
                        r => r?,
                    }
                }
                Ok(())
            }
            r => r,
        }
    }
}
