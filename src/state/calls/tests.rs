use super::*;
use crate::engine::{plan, Direction, Nat};

const PHONE: &str = "192.168.1.20:5060";
const PEER: &str = "198.51.100.10:5060";
const ALG: MediaPolicy = MediaPolicy {
    alg: true,
    any_source: false,
    advertised: Some(Ipv4Addr::new(198, 51, 100, 1)),
    maps_mark_media: true,
};

fn a(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn msg(head: &str, sdp: &str) -> Vec<u8> {
    let body = sdp.replace('\n', "\r\n");
    format!(
        "{}Content-Type: application/sdp\nContent-Length: {}\n\n",
        head,
        body.len()
    )
    .replace('\n', "\r\n")
    .into_bytes()
    .into_iter()
    .chain(body.into_bytes())
    .collect()
}

fn sdp(ip: &str, port: u16) -> String {
    format!("v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP 0\n")
}

struct World {
    calls: Calls,
    pool: PortPool,
    policy: MediaPolicy,
}

impl World {
    fn new(policy: MediaPolicy) -> Self {
        World {
            calls: Calls::default(),
            pool: PortPool::default(),
            policy,
        }
    }

    /// The phone sends `m` (it is planned outbound, as the datapath does).
    fn sent_by_phone(&mut self, m: &[u8], now: u64) -> Vec<Action> {
        let nat = Nat {
            private: a(PHONE),
            public: a("198.51.100.1:5060"),
        };
        let mut ports = MediaPorts {
            pool: &mut self.pool,
        };
        let p = plan(m, Direction::Outbound, &nat, &mut ports).unwrap();
        let mut actions = Vec::new();
        self.calls.on_message(
            &p.facts,
            a(PHONE),
            a(PEER),
            true,
            self.policy,
            &mut self.pool,
            now,
            &mut actions,
        );
        actions
    }

    fn sent_by_peer(&mut self, m: &[u8], now: u64) -> Vec<Action> {
        let nat = Nat {
            private: a(PHONE),
            public: a("198.51.100.1:5060"),
        };
        let p = plan(m, Direction::Inbound, &nat, &mut crate::engine::KeepPorts).unwrap();
        let mut actions = Vec::new();
        self.calls.on_message(
            &p.facts,
            a(PHONE),
            a(PEER),
            false,
            self.policy,
            &mut self.pool,
            now,
            &mut actions,
        );
        actions
    }
}

fn invite(call: &str, port: u16) -> Vec<u8> {
    msg(&format!("INVITE sip:bob@198.51.100.10 SIP/2.0\nCall-ID: {call}\nCSeq: 1 INVITE\nFrom: <sip:a@x>;tag=a\nTo: <sip:b@y>\n"), &sdp("192.168.1.20", port))
}

fn answer(call: &str, status: &str, port: u16, media_ip: &str) -> Vec<u8> {
    msg(&format!("SIP/2.0 {status}\nCall-ID: {call}\nCSeq: 1 INVITE\nFrom: <sip:a@x>;tag=a\nTo: <sip:b@y>;tag=b\n"), &sdp(media_ip, port))
}

fn bye(call: &str) -> Vec<u8> {
    format!("BYE sip:b@198.51.100.10 SIP/2.0\r\nCall-ID: {call}\r\nCSeq: 2 BYE\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@y>;tag=b\r\n\r\n").into_bytes()
}

#[test]
fn outbound_call_opens_pinholes_from_the_answer_and_bye_closes_them() {
    let mut w = World::new(ALG);
    let acts = w.sent_by_phone(&invite("c1", 4000), 0);
    // With the ALG on, the media SNAT marks media flows itself: no MediaEndpoint, and
    // no hairpin reflection for a far end outside.
    assert_eq!(
        acts,
        vec![
            Action::MediaSnat {
                private: a("192.168.1.20:4000"),
                public_port: 4000
            },
            Action::MediaSnat {
                private: a("192.168.1.20:4001"),
                public_port: 4001
            },
        ]
    );
    // The media gateway (not the SIP server) is where media comes from.
    let acts = w.sent_by_peer(&answer("c1", "200 OK", 30000, "198.51.100.20"), 1);
    assert_eq!(
        acts,
        vec![
            Action::Pinhole {
                remote: Some(ip("198.51.100.20")),
                public_port: 4000,
                private: a("192.168.1.20:4000")
            },
            Action::Pinhole {
                remote: Some(ip("198.51.100.20")),
                public_port: 4001,
                private: a("192.168.1.20:4001")
            },
        ]
    );
    let call = w.calls.get(a(PHONE), "c1").unwrap();
    assert_eq!(call.state, CallState::Confirmed);
    assert!(call.outbound);
    assert_eq!(call.streams[0].remote, Some(a("198.51.100.20:30000")));
    let acts = w.sent_by_phone(&bye("c1"), 5);
    assert!(acts.contains(&Action::RemovePinhole {
        remote: Some(ip("198.51.100.20")),
        public_port: 4000
    }));
    assert!(acts.contains(&Action::RemoveMediaSnat {
        private: a("192.168.1.20:4000")
    }));
    assert!(acts.contains(&Action::RemoveMediaSnat {
        private: a("192.168.1.20:4001")
    }));
    assert!(
        !acts.iter().any(|x| matches!(
            x,
            Action::RemoveMediaEndpoint { .. } | Action::RemoveHairpin { .. }
        )),
        "nothing was added to those with the ALG on: {acts:?}"
    );
    assert!(w.calls.is_empty());
    assert!(w.pool.is_empty(), "ports released");
}

#[test]
fn inbound_call_opens_pinholes_when_the_phone_answers() {
    let mut w = World::new(ALG);
    let offer = msg("INVITE sip:100@198.51.100.1:5060 SIP/2.0\nCall-ID: in1\nCSeq: 7 INVITE\nFrom: <sip:x@y>;tag=x\nTo: <sip:100@z>\n", &sdp("198.51.100.20", 30000));
    assert!(w.sent_by_peer(&offer, 0).is_empty());
    let ans = msg("SIP/2.0 200 OK\nCall-ID: in1\nCSeq: 7 INVITE\nFrom: <sip:x@y>;tag=x\nTo: <sip:100@z>;tag=p\n", &sdp("192.168.1.20", 4002));
    let acts = w.sent_by_phone(&ans, 1);
    assert!(acts.contains(&Action::Pinhole {
        remote: Some(ip("198.51.100.20")),
        public_port: 4002,
        private: a("192.168.1.20:4002")
    }));
    assert!(acts.contains(&Action::MediaSnat {
        private: a("192.168.1.20:4002"),
        public_port: 4002
    }));
    assert!(!w.calls.get(a(PHONE), "in1").unwrap().outbound);
}

#[test]
fn reinvite_to_a_new_port_moves_the_pinholes() {
    let mut w = World::new(ALG);
    w.sent_by_phone(&invite("c2", 4000), 0);
    w.sent_by_peer(&answer("c2", "200 OK", 30000, "198.51.100.20"), 0);
    let re = msg("INVITE sip:bob@198.51.100.10 SIP/2.0\nCall-ID: c2\nCSeq: 3 INVITE\nFrom: <sip:a@x>;tag=a\nTo: <sip:b@y>;tag=b\n", &sdp("192.168.1.20", 5000));
    let acts = w.sent_by_phone(&re, 10);
    assert!(acts.contains(&Action::RemovePinhole {
        remote: Some(ip("198.51.100.20")),
        public_port: 4000
    }));
    assert!(acts.contains(&Action::RemoveMediaSnat {
        private: a("192.168.1.20:4000")
    }));
    assert!(acts.contains(&Action::MediaSnat {
        private: a("192.168.1.20:5000"),
        public_port: 5000
    }));
    assert!(acts.contains(&Action::Pinhole {
        remote: Some(ip("198.51.100.20")),
        public_port: 5000,
        private: a("192.168.1.20:5000")
    }));
    assert_eq!(w.pool.owner(4000), None);
    assert_eq!(w.pool.owner(5000), Some(a("192.168.1.20:5000")));
}

#[test]
fn a_failed_initial_invite_or_a_cancel_removes_the_call() {
    let mut w = World::new(ALG);
    w.sent_by_phone(&invite("c3", 4000), 0);
    let busy =
        b"SIP/2.0 486 Busy Here\r\nCall-ID: c3\r\nCSeq: 1 INVITE\r\nTo: <sip:b@y>;tag=b\r\n\r\n";
    let acts = w.sent_by_peer(busy, 1);
    assert!(acts.contains(&Action::RemoveMediaSnat {
        private: a("192.168.1.20:4000")
    }));
    assert!(w.calls.is_empty() && w.pool.is_empty());

    w.sent_by_phone(&invite("c4", 4000), 0);
    let cancel = b"CANCEL sip:bob@198.51.100.10 SIP/2.0\r\nCall-ID: c4\r\nCSeq: 1 CANCEL\r\n\r\n";
    assert!(!w.sent_by_phone(cancel, 1).is_empty());
    assert!(w.calls.is_empty());
}

#[test]
fn three_hundred_calls_on_one_signalling_flow_keep_their_own_pinholes() {
    let mut w = World::new(ALG);
    for i in 0..300u16 {
        let call = format!("trunk-{i}");
        w.sent_by_phone(&invite(&call, 10000 + 2 * i), 0);
        let acts = w.sent_by_peer(&answer(&call, "200 OK", 20000 + 2 * i, "198.51.100.20"), 0);
        assert_eq!(acts.len(), 2, "{call}");
    }
    assert_eq!(w.calls.len(), 300);
    let acts = w.sent_by_phone(&bye("trunk-7"), 1);
    assert!(acts.contains(&Action::RemovePinhole {
        remote: Some(ip("198.51.100.20")),
        public_port: 10014
    }));
    assert_eq!(w.calls.len(), 299);
    assert_eq!(
        w.pool.owner(10016),
        Some(a("192.168.1.20:10016")),
        "other calls untouched"
    );
}

#[test]
fn two_phones_using_the_same_media_port_get_different_public_ports() {
    let mut w = World::new(ALG);
    w.sent_by_phone(&invite("p1", 4000), 0);
    // A second phone's INVITE (planned with its own NAT).
    let m = String::from_utf8(invite("p2", 4000))
        .unwrap()
        .replace("192.168.1.20", "192.168.1.21")
        .into_bytes();
    let nat = Nat {
        private: a("192.168.1.21:5060"),
        public: a("198.51.100.1:40000"),
    };
    let mut ports = MediaPorts { pool: &mut w.pool };
    let p = plan(&m, Direction::Outbound, &nat, &mut ports).unwrap();
    let public = p.facts.sdp.unwrap().streams()[0].public_port;
    assert_ne!(public, 4000);
    assert!(String::from_utf8_lossy(&p.output()).contains(&format!("m=audio {public} RTP/AVP 0")));
    let mut acts = Vec::new();
    w.calls.on_message(
        &p.facts,
        a("192.168.1.21:5060"),
        a(PEER),
        true,
        ALG,
        &mut w.pool,
        0,
        &mut acts,
    );
    assert!(acts.contains(&Action::MediaSnat {
        private: a("192.168.1.21:4000"),
        public_port: public
    }));
}

#[test]
fn alg_off_only_marks_media_and_any_source_opens_at_the_offer() {
    let mut w = World::new(MediaPolicy {
        alg: false,
        any_source: false,
        advertised: None,
        maps_mark_media: true,
    });
    let acts = w.sent_by_phone(&invite("o1", 4000), 0);
    assert_eq!(
        acts,
        vec![
            Action::MediaEndpoint {
                private: a("192.168.1.20:4000")
            },
            Action::MediaEndpoint {
                private: a("192.168.1.20:4001")
            }
        ]
    );
    assert!(w
        .sent_by_peer(&answer("o1", "200 OK", 30000, "198.51.100.20"), 0)
        .is_empty());

    let mut w = World::new(MediaPolicy {
        alg: true,
        any_source: true,
        ..ALG
    });
    let acts = w.sent_by_phone(&invite("o2", 4000), 0);
    assert!(acts.contains(&Action::Pinhole {
        remote: None,
        public_port: 4000,
        private: a("192.168.1.20:4000")
    }));
}

#[test]
fn one_way_audio_is_flagged_and_idle_calls_expire() {
    let mut w = World::new(ALG);
    w.sent_by_phone(&invite("w1", 4000), 0);
    w.sent_by_peer(&answer("w1", "200 OK", 30000, "198.51.100.20"), 0);
    w.calls
        .update_counters(10, |p| (p == a("192.168.1.20:4000")).then_some((50, 0)));
    let call = w.calls.get(a(PHONE), "w1").unwrap();
    assert!(!call.one_way(12, 4), "not yet: only 2 s");
    assert!(call.one_way(14, 4));
    w.calls
        .update_counters(15, |p| (p == a("192.168.1.20:4000")).then_some((60, 8)));
    assert!(!w.calls.get(a(PHONE), "w1").unwrap().one_way(20, 4));
    assert!(w.calls.expire(100, 300, ALG, &mut w.pool).is_empty());
    w.calls
        .update_counters(350, |p| (p == a("192.168.1.20:4000")).then_some((900, 800)));
    assert!(
        w.calls.expire(400, 300, ALG, &mut w.pool).is_empty(),
        "media still flowing"
    );
    assert!(!w.calls.expire(650, 300, ALG, &mut w.pool).is_empty());
    assert!(w.calls.is_empty());
}

#[test]
fn media_of_another_lan_host_gets_nothing() {
    let mut w = World::new(ALG);
    let m = msg("INVITE sip:bob@198.51.100.10 SIP/2.0\nCall-ID: s1\nCSeq: 1 INVITE\nFrom: <sip:a@x>;tag=a\nTo: <sip:b@y>\n", &sdp("192.168.1.21", 4000));
    assert!(w.sent_by_phone(&m, 0).is_empty());
    assert!(w
        .sent_by_peer(&answer("s1", "200 OK", 30000, "198.51.100.20"), 1)
        .is_empty());
    assert!(w.pool.is_empty());
}

#[test]
fn an_invite_flood_cannot_grow_the_state_without_bound() {
    let mut w = World::new(MediaPolicy {
        alg: false,
        any_source: false,
        advertised: None,
        maps_mark_media: true,
    });
    for i in 0..(MAX_CALLS + 10) {
        w.sent_by_phone(&invite(&format!("flood-{i}"), 4000), i as u64);
    }
    assert_eq!(w.calls.len(), MAX_CALLS);
    assert_eq!(w.calls.evicted, 10);
    assert!(
        w.calls.get(a(PHONE), "flood-0").is_none(),
        "the oldest went first"
    );
    assert!(w
        .calls
        .get(a(PHONE), &format!("flood-{}", MAX_CALLS + 9))
        .is_some());
}

#[test]
fn the_call_that_signalled_last_is_kept_and_shared_endpoints_outlive_one_call() {
    let mut w = World::new(ALG);
    for i in 0..MAX_CALLS {
        w.sent_by_phone(&invite(&format!("f-{i}"), 4000), i as u64);
    }
    // The first call signals again: the second is now the quietest and goes first.
    w.sent_by_peer(&answer("f-0", "180 Ringing", 30000, "198.51.100.20"), 9000);
    let acts = w.sent_by_phone(&invite("new", 4000), 9001);
    assert!(w.calls.get(a(PHONE), "f-0").is_some());
    assert!(w.calls.get(a(PHONE), "f-1").is_none());
    // Every call uses 192.168.1.20:4000: evicting one withdraws nothing.
    assert!(
        !acts
            .iter()
            .any(|x| matches!(x, Action::RemoveMediaSnat { .. })),
        "{acts:?}"
    );
    for i in 2..MAX_CALLS {
        w.sent_by_phone(&bye(&format!("f-{i}")), 9002);
    }
    w.sent_by_phone(&bye("f-0"), 9003);
    assert!(w.pool.owner(4000).is_some(), "still used by the last call");
    let acts = w.sent_by_phone(&bye("new"), 9004);
    assert!(acts.contains(&Action::RemoveMediaSnat {
        private: a("192.168.1.20:4000")
    }));
    assert!(w.calls.is_empty() && w.pool.is_empty());
}

#[test]
fn the_router_reflects_its_own_media_address_once_it_comes_back_from_outside() {
    // Phone A calls through an outside PBX, which relays A's (rewritten) offer to a
    // second LAN phone: the offer that comes back names the router's address and A's
    // public ports, so media from the LAN to them must be reflected to A, before that
    // INVITE reaches the second phone (its early media may follow at once).
    let mut w = World::new(ALG);
    let acts = w.sent_by_phone(&invite("h1", 4000), 0);
    assert!(!acts.iter().any(|x| matches!(x, Action::Hairpin { .. })));
    let relayed = msg(
        "INVITE sip:b@192.168.1.20 SIP/2.0\nCall-ID: h1-b\nCSeq: 1 INVITE\nFrom: <sip:a@pbx>;tag=p\nTo: <sip:b@pbx>\n",
        &sdp("198.51.100.1", 4000),
    );
    let acts = w.sent_by_peer(&relayed, 1);
    let hairpins: Vec<&Action> = acts
        .iter()
        .filter(|x| matches!(x, Action::Hairpin { .. }))
        .collect();
    assert_eq!(
        hairpins,
        [
            &Action::Hairpin {
                public_port: 4000,
                private: a("192.168.1.20:4000")
            },
            &Action::Hairpin {
                public_port: 4001,
                private: a("192.168.1.20:4001")
            }
        ]
    );
    // Known already: a retransmission adds nothing; a replay restores it.
    assert!(!w
        .sent_by_peer(&relayed, 2)
        .iter()
        .any(|x| matches!(x, Action::Hairpin { .. })));
    assert!(w.calls.replay(ALG).contains(hairpins[0]));
    // A's call ends without an answer: the reflection goes with its stream.
    let acts = w.sent_by_phone(
        b"CANCEL sip:bob@198.51.100.10 SIP/2.0\r\nCall-ID: h1\r\nCSeq: 1 CANCEL\r\n\r\n",
        3,
    );
    for public_port in [4000, 4001] {
        assert!(
            acts.contains(&Action::RemoveHairpin { public_port }),
            "{acts:?}"
        );
    }
    assert!(!w.calls.replay(ALG).contains(hairpins[0]));
    // A port the ALG did not give out is not reflected.
    let acts = w.sent_by_peer(
        &msg(
            "INVITE sip:b@192.168.1.20 SIP/2.0\nCall-ID: h2-b\nCSeq: 1 INVITE\nFrom: <sip:a@pbx>;tag=p\nTo: <sip:b@pbx>\n",
            &sdp("198.51.100.1", 6000),
        ),
        4,
    );
    assert!(!acts.iter().any(|x| matches!(x, Action::Hairpin { .. })));
}

#[test]
fn calls_whose_keys_hash_alike_are_chained_and_kept_apart() {
    // A collision of the keyed hash is forced: three calls under one hash.
    let mut calls = Calls::default();
    let call = |id: &str| Call {
        call_id: id.into(),
        phone: a(PHONE),
        peer: a(PEER),
        outbound: true,
        state: CallState::Early,
        created: 0,
        last_signal: 0,
        invite_cseq: None,
        streams: Vec::new(),
        quiet: (0, 0),
        hash: 0,
        next: None,
    };
    let slots: Vec<usize> = ["x", "y", "z"]
        .iter()
        .map(|id| calls.insert(7, call(id)))
        .collect();
    for (id, slot) in ["x", "y", "z"].iter().zip(&slots) {
        assert_eq!(calls.find(7, a(PHONE), id), Some(*slot));
    }
    assert_eq!(calls.find(7, a(PHONE), "w"), None);
    assert_eq!(calls.find(7, a("192.168.1.21:5060"), "x"), None);
    // Out of the middle of the chain, then its head, then the last.
    assert_eq!(calls.remove(slots[1]).unwrap().call_id, "y");
    assert_eq!(calls.find(7, a(PHONE), "y"), None);
    assert_eq!(calls.find(7, a(PHONE), "x"), Some(slots[0]));
    assert_eq!(calls.find(7, a(PHONE), "z"), Some(slots[2]));
    assert_eq!(calls.remove(slots[2]).unwrap().call_id, "z");
    assert_eq!(calls.find(7, a(PHONE), "x"), Some(slots[0]));
    assert_eq!(
        calls.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(),
        ["x"]
    );
    assert_eq!(calls.remove(slots[0]).unwrap().call_id, "x");
    assert!(calls.is_empty() && calls.index.is_empty());
    // Freed slots are reused.
    assert!(slots.contains(&calls.insert(9, call("v"))));
    assert_eq!(calls.len(), 1);
}

#[test]
fn status_and_replay_list_calls_in_key_order() {
    let mut w = World::new(ALG);
    for (i, id) in ["c", "a", "b"].iter().enumerate() {
        w.sent_by_phone(&invite(id, 4000 + 2 * i as u16), i as u64);
    }
    let ids: Vec<&str> = w.calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let first_snat = w.calls.replay(ALG).into_iter().find_map(|x| match x {
        Action::MediaSnat { private, .. } => Some(private),
        _ => None,
    });
    assert_eq!(
        first_snat,
        Some(a("192.168.1.20:4002")),
        "call a's stream first"
    );
}

/// The kernel's media sets and maps as the actions leave them: (set, key) → data.
#[derive(Debug, Default, PartialEq, Eq)]
struct Datapath(BTreeMap<(&'static str, SocketAddrV4), Option<SocketAddrV4>>);

impl Datapath {
    fn apply(&mut self, actions: &[Action]) {
        let any = Ipv4Addr::UNSPECIFIED;
        for x in actions {
            let (key, data) = match *x {
                Action::MediaEndpoint { private } => (("endpoints", private), Some(None)),
                Action::RemoveMediaEndpoint { private } => (("endpoints", private), None),
                Action::MediaSnat {
                    private,
                    public_port,
                } => (
                    ("snat", private),
                    Some(Some(SocketAddrV4::new(any, public_port))),
                ),
                Action::RemoveMediaSnat { private } => (("snat", private), None),
                Action::Pinhole {
                    remote,
                    public_port,
                    private,
                } => (
                    (
                        "dnat",
                        SocketAddrV4::new(remote.unwrap_or(any), public_port),
                    ),
                    Some(Some(private)),
                ),
                Action::RemovePinhole {
                    remote,
                    public_port,
                } => (
                    (
                        "dnat",
                        SocketAddrV4::new(remote.unwrap_or(any), public_port),
                    ),
                    None,
                ),
                Action::Hairpin {
                    public_port,
                    private,
                } => (
                    ("hairpin", SocketAddrV4::new(any, public_port)),
                    Some(Some(private)),
                ),
                Action::RemoveHairpin { public_port } => {
                    (("hairpin", SocketAddrV4::new(any, public_port)), None)
                }
                _ => continue,
            };
            match data {
                Some(d) => self.0.insert(key, d),
                None => self.0.remove(&key),
            };
        }
    }

    fn count(&self, set: &str) -> usize {
        self.0.keys().filter(|(s, _)| *s == set).count()
    }
}

#[test]
fn the_media_sets_always_hold_what_the_calls_need_with_either_kernel_form() {
    // Every policy: the sets the actions build step by step are exactly what a replay
    // of the calls builds from scratch (a reload), and nothing is left once the calls
    // are gone. Only an older kernel's form (or the ALG off) uses the endpoint set.
    for alg in [true, false] {
        for maps_mark_media in [true, false] {
            let policy = MediaPolicy {
                alg,
                maps_mark_media,
                ..ALG
            };
            let mut w = World::new(policy);
            let mut dp = Datapath::default();
            let check = |w: &World, dp: &Datapath, step: &str| {
                let mut fresh = Datapath::default();
                fresh.apply(&w.calls.replay(policy));
                assert_eq!(dp, &fresh, "{step} with {policy:?}");
            };
            let step = |w: &mut World, dp: &mut Datapath, acts: Vec<Action>, name: &str| {
                dp.apply(&acts);
                check(w, dp, name);
            };
            let acts = w.sent_by_phone(&invite("k1", 4000), 0);
            step(&mut w, &mut dp, acts, "offer");
            let acts = w.sent_by_peer(&answer("k1", "200 OK", 30000, "198.51.100.20"), 1);
            step(&mut w, &mut dp, acts, "answer");
            let endpoints = if !alg || !maps_mark_media { 2 } else { 0 };
            assert_eq!(dp.count("endpoints"), endpoints, "{policy:?}");
            assert_eq!(dp.count("snat"), if alg { 2 } else { 0 });
            assert_eq!(dp.count("dnat"), if alg { 2 } else { 0 });
            // A second call on the same media endpoint, a re-INVITE moving the first.
            let acts = w.sent_by_phone(&invite("k2", 4000), 2);
            step(&mut w, &mut dp, acts, "second call");
            let reinvite = msg("INVITE sip:bob@198.51.100.10 SIP/2.0\nCall-ID: k1\nCSeq: 2 INVITE\nFrom: <sip:a@x>;tag=a\nTo: <sip:b@y>;tag=b\n", &sdp("192.168.1.20", 4010));
            let acts = w.sent_by_phone(&reinvite, 3);
            step(&mut w, &mut dp, acts, "re-INVITE");
            assert!(
                dp.0.contains_key(&(
                    if endpoints > 0 { "endpoints" } else { "snat" },
                    a("192.168.1.20:4000")
                )),
                "still k2's: {dp:?}"
            );
            // The hairpin reflection of the router's own address coming back.
            let relayed = msg(
                "INVITE sip:b@192.168.1.20 SIP/2.0\nCall-ID: k3\nCSeq: 1 INVITE\nFrom: <sip:a@pbx>;tag=p\nTo: <sip:b@pbx>\n",
                &sdp("198.51.100.1", 4010),
            );
            let acts = w.sent_by_peer(&relayed, 4);
            step(&mut w, &mut dp, acts, "hairpin");
            for id in ["k1", "k2"] {
                let acts = w.sent_by_phone(&bye(id), 5);
                step(&mut w, &mut dp, acts, id);
            }
            let acts = w.calls.expire(1000, 300, policy, &mut w.pool);
            step(&mut w, &mut dp, acts, "expiry");
            assert!(dp.0.is_empty(), "{policy:?}: {dp:?}");
            assert!(w.calls.is_empty() && w.pool.is_empty());
        }
    }
}
