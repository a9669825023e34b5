//! Integration tests of `sipalg::netlink` against the running kernel. Each test works in
//! its own network namespaces (`sa-nl-<pid>-<n>`), entered by a thread with `setns()`;
//! the namespaces are always deleted (Drop guard, also on panic).
//!
//! Needs root, `ip netns`, `nft` and `conntrack`. Without them the tests print SKIP and
//! pass, unless `SIPALG_REQUIRE_ROOT` is set.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sipalg::netlink::conntrack::{IPPROTO_UDP, IPS_SRC_NAT};
use sipalg::netlink::nftables::Change;
use sipalg::netlink::{Conntrack, Element, Field, Key, Nft, Tuple};

static NEXT: AtomicU32 = AtomicU32::new(0);

struct Netns {
    name: String,
}

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/sbin".into(), "/usr/sbin".into()])
        .any(|d| d.join(tool).is_file())
}

/// `true` if the lab can run; otherwise prints SKIP (or panics when root is required).
fn lab_available(test: &str) -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["ip", "nft", "conntrack"].iter().all(|t| have(t));
    let why = if !root {
        "not root"
    } else if !tools {
        "ip, nft or conntrack missing"
    } else {
        let probe = Netns::new();
        if probe.is_some() {
            return true;
        }
        "ip netns add failed"
    };
    if std::env::var_os("SIPALG_REQUIRE_ROOT").is_some() {
        panic!("{test}: {why}, but SIPALG_REQUIRE_ROOT is set");
    }
    println!("SKIP {test}: {why}");
    false
}

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!(
            "sa-nl-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// Runs a command inside the namespace; panics on failure.
    fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        let out = sh(&v);
        assert!(
            out.status.success(),
            "{v:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn nft_file(&self, ruleset: &str) {
        let path = std::env::temp_dir().join(format!("{}.nft", self.name));
        std::fs::write(&path, ruleset).unwrap();
        self.exec(&["nft", "-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// Runs `f` on a thread that has entered this namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                use std::os::fd::AsRawFd;
                let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn ip(s: &str) -> Field {
    Field::Ipv4(s.parse().unwrap())
}

const RULESET: &str = "table inet t {
  map m { type ipv4_addr . inet_service : ipv4_addr . inet_service; flags timeout; }
  set s { type ipv4_addr . inet_proto . inet_service; flags timeout; }
  set p { type inet_service; flags timeout; }
  set k { type mark . inet_service; }
}
";

fn map_elem(port: u16, pub_port: u16, timeout_ms: Option<u64>) -> Element {
    Element {
        key: Key::new(&[ip("10.0.0.2"), Field::Port(port)]),
        data: Some(Key::new(&[ip("198.51.100.1"), Field::Port(pub_port)])),
        timeout_ms,
    }
}

/// The line of `nft list` output that holds the element starting with `prefix`.
fn element_text(listing: &str, prefix: &str) -> Option<String> {
    // Elements are separated by ", " or newlines inside `elements = { … }`.
    let flat = listing.replace('\n', " ");
    let start = flat.find("elements = {")? + "elements = {".len();
    let end = flat[start..].find('}')? + start;
    flat[start..end]
        .split(',')
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|e| e.starts_with(prefix))
}

/// An nft duration as `nft list` prints it (`1d2h3m4s500ms`, `2m`, `59s983ms`), in ms.
fn nft_duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// The `timeout` and `expires` of one listed element, in ms.
fn element_timer(element: &str) -> (Option<u64>, Option<u64>) {
    let word_after = |name: &str| {
        let mut words = element.split_whitespace();
        words.find(|w| *w == name)?;
        nft_duration_ms(words.next()?)
    };
    (word_after("timeout"), word_after("expires"))
}

/// Asserts an element's timeout is exactly `timeout_s` and that it expires within
/// `slack_s` seconds below it. Kernel timers run while the test reads them, and nft
/// rounds the expiry it prints (`expires 2m` right after the add, `1m59s…` a moment
/// later), so an expiry is always checked as a range, never as text.
fn assert_timer(element: &str, timeout_s: u64, slack_s: u64) {
    let (timeout, expires) = element_timer(element);
    assert_eq!(timeout, Some(timeout_s * 1000), "timeout of {element}");
    let expires = expires.unwrap_or_else(|| panic!("no expiry in {element}"));
    assert!(
        (timeout_s - slack_s) * 1000 <= expires && expires <= timeout_s * 1000,
        "expiry {expires} ms not within {slack_s} s below the {timeout_s} s timeout: {element}"
    );
}

#[test]
fn nft_durations_and_timers_are_read_as_numbers() {
    assert_eq!(nft_duration_ms("2m"), Some(120_000));
    assert_eq!(nft_duration_ms("1m59s"), Some(119_000));
    assert_eq!(nft_duration_ms("59s983ms"), Some(59_983));
    assert_eq!(nft_duration_ms("1d2h3m4s5ms"), Some(93_784_005));
    assert_eq!(nft_duration_ms("2x"), None);
    assert_eq!(nft_duration_ms("m"), None);
    let e = "10.0.0.2 . udp . 5060 timeout 2m expires 2m";
    assert_eq!(element_timer(e), (Some(120_000), Some(120_000)));
    assert_timer(e, 120, 5);
    assert_timer("10.0.0.2 . udp . 5060 timeout 2m expires 1m59s12ms", 120, 5);
    let late = std::panic::catch_unwind(|| assert_timer("k timeout 2m expires 1m50s", 120, 5));
    assert!(late.is_err(), "an expiry 10 s below the timeout is refused");
    let no_expiry = std::panic::catch_unwind(|| assert_timer("k timeout 2m", 120, 5));
    assert!(no_expiry.is_err());
}

#[test]
fn nft_elements_add_readback_refresh_delete() {
    if !lab_available("nft_elements_add_readback_refresh_delete") {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.nft_file(RULESET);
    let list_m = || ns.exec(&["nft", "list", "map", "inet", "t", "m"]);
    let list_s = || ns.exec(&["nft", "list", "set", "inet", "t", "s"]);

    let mut nft = ns.run(|| Nft::open().unwrap());
    assert!(nft.has_table("t").unwrap(), "table t is there");
    assert!(!nft.has_table("nope").unwrap(), "table nope is not");
    // The socket stays in the namespace it was opened in, whatever thread uses it.
    nft.add_elements(
        "t",
        "m",
        &[
            map_elem(5060, 40123, Some(90_000)),
            map_elem(5062, 40125, None),
        ],
    )
    .unwrap();
    let l = list_m();
    let e = element_text(&l, "10.0.0.2 . 5060").unwrap_or_else(|| panic!("{l}"));
    assert!(e.starts_with("10.0.0.2 . 5060 timeout"), "{e}");
    assert_timer(&e, 90, 5);
    assert!(e.ends_with(": 198.51.100.1 . 40123"), "{e}");
    let e = element_text(&l, "10.0.0.2 . 5062").unwrap();
    assert_eq!(e, "10.0.0.2 . 5062 : 198.51.100.1 . 40125");

    let s_key = Key::new(&[ip("10.0.0.2"), Field::Proto(17), Field::Port(5060)]);
    nft.add_elements(
        "t",
        "s",
        &[Element {
            key: s_key,
            data: None,
            timeout_ms: Some(120_000),
        }],
    )
    .unwrap();
    let e = element_text(&list_s(), "10.0.0.2 . udp . 5060").unwrap();
    assert!(e.starts_with("10.0.0.2 . udp . 5060 timeout"), "{e}");
    assert_timer(&e, 120, 5);

    // Single-field and mark keys.
    nft.add_elements(
        "t",
        "p",
        &[Element {
            key: Key::new(&[Field::Port(5060)]),
            data: None,
            timeout_ms: Some(5000),
        }],
    )
    .unwrap();
    let l = ns.exec(&["nft", "list", "set", "inet", "t", "p"]);
    let e = element_text(&l, "5060 ").unwrap_or_else(|| panic!("{l}"));
    assert_timer(&e, 5, 5);
    nft.add_elements(
        "t",
        "k",
        &[Element {
            key: Key::new(&[Field::Mark(0x10), Field::Port(80)]),
            data: None,
            timeout_ms: None,
        }],
    )
    .unwrap();
    let l = ns.exec(&["nft", "list", "set", "inet", "t", "k"]);
    assert!(element_text(&l, "0x00000010 . 80").is_some(), "{l}");

    // Re-adding the same key with the same data succeeds. From Linux 6.12 (with the
    // NFTA_SET_ELEM_EXPIRATION we send) it sets the new timeout and restarts the
    // expiry; before (measured on 6.1 in the VM stage) the element keeps both.
    nft.add_elements("t", "m", &[map_elem(5060, 40123, Some(30_000))])
        .unwrap();
    let e = element_text(&list_m(), "10.0.0.2 . 5060").unwrap();
    println!("re-add same data, timeout 90s -> 30s: {e}");
    let updates = element_timer(&e).0 == Some(30_000);
    if updates {
        // Long enough that an expiry that was not restarted is told apart by a wide
        // margin (at most 26 s left) from a restarted one (30 s less the time to list it).
        std::thread::sleep(Duration::from_millis(4000));
        nft.add_elements("t", "m", &[map_elem(5060, 40123, Some(30_000))])
            .unwrap();
        let e = element_text(&list_m(), "10.0.0.2 . 5060").unwrap();
        println!("re-add same data and timeout after 4 s: {e}");
        assert_timer(&e, 30, 3);
    } else {
        assert_timer(&e, 90, 60);
    }
    // What the daemon does to refresh, on every kernel: delete and add in one batch
    // (no packet sees the key missing) restarts the expiry with the new timeout.
    nft.apply(
        "t",
        &mut [
            Change::Delete {
                set: "m",
                key: map_elem(5060, 40123, None).key,
            },
            Change::Add {
                set: "m",
                element: map_elem(5060, 40123, Some(20_000)),
            },
        ],
    )
    .unwrap();
    let e = element_text(&list_m(), "10.0.0.2 . 5060").unwrap();
    println!("delete + add in one batch, timeout 20s: {e}");
    assert_timer(&e, 20, 5);

    // Same key, different data: the kernel refuses; replace_elements swaps it atomically.
    let err = nft
        .add_elements("t", "m", &[map_elem(5060, 40999, Some(60_000))])
        .unwrap_err();
    println!(
        "re-add with different data: {err} (errno {:?})",
        err.raw_os_error()
    );
    // Linux 6.18: EEXIST (older kernels: EBUSY, see docs/netlink.md).
    assert!(
        matches!(err.raw_os_error(), Some(libc::EEXIST) | Some(libc::EBUSY)),
        "{err}"
    );
    nft.replace_elements(
        "t",
        "m",
        &[
            map_elem(5060, 40999, Some(60_000)),
            map_elem(5064, 40127, Some(60_000)),
        ],
    )
    .unwrap();
    let l = list_m();
    let e = element_text(&l, "10.0.0.2 . 5060").unwrap();
    assert!(
        element_timer(&e).0 == Some(60_000) && e.ends_with(": 198.51.100.1 . 40999"),
        "{e}"
    );
    assert!(element_text(&l, "10.0.0.2 . 5064")
        .unwrap()
        .ends_with(": 198.51.100.1 . 40127"));

    // Delete; a missing key is NotFound, and the present keys of the batch still go.
    nft.delete_elements("t", "s", std::slice::from_ref(&s_key))
        .unwrap();
    assert!(
        element_text(&list_s(), "10.0.0.2").is_none(),
        "{}",
        list_s()
    );
    let err = nft
        .delete_elements("t", "s", std::slice::from_ref(&s_key))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let k5060 = map_elem(5060, 0, None).key;
    let k5064 = map_elem(5064, 0, None).key;
    let missing = map_elem(6000, 0, None).key;
    let err = nft
        .delete_elements("t", "m", &[k5060, missing, k5064])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let l = list_m();
    assert!(element_text(&l, "10.0.0.2 . 5060").is_none(), "{l}");
    assert!(element_text(&l, "10.0.0.2 . 5064").is_none(), "{l}");
    assert!(element_text(&l, "10.0.0.2 . 5062").is_some(), "{l}");

    // Errors carry the kernel errno: unknown set.
    let err = nft
        .add_elements("t", "nope", &[map_elem(1, 2, None)])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Wrong key length for the set: EINVAL.
    let err = nft
        .add_elements(
            "t",
            "s",
            &[Element {
                key: Key::new(&[Field::Port(1)]),
                data: None,
                timeout_ms: None,
            }],
        )
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    // The socket is still in sync after errors.
    nft.add_elements("t", "m", &[map_elem(7000, 7001, Some(1000))])
        .unwrap();

    // 1000 elements in one call (several messages in one batch).
    let many: Vec<Element> = (0..1000u16)
        .map(|i| map_elem(10000 + i, 20000 + i, Some(60_000)))
        .collect();
    nft.add_elements("t", "m", &many).unwrap();
    let l = list_m();
    assert!(element_text(&l, "10.0.0.2 . 10999").is_some());
    assert_eq!(l.matches("198.51.100.1 . 2").count(), 1000);
    let keys: Vec<Key> = many.into_iter().map(|e| e.key).collect();
    nft.delete_elements("t", "m", &keys).unwrap();
    assert_eq!(list_m().matches("198.51.100.1 . 2").count(), 0);

    // A batch that deletes a key already gone: rejected whole with DELSETELEM, applied
    // with DESTROYSETELEM where the kernel has it (from 6.3; the VM stage's 6.1 has
    // not, and there the batch stays rejected: the daemon then redoes it change by
    // change).
    let batch = |k: &Key| {
        vec![
            Change::Delete { set: "m", key: *k },
            Change::Add {
                set: "m",
                element: map_elem(7100, 7101, None),
            },
        ]
    };
    let gone = map_elem(7200, 7201, None).key;
    assert!(nft.apply("t", &mut batch(&gone)).is_err());
    assert!(element_text(&list_m(), "10.0.0.2 . 7100").is_none());
    if nft.probe_destroy("t", "m", &gone) {
        nft.apply("t", &mut batch(&gone)).unwrap();
        assert!(element_text(&list_m(), "10.0.0.2 . 7100").is_some());
    } else {
        println!("no DESTROYSETELEM in this kernel (before 6.3)");
        assert!(nft.apply("t", &mut batch(&gone)).is_err());
        assert!(element_text(&list_m(), "10.0.0.2 . 7100").is_none());
    }
}

fn sip_tuple() -> Tuple {
    Tuple {
        src: "10.0.0.2:5060".parse().unwrap(),
        dst: "198.51.100.10:5060".parse().unwrap(),
        proto: IPPROTO_UDP,
    }
}

fn reply_tuple() -> Tuple {
    Tuple {
        src: "198.51.100.10:5060".parse().unwrap(),
        dst: "203.0.113.1:40000".parse().unwrap(),
        proto: IPPROTO_UDP,
    }
}

#[test]
fn conntrack_get_update_dump_delete() {
    if !lab_available("conntrack_get_update_dump_delete") {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.exec(&["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"]);
    ns.exec(&[
        "conntrack",
        "-I",
        "-p",
        "udp",
        "-s",
        "10.0.0.2",
        "-d",
        "198.51.100.10",
        "--sport",
        "5060",
        "--dport",
        "5060",
        "--reply-src",
        "198.51.100.10",
        "--reply-dst",
        "203.0.113.1",
        "--reply-port-src",
        "5060",
        "--reply-port-dst",
        "40000",
        "-t",
        "60",
        "--status",
        "SEEN_REPLY",
        "--src-nat",
    ]);
    let mut ct = ns.run(|| Conntrack::open().unwrap());

    let e = ct
        .get_by_orig(&sip_tuple())
        .unwrap()
        .expect("entry by orig");
    println!("{e:?}");
    assert_eq!(e.orig, sip_tuple());
    assert_eq!(e.reply, reply_tuple());
    assert!(matches!(e.timeout, Some(55..=60)), "{e:?}");
    assert_eq!(e.packets_orig, Some(0));
    let r = ct
        .get_by_reply(&reply_tuple())
        .unwrap()
        .expect("entry by reply");
    assert_eq!(r.orig, sip_tuple());

    let missing = Tuple {
        dst: "198.51.100.11:5060".parse().unwrap(),
        ..sip_tuple()
    };
    assert_eq!(ct.get_by_orig(&missing).unwrap(), None);
    assert_eq!(
        ct.set_timeout(&missing, 10).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    ct.set_timeout(&sip_tuple(), 3333).unwrap();
    ct.set_mark(&sip_tuple(), 0x10).unwrap();
    let l = ns.exec(&["conntrack", "-L", "-p", "udp"]);
    println!("{l}");
    let line = l.lines().find(|l| l.contains("src=10.0.0.2")).unwrap();
    let t: u32 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((3328..=3333).contains(&t), "{line}");
    assert!(line.contains("mark=16"), "{line}");
    let e = ct.get_by_orig(&sip_tuple()).unwrap().unwrap();
    assert_eq!(e.mark, Some(0x10));

    // Dump: our entry plus many others, to exercise multi-part replies. They live 10
    // minutes, and one shell inserts them all: one `conntrack` process each takes a few
    // seconds here, minutes under emulation (the VM stage).
    ns.exec(&[
        "sh",
        "-c",
        "for p in $(seq 20000 20299); do conntrack -I -p udp -s 10.0.0.3 -d 198.51.100.10 --sport $p --dport 5060 -t 600 || exit 1; done",
    ]);
    // A TCP entry must not show up in dump_udp.
    ns.exec(&[
        "conntrack",
        "-I",
        "-p",
        "tcp",
        "-s",
        "10.0.0.4",
        "-d",
        "198.51.100.10",
        "--sport",
        "1",
        "--dport",
        "5060",
        "--state",
        "ESTABLISHED",
        "-t",
        "600",
    ]);
    let all = ct.dump_udp().unwrap();
    assert_eq!(all.len(), 301, "{}", all.len());
    assert!(all
        .iter()
        .any(|e| e.orig == sip_tuple() && e.mark == Some(0x10)));
    assert!(all.iter().all(|e| e.orig.proto == IPPROTO_UDP));

    assert!(ct.delete(&sip_tuple()).unwrap());
    assert!(!ct.delete(&sip_tuple()).unwrap());
    assert_eq!(ct.get_by_orig(&sip_tuple()).unwrap(), None);
    assert!(!ns
        .exec(&["conntrack", "-L", "-p", "udp"])
        .contains("src=10.0.0.2 "));
}

/// lan (10.0.0.2) — router (10.0.0.1 | 203.0.113.1, masquerade) — wan (203.0.113.2).
#[test]
fn conntrack_reads_real_nat_mapping() {
    if !lab_available("conntrack_reads_real_nat_mapping") {
        return;
    }
    let lan = Netns::new().unwrap();
    let rtr = Netns::new().unwrap();
    let wan = Netns::new().unwrap();
    let pid = std::process::id();
    let (l0, l1) = (format!("nl{pid}l0"), format!("nl{pid}l1"));
    let (w0, w1) = (format!("nl{pid}w0"), format!("nl{pid}w1"));
    // Veths are created inside the router namespace, so nothing is left in the host
    // namespace if the test dies: deleting the namespaces deletes them.
    rtr.exec(&[
        "ip", "link", "add", &l0, "type", "veth", "peer", "name", &l1, "netns", &lan.name,
    ]);
    rtr.exec(&[
        "ip", "link", "add", &w0, "type", "veth", "peer", "name", &w1, "netns", &wan.name,
    ]);
    rtr.exec(&["ip", "addr", "add", "10.0.0.1/24", "dev", &l0]);
    rtr.exec(&["ip", "addr", "add", "203.0.113.1/24", "dev", &w0]);
    rtr.exec(&["ip", "link", "set", &l0, "up"]);
    rtr.exec(&["ip", "link", "set", &w0, "up"]);
    rtr.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    rtr.exec(&["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"]);
    lan.exec(&["ip", "addr", "add", "10.0.0.2/24", "dev", &l1]);
    lan.exec(&["ip", "link", "set", &l1, "up"]);
    lan.exec(&["ip", "route", "add", "default", "via", "10.0.0.1"]);
    wan.exec(&["ip", "addr", "add", "203.0.113.2/24", "dev", &w1]);
    wan.exec(&["ip", "link", "set", &w1, "up"]);
    rtr.nft_file(&format!(
        "table ip nat {{\n  chain post {{\n    type nat hook postrouting priority srcnat;\n    oifname \"{w0}\" masquerade\n  }}\n}}\n"
    ));

    // The far end listens so that we can also see the reply direction counted.
    let srv = wan.run(|| UdpSocket::bind("203.0.113.2:5060").unwrap());
    srv.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let cli = lan.run(|| UdpSocket::bind("10.0.0.2:5060").unwrap());
    cli.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    cli.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", "203.0.113.2:5060")
        .unwrap();
    let mut buf = [0u8; 100];
    let (n, from) = srv.recv_from(&mut buf).unwrap();
    assert_eq!(n, 25);
    println!("wan saw the datagram from {from}");
    srv.send_to(b"SIP/2.0 200 OK\r\n\r\n", from).unwrap();
    cli.recv_from(&mut buf).unwrap();

    let mut ct = rtr.run(|| Conntrack::open().unwrap());
    let orig = Tuple {
        src: "10.0.0.2:5060".parse().unwrap(),
        dst: "203.0.113.2:5060".parse().unwrap(),
        proto: IPPROTO_UDP,
    };
    let e = ct.get_by_orig(&orig).unwrap().expect("NAT entry");
    println!("{e:?}");
    let public = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), from.port());
    assert_eq!(e.reply.src, orig.dst);
    assert_eq!(e.reply.dst, public);
    assert!(e.status & IPS_SRC_NAT != 0, "{e:?}");
    assert_eq!((e.packets_orig, e.packets_reply), (Some(1), Some(1)));
    assert_eq!(
        (e.bytes_orig, e.bytes_reply),
        (Some(20 + 8 + 25), Some(20 + 8 + 18))
    );
    let r = ct.get_by_reply(&e.reply).unwrap().unwrap();
    assert_eq!(r.orig, orig);
}

#[test]
fn measure_add_element_and_get() {
    if !lab_available("measure_add_element_and_get") {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.nft_file(RULESET);
    ns.exec(&[
        "conntrack",
        "-I",
        "-p",
        "udp",
        "-s",
        "10.0.0.2",
        "-d",
        "198.51.100.10",
        "--sport",
        "5060",
        "--dport",
        "5060",
        "--reply-src",
        "198.51.100.10",
        "--reply-dst",
        "203.0.113.1",
        "--reply-port-src",
        "5060",
        "--reply-port-dst",
        "40000",
        "-t",
        "60",
    ]);
    let (add_us, get_us, upd_us) = ns.run(|| {
        let mut nft = Nft::open().unwrap();
        let mut ct = Conntrack::open().unwrap();
        const N: u16 = 1000;
        let elems: Vec<Element> = (0..N)
            .map(|i| map_elem(10000 + i, 20000 + i, Some(60_000)))
            .collect();
        nft.add_elements("t", "m", &elems[..1]).unwrap(); // warm-up
        let t = Instant::now();
        for e in &elems {
            nft.add_elements("t", "m", std::slice::from_ref(e)).unwrap();
        }
        let add = t.elapsed().as_secs_f64() * 1e6 / N as f64;
        ct.get_by_orig(&sip_tuple()).unwrap().unwrap();
        let t = Instant::now();
        for _ in 0..N {
            ct.get_by_orig(&sip_tuple()).unwrap().unwrap();
        }
        let get = t.elapsed().as_secs_f64() * 1e6 / N as f64;
        let t = Instant::now();
        for i in 0..N {
            ct.set_timeout(&sip_tuple(), 100 + i as u32).unwrap();
        }
        let upd = t.elapsed().as_secs_f64() * 1e6 / N as f64;
        (add, get, upd)
    });
    let l = ns.exec(&["nft", "list", "map", "inet", "t", "m"]);
    assert_eq!(l.matches("198.51.100.1 . 2").count(), 1000);
    println!("MEASURE add_elements (1 element, batch + ACK): {add_us:.1} us/call over 1000");
    println!("MEASURE get_by_orig: {get_us:.1} us/call over 1000");
    println!("MEASURE set_timeout: {upd_us:.1} us/call over 1000");
}
