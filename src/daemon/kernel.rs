//! The datapath edge: [`Action`]s become nft set/map elements (ONE table,
//! [`changes_of`]) sent in one batch, and conntrack updates; NAT mappings of old flows
//! are read from conntrack ([`NetlinkKernel::lookup`]). A netlink failure is logged and counted by the
//! caller; packets are accepted regardless.

use super::ruleset::{
    MEDIA_ANY, MEDIA_DNAT, MEDIA_ENDPOINTS, MEDIA_HAIRPIN, MEDIA_SNAT, PINHOLE_TARGETS, SIG_DNAT,
    SIG_TRUSTED, SNAT_MAP, TABLE,
};
use crate::alg::LookupRequest;
use crate::netlink::nftables::Change;
use crate::netlink::{Conntrack, Element, Field, Key, Nft, Tuple};
use crate::state::actions::Action;
use std::net::Ipv4Addr;
use std::net::SocketAddrV4;

const IPPROTO_UDP: u8 = 17;

#[derive(Default)]
pub struct NetlinkKernel {
    nft: Option<Nft>,
    ct: Option<Conntrack>,
    /// The last batch's changes, kept for the vector's capacity.
    changes: Vec<Change<'static>>,
}

impl NetlinkKernel {
    /// Whether our table is still in the kernel (`None`: netlink failed, say nothing).
    pub fn table_present(&mut self) -> Option<bool> {
        match self.nft().and_then(|nft| nft.has_table(TABLE)) {
            Ok(present) => Some(present),
            Err(e) => {
                log::debug!("cannot ask for table inet {TABLE}: {e}");
                self.nft = None;
                None
            }
        }
    }

    fn nft(&mut self) -> std::io::Result<&mut Nft> {
        if self.nft.is_none() {
            let mut nft = Nft::open()?;
            // Deletes that tolerate a key already gone, where the kernel has them
            // (0.0.0.0:0 is never an element).
            let nothing = endpoint_key(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            if !nft.probe_destroy(TABLE, MEDIA_ENDPOINTS, &nothing) {
                log::debug!(
                    "no DESTROYSETELEM: a batch deleting a missing element is redone one by one"
                );
            }
            self.nft = Some(nft);
        }
        Ok(self.nft.as_mut().expect("just opened"))
    }

    fn ct(&mut self) -> Option<&mut Conntrack> {
        if self.ct.is_none() {
            match Conntrack::open() {
                Ok(c) => self.ct = Some(c),
                Err(e) => {
                    log::warn!("cannot open conntrack netlink: {e}");
                    return None;
                }
            }
        }
        self.ct.as_mut()
    }
}

fn endpoint_key(a: SocketAddrV4) -> Key {
    Key::new(&[Field::Ipv4(*a.ip()), Field::Port(a.port())])
}

fn source_port_key(source: Ipv4Addr, port: u16) -> Key {
    Key::new(&[Field::Ipv4(source), Field::Port(port)])
}

fn port_key(port: u16) -> Key {
    Key::new(&[Field::Port(port)])
}

fn element(key: Key, data: Option<SocketAddrV4>, seconds: Option<u32>) -> Element {
    Element {
        key,
        data: data.map(endpoint_key),
        timeout_ms: seconds.map(|s| u64::from(s) * 1000),
    }
}

/// A missing element is what a delete wanted anyway.
fn deleted(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl NetlinkKernel {
    /// How many flows carrying sipalg's keep-out mark are in a flowtable (software or
    /// hardware offload bits); `None` if conntrack cannot be asked.
    pub fn offloaded_flows(&mut self) -> Option<usize> {
        use crate::netlink::conntrack::{IPS_HW_OFFLOAD, IPS_OFFLOAD};
        let mark = super::ruleset::MARK_NO_OFFLOAD;
        match self.ct()?.dump_marked(mark, mark) {
            Ok(entries) => Some(
                entries
                    .iter()
                    .filter(|e| e.status & (IPS_OFFLOAD | IPS_HW_OFFLOAD) != 0)
                    .count(),
            ),
            Err(e) => {
                log::debug!("cannot dump conntrack by mark: {e}");
                self.ct = None;
                None
            }
        }
    }

    /// Every UDP conntrack entry (for media counters).
    pub fn dump_udp(&mut self) -> std::io::Result<Vec<crate::netlink::Entry>> {
        match self.ct() {
            Some(ct) => ct.dump_udp(),
            None => Err(std::io::Error::other("no conntrack netlink")),
        }
    }

    /// One set/map change on its own, with set semantics for what was there before: a
    /// map element replaces one with other data, a missing key is what a delete
    /// wanted anyway (the fallback when a batch is rejected).
    fn apply_change(&mut self, c: &Change<'_>) -> std::io::Result<()> {
        let nft = self.nft()?;
        let r = match c {
            Change::Add { set, element } if element.data.is_some() => {
                nft.replace_elements(TABLE, set, std::slice::from_ref(element))
            }
            Change::Add { set, element } => {
                nft.add_elements(TABLE, set, std::slice::from_ref(element))
            }
            Change::Delete { set, key } => {
                deleted(nft.delete_elements(TABLE, set, std::slice::from_ref(key)))
            }
        };
        if r.is_err() {
            self.nft = None;
        }
        r
    }

    /// Carries out `actions` in order: conntrack updates one by one, every set and map
    /// change in ONE nft batch (one round trip). If the kernel rejects the batch (a key
    /// already gone, a map element with other data), the changes are redone one at a
    /// time with replace/ignore-missing semantics. Returns how many actions failed.
    pub fn apply(&mut self, actions: &[Action], wan_ip: Ipv4Addr) -> usize {
        let mut failed = 0;
        for a in actions {
            if let Action::FlowTimeout {
                private,
                remote,
                seconds,
            } = *a
            {
                let tuple = Tuple {
                    src: private,
                    dst: remote,
                    proto: IPPROTO_UDP,
                };
                let r = match self.ct() {
                    Some(ct) => ct.set_timeout(&tuple, seconds),
                    None => Err(std::io::Error::other("no conntrack netlink")),
                };
                if let Err(e) = r {
                    log::debug!("cannot extend {private} -> {remote}: {e}");
                    failed += 1;
                }
            }
        }
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        for a in actions {
            changes_of(a, wan_ip, &mut changes);
        }
        let n = changes.len();
        let applied = n == 0 || {
            match self.nft().and_then(|nft| nft.apply(TABLE, &mut changes)) {
                Ok(()) => true,
                Err(e) => {
                    log::debug!("nft batch of {n} changes rejected ({e}); one by one");
                    false
                }
            }
        };
        if !applied {
            // Rare: the same changes again, one at a time (ordered by set as the batch
            // had them: each set's own changes keep their order, which is all that
            // matters between independent sets).
            self.nft = None;
            for c in &changes {
                if let Err(e) = self.apply_change(c) {
                    log::warn!("cannot apply {c:?}: {e}");
                    failed += 1;
                }
            }
        }
        self.changes = changes;
        failed
    }
}

/// Appends the set and map changes of one action (none for conntrack actions) to
/// `out`: the one place that knows which action lives in which set or map.
fn changes_of(action: &Action, wan_ip: Ipv4Addr, out: &mut Vec<Change<'static>>) {
    out.extend(changes_list(action, wan_ip));
}

/// At most six changes (what one action needs), without allocating.
type ChangeList = std::iter::Flatten<std::array::IntoIter<Option<Change<'static>>, 6>>;

fn list(changes: &[Change<'static>]) -> ChangeList {
    assert!(changes.len() <= 6, "an action has at most six changes");
    let mut l = [None; 6];
    for (slot, c) in l.iter_mut().zip(changes) {
        *slot = Some(*c);
    }
    l.into_iter().flatten()
}

/// Adds `key` (with map `data`, and a timeout of `seconds`) to `set`.
fn add(
    set: &'static str,
    key: Key,
    data: Option<SocketAddrV4>,
    seconds: Option<u32>,
) -> Change<'static> {
    Change::Add {
        set,
        element: element(key, data, seconds),
    }
}

fn del(set: &'static str, key: Key) -> Change<'static> {
    Change::Delete { set, key }
}

/// [`changes_of`] as a fixed list.
fn changes_list(action: &Action, wan_ip: Ipv4Addr) -> ChangeList {
    match *action {
        Action::Snat {
            private,
            public_port,
            seconds,
            refresh,
        } => snat_changes(
            private,
            SocketAddrV4::new(wan_ip, public_port),
            seconds,
            refresh,
        ),
        Action::MediaEndpoint { private } => {
            list(&[add(MEDIA_ENDPOINTS, endpoint_key(private), None, None)])
        }
        Action::RemoveMediaEndpoint { private } => {
            list(&[del(MEDIA_ENDPOINTS, endpoint_key(private))])
        }
        Action::MediaSnat {
            private,
            public_port,
        } => list(&[add(
            MEDIA_SNAT,
            endpoint_key(private),
            Some(SocketAddrV4::new(wan_ip, public_port)),
            None,
        )]),
        Action::RemoveMediaSnat { private } => list(&[del(MEDIA_SNAT, endpoint_key(private))]),
        Action::Hairpin {
            public_port,
            private,
        } => list(&[add(
            MEDIA_HAIRPIN,
            port_key(public_port),
            Some(private),
            None,
        )]),
        Action::RemoveHairpin { public_port } => list(&[del(MEDIA_HAIRPIN, port_key(public_port))]),
        Action::Pinhole {
            remote,
            public_port,
            private,
        } => list(&[match remote {
            Some(r) => add(
                MEDIA_DNAT,
                source_port_key(r, public_port),
                Some(private),
                None,
            ),
            None => add(MEDIA_ANY, port_key(public_port), Some(private), None),
        }]),
        Action::RemovePinhole {
            remote,
            public_port,
        } => list(&[match remote {
            Some(r) => del(MEDIA_DNAT, source_port_key(r, public_port)),
            None => del(MEDIA_ANY, port_key(public_port)),
        }]),
        Action::Reachable {
            registrar,
            public_port,
            private,
            seconds,
            refresh,
        } => reachable_changes(registrar, public_port, private, seconds, refresh),
        Action::Unreachable {
            registrar,
            public_port,
        } => list(&[
            del(SIG_DNAT, source_port_key(registrar, public_port)),
            del(SIG_TRUSTED, port_key(public_port)),
        ]),
        Action::FlowTimeout { .. } => list(&[]),
    }
}

// A refresh replaces the element (delete, then add, in the same batch: no packet sees
// it missing): re-adding an existing element restarts its timeout only from Linux 6.12,
// and an element that expires while its registration or mapping lives would silently
// break it on older kernels (5.15, 6.1, 6.6).

/// A signalling mapping: `private` leaves the WAN as `public`.
fn snat_changes(
    private: SocketAddrV4,
    public: SocketAddrV4,
    seconds: u32,
    refresh: bool,
) -> ChangeList {
    let add = add(SNAT_MAP, endpoint_key(private), Some(public), Some(seconds));
    if refresh {
        list(&[del(SNAT_MAP, endpoint_key(private)), add])
    } else {
        list(&[add])
    }
}

/// A registered phone, reachable from its registrar (and the trusted sources) at
/// `public_port`.
fn reachable_changes(
    registrar: Ipv4Addr,
    public_port: u16,
    private: SocketAddrV4,
    seconds: u32,
    refresh: bool,
) -> ChangeList {
    let adds = [
        add(
            SIG_DNAT,
            source_port_key(registrar, public_port),
            Some(private),
            Some(seconds),
        ),
        add(
            SIG_TRUSTED,
            port_key(public_port),
            Some(private),
            Some(seconds),
        ),
        add(PINHOLE_TARGETS, endpoint_key(private), None, Some(seconds)),
    ];
    if refresh {
        let [a, b, c] = adds;
        list(&[
            del(SIG_DNAT, source_port_key(registrar, public_port)),
            del(SIG_TRUSTED, port_key(public_port)),
            del(PINHOLE_TARGETS, endpoint_key(private)),
            a,
            b,
            c,
        ])
    } else {
        list(&adds)
    }
}

impl NetlinkKernel {
    /// Answers a packet's conntrack question (see [`LookupRequest`]).
    pub fn lookup(&mut self, r: &LookupRequest) -> Option<SocketAddrV4> {
        match *r {
            LookupRequest::NatOfOutbound { src, dst } => self.nat_of_outbound(src, dst),
            LookupRequest::PrivateOfInbound { src, public_dst } => {
                self.private_of_inbound(src, public_dst)
            }
        }
    }

    fn nat_of_outbound(&mut self, src: SocketAddrV4, dst: SocketAddrV4) -> Option<SocketAddrV4> {
        let entry = self
            .ct()?
            .get_by_orig(&Tuple {
                src,
                dst,
                proto: IPPROTO_UDP,
            })
            .ok()??;
        Some(entry.reply.dst)
    }

    fn private_of_inbound(
        &mut self,
        src: SocketAddrV4,
        public_dst: SocketAddrV4,
    ) -> Option<SocketAddrV4> {
        let entry = self
            .ct()?
            .get_by_reply(&Tuple {
                src,
                dst: public_dst,
                proto: IPPROTO_UDP,
            })
            .ok()??;
        Some(entry.orig.src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes_of(action: &Action, wan_ip: Ipv4Addr) -> Vec<Change<'static>> {
        let mut v = Vec::new();
        super::changes_of(action, wan_ip, &mut v);
        v
    }

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    /// (set, key) of every element a change list adds or deletes.
    fn added(changes: &[Change<'_>]) -> Vec<(String, Key)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Add { set, element } => Some((set.to_string(), element.key)),
                Change::Delete { .. } => None,
            })
            .collect()
    }

    fn deleted(changes: &[Change<'_>]) -> Vec<(String, Key)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete { set, key } => Some((set.to_string(), *key)),
                Change::Add { .. } => None,
            })
            .collect()
    }

    #[test]
    fn every_removal_deletes_exactly_what_its_action_added() {
        let wan = Ipv4Addr::new(198, 51, 100, 1);
        let private = a("192.168.1.20:4000");
        let remote = Some(Ipv4Addr::new(198, 51, 100, 20));
        let pairs = [
            (
                Action::MediaEndpoint { private },
                Action::RemoveMediaEndpoint { private },
            ),
            (
                Action::MediaSnat {
                    private,
                    public_port: 40000,
                },
                Action::RemoveMediaSnat { private },
            ),
            (
                Action::Hairpin {
                    public_port: 40000,
                    private,
                },
                Action::RemoveHairpin { public_port: 40000 },
            ),
            (
                Action::Pinhole {
                    remote,
                    public_port: 40000,
                    private,
                },
                Action::RemovePinhole {
                    remote,
                    public_port: 40000,
                },
            ),
            (
                Action::Pinhole {
                    remote: None,
                    public_port: 40000,
                    private,
                },
                Action::RemovePinhole {
                    remote: None,
                    public_port: 40000,
                },
            ),
        ];
        for (add, remove) in pairs {
            let (on, off) = (changes_of(&add, wan), changes_of(&remove, wan));
            assert!(deleted(&on).is_empty() && added(&off).is_empty());
            assert_eq!(added(&on), deleted(&off), "{add:?} / {remove:?}");
        }
        // A registration's reachability: the pinhole target stays until it times out.
        let reachable = |refresh| Action::Reachable {
            registrar: Ipv4Addr::new(198, 51, 100, 10),
            public_port: 5060,
            private: a("192.168.1.20:5060"),
            seconds: 150,
            refresh,
        };
        let reach = changes_of(&reachable(false), wan);
        // A refresh replaces all three elements (delete first, same batch): re-adding
        // restarts an element's timeout only from Linux 6.12.
        let again = changes_of(&reachable(true), wan);
        assert_eq!(deleted(&again), added(&reach));
        assert_eq!(added(&again), added(&reach));
        assert!(matches!(
            again[..3],
            [
                Change::Delete { .. },
                Change::Delete { .. },
                Change::Delete { .. }
            ]
        ));
        let unreach = changes_of(
            &Action::Unreachable {
                registrar: Ipv4Addr::new(198, 51, 100, 10),
                public_port: 5060,
            },
            wan,
        );
        assert_eq!(added(&reach)[..2], deleted(&unreach)[..]);
    }

    #[test]
    fn snat_maps_the_private_endpoint_to_the_wan_address() {
        let wan = Ipv4Addr::new(198, 51, 100, 1);
        let c = changes_of(
            &Action::Snat {
                private: a("192.168.1.20:5060"),
                public_port: 40001,
                seconds: 3600,
                refresh: false,
            },
            wan,
        );
        let add = Change::Add {
            set: SNAT_MAP,
            element: element(
                endpoint_key(a("192.168.1.20:5060")),
                Some(a("198.51.100.1:40001")),
                Some(3600),
            ),
        };
        assert_eq!(c, vec![add]);
        let refreshed = changes_of(
            &Action::Snat {
                private: a("192.168.1.20:5060"),
                public_port: 40001,
                seconds: 3600,
                refresh: true,
            },
            wan,
        );
        assert_eq!(
            refreshed,
            vec![
                Change::Delete {
                    set: SNAT_MAP,
                    key: endpoint_key(a("192.168.1.20:5060"))
                },
                add
            ]
        );
        assert!(changes_of(
            &Action::FlowTimeout {
                private: a("192.168.1.20:5060"),
                remote: a("198.51.100.10:5060"),
                seconds: 60
            },
            wan
        )
        .is_empty());
    }
}
