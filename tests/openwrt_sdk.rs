//! The OpenWrt SDK build of openwrt/Makefile and luci-app/Makefile, held against what
//! the SDK really does (read in openwrt/openwrt, openwrt/luci and openwrt/packages):
//!
//! - `scripts/feeds` (install_generic) links a feed package as
//!   `package/feeds/<feed>/<directory name>` (`ln -sf ../../../$path`), and
//!   `include/subdir.mk` names the make targets after that path
//!   (`package/feeds/<feed>/<dir>/compile`, alias `package/<dir>/compile`).
//! - Make runs in the link's real directory: `CURDIR` is this repository's
//!   `luci-app/`, so relative includes resolve from there.
//! - `luci.mk` (openwrt/luci): `LUCI_NAME?=$(notdir ${CURDIR})`,
//!   `PKG_NAME?=$(LUCI_NAME)`; out-of-tree apps include `$(TOPDIR)/feeds/luci/luci.mk`.
//! - `include/package.mk`: `STAMP_PREPARED` carries an md5 of `${CURDIR}` and
//!   `$(PKG_FILE_DEPENDS)` (find_md5): sources elsewhere must be listed there.
//! - `lang/rust/rust-package.mk` (openwrt/packages) is included from
//!   `$(TOPDIR)/feeds/packages/lang/rust/` and needs `PKG_BUILD_DEPENDS:=rust/host`.
//! - firewall4's Makefile depends on `+nftables-json`; nftables' two variants both
//!   provide `nftables`, and `nftables-nojson` (the default variant) conflicts with
//!   `nftables-json`.
//!
//! The Makefiles are run with GNU make against a small stand-in SDK written by the
//! test (rules.mk, include/package.mk, the rust and luci includes reduced to the
//! variables above), through a `package/feeds/sipalg/<dir>` symlink as scripts/feeds
//! makes it. No upstream file is copied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Sdk(PathBuf);

impl Drop for Sdk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A stand-in SDK whose package.mk prints the variables of the package being built.
fn sdk(tag: &str) -> Sdk {
    let dir = std::env::temp_dir().join(format!("sipalg-sdk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(
        &dir.join("rules.mk"),
        "INCLUDE_DIR:=$(TOPDIR)/include\nBUILD_DIR:=$(TOPDIR)/build_dir\n",
    );
    // BuildPackage evaluates Package/<name> like package.mk does and prints the fields.
    write(
        &dir.join("include/package.mk"),
        r#"PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
define BuildPackage
  $(eval $(Package/$(1)))
  $(info PACKAGE=$(1))
  $(info PKG_NAME=$(PKG_NAME))
  $(info PKG_VERSION=$(PKG_VERSION))
  $(info PKG_RELEASE=$(PKG_RELEASE))
  $(info PKG_FILE_DEPENDS=$(PKG_FILE_DEPENDS))
  $(info PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS))
  $(info DEPENDS=$(DEPENDS))
  $(info PKGARCH=$(PKGARCH))
  $(info CONFFILES=$(strip $(Package/$(1)/conffiles)))
  $(info USERID=$(USERID))
  $(info PKG_LICENSE=$(PKG_LICENSE))
  $(info PKG_LICENSE_FILES=$(PKG_LICENSE_FILES))
endef
all:
"#,
    );
    write(
        &dir.join("feeds/packages/lang/rust/rust-package.mk"),
        "RUST_ARCH_DEPENDS:=@(x86_64)\n",
    );
    // luci.mk's naming and its own BuildPackage call (reduced).
    write(
        &dir.join("feeds/luci/luci.mk"),
        r#"LUCI_NAME?=$(notdir ${CURDIR})
PKG_NAME?=$(LUCI_NAME)
PKG_RELEASE?=1
include $(INCLUDE_DIR)/package.mk
define Package/$(PKG_NAME)
  DEPENDS:=$(LUCI_DEPENDS)
  PKGARCH:=$(LUCI_PKGARCH)
endef
$(eval $(call BuildPackage,$(PKG_NAME)))
"#,
    );
    // What `./scripts/feeds install` leaves: package/feeds/sipalg/<dir> -> the repository.
    let feed = dir.join("package/feeds/sipalg");
    std::fs::create_dir_all(&feed).unwrap();
    for d in ["openwrt", "luci-app"] {
        std::os::unix::fs::symlink(root().join(d), feed.join(d)).unwrap();
    }
    Sdk(dir)
}

/// `make -C package/feeds/sipalg/<dir>` as the SDK runs it; the printed fields.
fn dump(sdk: &Sdk, dir: &str) -> std::collections::BTreeMap<String, String> {
    let out = Command::new("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(sdk.0.join("package/feeds/sipalg").join(dir))
        .arg(format!("TOPDIR={}", sdk.0.display()))
        .output()
        .expect("GNU make is needed (apt-get install make)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "make in package/feeds/sipalg/{dir} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn cargo_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[test]
fn sipalg_makefile_in_the_sdk() {
    let sdk = sdk("sipalg");
    let f = dump(&sdk, "openwrt");
    assert_eq!(f["PACKAGE"], "sipalg");
    assert_eq!(f["PKG_NAME"], "sipalg");
    assert_eq!(
        f["PKG_VERSION"],
        cargo_version(),
        "the version is Cargo.toml's"
    );
    assert_eq!(f["PKG_BUILD_DEPENDS"], "rust/host");
    assert_eq!(f["CONFFILES"], "/etc/config/sipalg");
    let deps: Vec<&str> = f["DEPENDS"].split_whitespace().collect();
    for d in [
        "@(x86_64)",
        "+kmod-nft-queue",
        "+kmod-nfnetlink-queue",
        "+kmod-nft-core",
        "+kmod-nf-conntrack-netlink",
        "+kmod-nft-nat",
        // the daemon and the maintainer scripts run nft; the variant fw4 depends on
        "+nftables-json",
        // the TCP relay: tproxy, its fib match, and the policy route
        "+kmod-nft-tproxy",
        "+kmod-nft-fib",
        "+ip",
        // procd applies user and capabilities only through ujail
        "+procd-ujail",
    ] {
        assert!(deps.contains(&d), "DEPENDS lacks {d}: {deps:?}");
    }
    // ip-tiny and ip-full both PROVIDES:=ip (openwrt/openwrt
    // package/network/utils/iproute2/Makefile): +ip takes either, as feed packages do.
    assert!(
        !deps.contains(&"+ip-tiny") && !deps.contains(&"+ip-full"),
        "{deps:?}"
    );
    assert_eq!(f["USERID"], "sipalg=5060:sipalg=5060");
    assert!(
        !deps.contains(&"+nftables-nojson") && !deps.contains(&"+nftables"),
        "nftables-nojson (the default provider of nftables) conflicts with fw4's nftables-json: {deps:?}"
    );
    // Everything Build/Prepare copies from outside openwrt/ is tracked for rebuilds.
    let tracked: Vec<PathBuf> = f["PKG_FILE_DEPENDS"]
        .split_whitespace()
        .map(|p| PathBuf::from(p.trim_end_matches('/')))
        .collect();
    let real = |p: &Path| std::fs::canonicalize(p).unwrap();
    let tracked: Vec<PathBuf> = tracked.iter().map(|p| real(p)).collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "files", "bench"] {
        let p = real(&root().join(needed));
        assert!(
            tracked.contains(&p),
            "PKG_FILE_DEPENDS lacks {needed}: {tracked:?}"
        );
    }
}

#[test]
fn luci_makefile_in_the_sdk() {
    let sdk = sdk("luci");
    let f = dump(&sdk, "luci-app");
    assert_eq!(
        f["PKG_NAME"], "luci-app-sipalg",
        "luci.mk would name the package after the directory"
    );
    assert_eq!(f["PACKAGE"], "luci-app-sipalg");
    assert_eq!(
        f["PKG_VERSION"],
        cargo_version(),
        "one version for both packages, Cargo.toml's"
    );
    assert_eq!(f["PKGARCH"], "all");
    let deps: Vec<&str> = f["DEPENDS"].split_whitespace().collect();
    for d in ["+luci-base", "+sipalg"] {
        assert!(deps.contains(&d), "DEPENDS lacks {d}: {deps:?}");
    }
    let text = std::fs::read_to_string(root().join("luci-app/Makefile")).unwrap();
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("PKG_VERSION:=")
                && l[13..].starts_with(|c: char| c.is_ascii_digit())),
        "luci-app/Makefile must not hard-code the version"
    );
}

/// apk (OpenWrt 25.12+) takes versions like 1.2.3, 1.2.3_rc1 (`PKG_VERSION-rPKG_RELEASE`);
/// Cargo's pre-release form 1.2.3-rc1 is not one.
#[test]
fn the_version_is_one_apk_accepts() {
    let v = cargo_version();
    let (nums, suffix) = v.split_once('_').unwrap_or((v, ""));
    assert!(
        nums.split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "version {v}: apk needs digits and dots (suffixes as _rc1, _beta2)"
    );
    assert!(
        suffix.is_empty()
            || ["alpha", "beta", "pre", "rc", "p"].iter().any(|s| suffix
                .strip_prefix(s)
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))),
        "version {v}: unknown apk suffix"
    );
}

/// The README's SDK steps are the ones above, for a fresh SDK, with opkg and apk.
#[test]
fn readme_sdk_steps_are_right() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Install on a router")
        .nth(1)
        .expect("README has an 'Install on a router' section");
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    for needed in [
        "src-link sipalg ",
        "./scripts/feeds update -a",
        "./scripts/feeds install sipalg luci-app-sipalg",
        "make defconfig",
        "make package/feeds/sipalg/openwrt/compile package/feeds/sipalg/luci-app/compile",
        "opkg install",
        "apk add --allow-untrusted",
    ] {
        assert!(
            section.contains(needed),
            "README's install section lacks `{needed}`"
        );
    }
    for wrong in ["package/sipalg/compile", "package/luci-app-sipalg/compile"] {
        assert!(
            !section.contains(wrong),
            "README names a make target the SDK does not have: {wrong}"
        );
    }
    // The targets name directories that hold the package Makefiles.
    for dir in ["openwrt", "luci-app"] {
        let mk = std::fs::read_to_string(root().join(dir).join("Makefile")).unwrap();
        assert!(
            mk.contains("call BuildPackage"),
            "{dir}/Makefile lacks the 'call BuildPackage' signature include/scan.mk greps for"
        );
    }
}

// ---------------------------------------------------------------------------------
// Every kernel feature the package uses, mapped to the OpenWrt package providing it.
//
// Sources (openwrt/openwrt, read through the index; commit not recorded there):
// - include/netfilter.mk: which module each kernel option builds, per variable:
//   NFT_CORE = nf_tables, nf_tables_set, nft_counter, nft_ct, nft_hash, nft_limit,
//   nft_log, nft_meta, nft_numgen, nft_objref, nft_quota, nft_redir, nft_reject*
//   (payload, cmp, bitwise, immediate, lookup, dynset, range and the set backends are
//   part of nf_tables/nf_tables_set); NFT_NAT = nft_nat, nft_chain_nat, nft_masq;
//   NFT_FIB = nft_fib, nft_fib_inet, nft_fib_ipv4, nft_fib_ipv6; NFT_QUEUE = nft_queue;
//   NFT_TPROXY = nft_tproxy; NFT_SOCKET = nft_socket; NFT_COMPAT = nft_compat;
//   IPT_CORE includes xt_multiport; IPT_NFQUEUE = xt_NFQUEUE;
//   NFNETLINK_QUEUE = nfnetlink_queue.
// - package/kernel/linux/modules/netfilter.mk: the kmod of each variable:
//   kmod-nft-core ($(NFT_CORE-m)), kmod-nft-nat, kmod-nft-fib, kmod-nft-queue
//   (+kmod-nfnetlink-queue), kmod-nft-tproxy, kmod-nft-socket, kmod-nft-compat,
//   kmod-nft-offload (nf_flow_table_inet, nft_flow_offload), kmod-ipt-core,
//   kmod-ipt-nfqueue, kmod-nf-conntrack-netlink (nf_conntrack_netlink, ctnetlink),
//   kmod-nfnetlink-queue; and kmod-nfnetlink-cttimeout's note that
//   CONFIG_NF_CONNTRACK_TIMEOUT (which `ct timeout` objects need) is "only enabled for
//   non-small flash devices": a kernel option, not a package, so sipalgd probes it
//   (src/daemon/capabilities.rs) and runs without it.
//
// The nft text is read word by word: every word must be a known expression (mapped to
// its package), one of that expression's selectors, a value of the selector just read,
// an operator, or a literal. Anything else fails the test: a new expression must be
// mapped here before the package can ship it.
// ---------------------------------------------------------------------------------

/// What a word of the ruleset needs: kmods (and kernel options the daemon probes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Kmod(&'static str),
    /// A kernel configuration option without a package of its own.
    KernelOption(&'static str),
}

use Need::{KernelOption, Kmod};

/// An expression or statement: its selector groups (a selector is accepted in its
/// group or a later one than the last selector read), the values some selectors take
/// as bare words, and what it needs.
struct Head {
    needs: &'static [Need],
    groups: &'static [&'static [&'static str]],
    values: &'static [(&'static str, &'static [&'static str])],
    /// Takes the next word whatever it is (jump/goto take a chain name).
    takes_name: bool,
}

const CORE: &[Need] = &[Kmod("kmod-nft-core")];
const fn head(
    needs: &'static [Need],
    groups: &'static [&'static [&'static str]],
    values: &'static [(&'static str, &'static [&'static str])],
) -> Head {
    Head {
        needs,
        groups,
        values,
        takes_name: false,
    }
}

const PROTOCOLS: &[&str] = &["udp", "tcp", "icmp", "icmpv6", "sctp", "udplite"];

fn heads() -> BTreeMap<&'static str, Head> {
    let payload_l4: &[&[&str]] = &[&["sport", "dport", "flags", "length", "checksum"]];
    BTreeMap::from([
        // nft_meta (NFT_CORE); iifname & co. are meta keys written without `meta`.
        (
            "meta",
            head(
                CORE,
                &[&[
                    "nfproto", "l4proto", "mark", "iifname", "oifname", "iif", "oif", "protocol",
                    "length", "priority", "pkttype", "skuid", "skgid",
                ]],
                &[
                    ("nfproto", &["ipv4", "ipv6"]),
                    ("l4proto", PROTOCOLS),
                    ("pkttype", &["host", "broadcast", "multicast", "other"]),
                ],
            ),
        ),
        ("iifname", head(CORE, &[], &[])),
        ("oifname", head(CORE, &[], &[])),
        ("iif", head(CORE, &[], &[])),
        ("oif", head(CORE, &[], &[])),
        ("mark", head(CORE, &[], &[])),
        // payload (nf_tables)
        (
            "ip",
            head(
                CORE,
                &[&[
                    "saddr", "daddr", "dscp", "protocol", "ttl", "length", "version", "id", "ecn",
                ]],
                &[("protocol", PROTOCOLS)],
            ),
        ),
        (
            "ip6",
            head(
                CORE,
                &[&["saddr", "daddr", "dscp", "nexthdr", "hoplimit"]],
                &[("nexthdr", PROTOCOLS)],
            ),
        ),
        ("udp", head(CORE, payload_l4, &[])),
        ("tcp", head(CORE, payload_l4, &[])),
        ("th", head(CORE, payload_l4, &[])),
        // nft_ct (NFT_CORE); `ct timeout set` refers to a ct timeout object (nft_objref)
        // that needs CONFIG_NF_CONNTRACK_TIMEOUT.
        (
            "ct",
            head(
                CORE,
                &[
                    &["original", "reply"],
                    &[
                        "mark",
                        "state",
                        "status",
                        "direction",
                        "expiration",
                        "helper",
                        "l3proto",
                        "protocol",
                        "zone",
                        "saddr",
                        "daddr",
                        "proto-src",
                        "proto-dst",
                        "bytes",
                        "packets",
                        "id",
                        "label",
                    ],
                ],
                &[
                    (
                        "state",
                        &["new", "established", "related", "invalid", "untracked"],
                    ),
                    (
                        "status",
                        &[
                            "expected",
                            "seen-reply",
                            "assured",
                            "confirmed",
                            "snat",
                            "dnat",
                            "dying",
                        ],
                    ),
                    ("direction", &["original", "reply"]),
                ],
            ),
        ),
        (
            "ct timeout",
            head(
                &[
                    Kmod("kmod-nft-core"),
                    KernelOption("CONFIG_NF_CONNTRACK_TIMEOUT"),
                ],
                &[],
                &[],
            ),
        ),
        // nft_fib_inet + nft_fib_ipv4 (NFT_FIB)
        (
            "fib",
            head(
                &[Kmod("kmod-nft-fib")],
                &[
                    &["saddr", "daddr", "mark", "iif", "oif"],
                    &["type", "oifname", "oif"],
                ],
                &[(
                    "type",
                    &[
                        "unspec",
                        "unicast",
                        "local",
                        "broadcast",
                        "anycast",
                        "multicast",
                        "blackhole",
                        "unreachable",
                        "prohibit",
                    ],
                )],
            ),
        ),
        // nft_queue (NFT_QUEUE), and nfnetlink_queue for the packets it queues
        (
            "queue",
            head(
                &[Kmod("kmod-nft-queue"), Kmod("kmod-nfnetlink-queue")],
                &[&["num", "to", "bypass", "fanout", "flags"]],
                &[("flags", &["bypass", "fanout"])],
            ),
        ),
        // nft_nat (NFT_NAT); a nat chain needs nft_chain_nat, same kmod
        (
            "dnat",
            head(&[Kmod("kmod-nft-nat")], &[&["ip", "ip6"], &["to"]], &[]),
        ),
        (
            "snat",
            head(&[Kmod("kmod-nft-nat")], &[&["ip", "ip6"], &["to"]], &[]),
        ),
        ("masquerade", head(&[Kmod("kmod-nft-nat")], &[], &[])),
        (
            "redirect",
            head(
                &[Kmod("kmod-nft-core"), Kmod("kmod-nft-nat")],
                &[&["to"]],
                &[],
            ),
        ),
        // nft_tproxy (NFT_TPROXY)
        (
            "tproxy",
            head(&[Kmod("kmod-nft-tproxy")], &[&["ip", "ip6"], &["to"]], &[]),
        ),
        // nft_socket (NFT_SOCKET)
        (
            "socket",
            head(
                &[Kmod("kmod-nft-socket")],
                &[&["transparent", "mark", "wildcard"]],
                &[],
            ),
        ),
        // nft_flow_offload (kmod-nft-offload)
        (
            "flow",
            head(&[Kmod("kmod-nft-offload")], &[&["add", "offload"]], &[]),
        ),
        // statements of NFT_CORE
        ("counter", head(CORE, &[&["packets", "bytes"]], &[])),
        ("limit", head(CORE, &[&["rate", "over", "burst"]], &[])),
        ("log", head(CORE, &[&["prefix", "level", "group"]], &[])),
        ("reject", head(CORE, &[&["with"]], &[])),
        ("notrack", head(CORE, &[], &[])),
        ("comment", head(CORE, &[], &[])),
        // verdicts
        ("accept", head(CORE, &[], &[])),
        ("drop", head(CORE, &[], &[])),
        ("return", head(CORE, &[], &[])),
        ("continue", head(CORE, &[], &[])),
        (
            "jump",
            Head {
                takes_name: true,
                ..head(CORE, &[], &[])
            },
        ),
        (
            "goto",
            Head {
                takes_name: true,
                ..head(CORE, &[], &[])
            },
        ),
    ])
}

const OPERATORS: &[&str] = &[
    "set", "map", "vmap", ".", "==", "!=", "&", "|", "^", "<", ">", "<=", ">=", "and", "or", "xor",
    "lshift", "rshift", "-", "+",
];

/// Splits a line into words, keeping "quoted strings" and { ... } groups whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted) = (0usize, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c)
            }
            '{' if !quoted => {
                depth += 1;
                cur.push(c)
            }
            '}' if !quoted => {
                depth = depth.saturating_sub(1);
                cur.push(c)
            }
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A literal: a number, address, quoted string, set reference, anonymous set, variable.
fn literal(w: &str) -> bool {
    w.starts_with(['"', '@', '{', '$'])
        || w.starts_with(|c: char| c.is_ascii_digit())
        || w.strip_prefix('-')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// What one rule (a chain's statement line) needs, or the word that is not mapped.
fn rule_needs(line: &str, heads: &BTreeMap<&str, Head>) -> Result<Vec<Need>, String> {
    let mut needs = Vec::new();
    let ws = words(line.trim().trim_end_matches(';'));
    let mut cur: Option<(&str, usize)> = None; // head, group reached
    let mut last_selector: Option<&str> = None;
    let mut take_name = false;
    let mut i = 0;
    while i < ws.len() {
        let w = ws[i].as_str();
        i += 1;
        if take_name {
            take_name = false;
            continue;
        }
        // `ct timeout set "name"`: the ct timeout object reference.
        if cur.is_some_and(|(h, _)| h == "ct") && w == "timeout" {
            needs.extend_from_slice(heads["ct timeout"].needs);
            cur = Some(("ct", 1));
            last_selector = Some("timeout");
            continue;
        }
        if let Some((h, g)) = cur {
            let head = &heads[h];
            if let Some(gi) = head.groups.iter().position(|grp| grp.contains(&w)) {
                if gi >= g {
                    cur = Some((h, gi));
                    last_selector = Some(w);
                    continue;
                }
            }
            if let Some(sel) = last_selector {
                if head
                    .values
                    .iter()
                    .any(|(s, vals)| *s == sel && vals.contains(&w))
                {
                    continue;
                }
            }
        }
        if OPERATORS.contains(&w) || literal(w) {
            continue;
        }
        if let Some(head) = heads.get(w) {
            needs.extend_from_slice(head.needs);
            cur = Some((heads.get_key_value(w).unwrap().0, 0));
            last_selector = None;
            take_name = head.takes_name;
            continue;
        }
        return Err(format!(
            "'{w}' (word {i} of: {line}) is not a mapped nft expression, selector or value"
        ));
    }
    Ok(needs)
}

/// What an nft script needs: table, chain types, sets/maps, objects, rules.
fn nft_needs(text: &str, heads: &BTreeMap<&str, Head>) -> Result<BTreeSet<Need>, String> {
    let mut needs = BTreeSet::from([Kmod("kmod-nft-core")]);
    // The kind of each open block, innermost last.
    let mut blocks: Vec<&str> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        let first = line.split_whitespace().next().unwrap();
        let kind = match first {
            "table" | "delete" => "table",
            "chain" => "chain",
            "map" | "set" => "set",
            "flowtable" => "flowtable",
            "ct" if line.starts_with("ct timeout ") && opens > 0 => "ct timeout",
            "ct" if line.starts_with("ct helper ") && opens > 0 => "ct helper",
            "insert" | "add" if line.contains(" rule ") => "rule command",
            "}" => "}",
            _ => "",
        };
        let inside = blocks.last().copied();
        match (kind, inside) {
            ("table", _) | ("}", _) => {}
            ("chain", _) => {}
            ("set", _) => {
                for flag in line
                    .split("flags ")
                    .skip(1)
                    .flat_map(|f| f.split([';', '}']).next().unwrap().split(','))
                {
                    let flag = flag.trim();
                    if !["timeout", "interval", "constant", "dynamic"].contains(&flag) {
                        return Err(format!("set flag '{flag}' not mapped: {line}"));
                    }
                }
            }
            ("ct timeout", _) => {
                needs.extend(heads["ct timeout"].needs.iter().cloned());
            }
            ("ct helper", _) => {
                return Err(format!("ct helper objects are not mapped yet: {line}"))
            }
            ("flowtable", _) => {
                needs.insert(Kmod("kmod-nft-offload"));
            }
            ("rule command", _) => {
                // insert|add rule FAMILY TABLE CHAIN STATEMENTS
                let stmt: Vec<&str> = line.split_whitespace().skip(5).collect();
                needs.extend(rule_needs(&stmt.join(" "), heads)?);
            }
            (_, Some("set")) => {
                // type / flags / elements lines of a multi-line set or map
                if first == "flags" {
                    nft_needs(&format!("set x {{ {line} }}"), heads)?;
                } else if !["type", "typeof", "elements", "size", "timeout", "policy"]
                    .contains(&first)
                {
                    return Err(format!("set/map line not understood: {line}"));
                }
            }
            (_, Some("chain")) if first == "type" => {
                let t = line.split_whitespace().nth(1).unwrap_or("");
                match t {
                    "filter" | "route" => {}
                    "nat" => {
                        needs.insert(Kmod("kmod-nft-nat"));
                    }
                    other => return Err(format!("chain type '{other}' not mapped: {line}")),
                }
            }
            (_, Some("chain")) | (_, None) => {
                // a rule (None: a file included inside fw4's chain)
                needs.extend(rule_needs(line, heads)?);
            }
            (_, Some(other)) => return Err(format!("line in {other} not understood: {line}")),
        }
        for _ in 0..opens {
            blocks.push(if kind.is_empty() || kind == "}" {
                "literal"
            } else {
                kind
            });
        }
        for _ in 0..closes {
            blocks.pop();
        }
    }
    Ok(needs)
}

/// What the iptables-nft fallback's rules need: iptables-nft turns -o/-i/-p into
/// native nft expressions, and runs each -m match / -j target through nft_compat
/// (kmod-nft-compat) with the xt module and iptables' userspace extension.
fn iptables_needs(rules: &[&str]) -> Result<BTreeSet<&'static str>, String> {
    let mut needs = BTreeSet::from(["iptables-nft", "kmod-nft-compat"]);
    for rule in rules {
        let ws: Vec<&str> = rule.split_whitespace().collect();
        let mut i = 0;
        while i < ws.len() {
            match ws[i] {
                "-A" | "-I" | "-o" | "-i" | "-p" | "--dports" | "--sports" | "--queue-num" => {
                    i += 2
                }
                "--queue-bypass" => i += 1,
                "-m" => {
                    match ws.get(i + 1) {
                        // xt_multiport: IPT_CORE (kernel and userland)
                        Some(&"multiport") => needs.insert("kmod-ipt-core"),
                        other => return Err(format!("match {other:?} not mapped: {rule}")),
                    };
                    i += 2;
                }
                "-j" => {
                    match ws.get(i + 1) {
                        // xt_NFQUEUE: IPT_NFQUEUE; libxt_NFQUEUE.so: iptables-mod-nfqueue
                        Some(&"NFQUEUE") => {
                            needs.insert("kmod-ipt-nfqueue");
                            needs.insert("iptables-mod-nfqueue");
                            needs.insert("kmod-nfnetlink-queue");
                        }
                        other => return Err(format!("target {other:?} not mapped: {rule}")),
                    }
                    i += 2;
                }
                other => return Err(format!("iptables word '{other}' not mapped: {rule}")),
            }
        }
    }
    Ok(needs)
}

/// `sipalgd rules --backend BACKEND` for a config with these main options (WAN `lo`,
/// which has an address: every rule that needs one is printed).
fn rules_output(main: &str, extra: &str, backend: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "sipalg-rules-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sipalg"),
        format!("config sipalg 'main'\n\toption wan_device 'lo'\n{main}\n{extra}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipalgd"))
        .args(["rules", "--backend", backend, "--config-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "sipalgd rules: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

static NEXT_DIR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Every configuration that changes the ruleset: ALG off and on, TCP relay on and off,
/// media from the SDP address or any, trusted sources, the kernel helper guard on and
/// off, QoS (DSCP) on and off; timeouts (ct timeout) are always in `rules`.
const CONFIGS: &[(&str, &str)] = &[
    ("\toption alg '0'", ""),
    (
        "\toption alg '1'\n\toption tcp '1'\n\tlist trusted_source '198.51.100.30'\n\tlist port '5060'\n\tlist port '5080'",
        "",
    ),
    (
        "\toption alg '1'\n\toption tcp '0'\n\toption media_source 'any'\n\toption kernel_helper '1'",
        "config qos 'qos'\n\toption enabled '0'\n",
    ),
];

#[test]
fn every_rule_expression_has_its_kmod_in_depends() {
    let sdk = sdk("kmods");
    let f = dump(&sdk, "openwrt");
    let depends: BTreeSet<&str> = f["DEPENDS"]
        .split_whitespace()
        .map(|d| d.trim_start_matches('+'))
        .collect();
    let heads = heads();
    let mut nft = BTreeSet::new();
    let mut fallback = BTreeSet::new();
    let mut seen = String::new();
    for (main, extra) in CONFIGS {
        for backend in ["nft", "iptables-nft"] {
            let text = rules_output(main, extra, backend);
            seen.push_str(&text);
            nft.extend(nft_needs(&text, &heads).unwrap_or_else(|e| panic!("{e}")));
            if backend == "iptables-nft" {
                let xt: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("# "))
                    .filter(|l| l.starts_with("-A "))
                    .collect();
                assert!(!xt.is_empty(), "no iptables rules in:\n{text}");
                fallback.extend(iptables_needs(&xt).unwrap_or_else(|e| panic!("{e}")));
            }
        }
    }
    // What the rules output must have shown for this test to mean anything.
    for shown in [
        "queue num",
        "fib daddr",
        "tproxy ip to",
        "dnat ip to",
        "snat ip to",
        "ct timeout set",
        "ip dscp set",
        "kernel_helper_guard",
        "type nat hook",
        "ct status dnat",
    ] {
        assert!(seen.contains(shown), "no configuration printed '{shown}'");
    }
    // The fw4 include files the package installs are loaded into fw4's table.
    for rel in [
        "chain-pre/forward/30-sipalg.nft",
        "ruleset-post/30-sipalg.nft",
    ] {
        let text = std::fs::read_to_string(root().join("files/nftables.d").join(rel)).unwrap();
        nft.extend(nft_needs(&text, &heads).unwrap_or_else(|e| panic!("{rel}: {e}")));
    }
    for need in &nft {
        match need {
            Kmod(k) => assert!(
                depends.contains(k),
                "the ruleset needs {k}, which openwrt/Makefile DEPENDS lacks: {depends:?}"
            ),
            KernelOption(o) => {
                // Not a package: the daemon must probe it and do without.
                assert_eq!(*o, "CONFIG_NF_CONNTRACK_TIMEOUT");
                assert!(
                    sipalg::daemon::capabilities::CT_TIMEOUT_PROBE.contains("ct timeout"),
                    "sipalgd must probe {o}"
                );
            }
        }
    }
    assert!(
        nft.contains(&Kmod("kmod-nft-fib")),
        "the relay's rule matches fib daddr"
    );
    // The iptables-nft fallback only runs on a kernel without nft_queue, which
    // kmod-nft-queue rules out on OpenWrt: what it needs is mapped (above), and either
    // in DEPENDS or made unreachable by kmod-nft-queue.
    let missing: Vec<&&str> = fallback.iter().filter(|k| !depends.contains(**k)).collect();
    assert!(
        missing.is_empty() || depends.contains("kmod-nft-queue"),
        "the iptables-nft fallback needs {missing:?}"
    );
}

#[test]
fn the_daemons_own_netlink_and_programs_are_in_depends() {
    let sdk = sdk("own");
    let f = dump(&sdk, "openwrt");
    let depends: BTreeSet<&str> = f["DEPENDS"]
        .split_whitespace()
        .map(|d| d.trim_start_matches('+'))
        .collect();
    // Every file under the two directories, subdirectories included (netlink/nftables/).
    let mut sources = String::new();
    let mut dirs: Vec<PathBuf> = vec![root().join("src/netlink"), root().join("src/daemon")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    // nfnetlink subsystems the daemon talks to itself (include/netfilter.mk:
    // NFNETLINK_QUEUE = nfnetlink_queue; nf_conntrack_netlink is kmod-nf-conntrack-netlink).
    let mut used = BTreeSet::new();
    for part in sources.split("NFNL_SUBSYS_").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        used.insert(name);
    }
    assert!(
        used.contains("QUEUE") && used.contains("CTNETLINK"),
        "{used:?}"
    );
    for subsys in &used {
        let kmod = match subsys.as_str() {
            "QUEUE" => "kmod-nfnetlink-queue",
            "CTNETLINK" => "kmod-nf-conntrack-netlink",
            "NFTABLES" => "kmod-nft-core",
            other => panic!("nfnetlink subsystem {other} is not mapped to a kmod"),
        };
        assert!(depends.contains(kmod), "NFNL_SUBSYS_{subsys} needs {kmod}");
    }
    // Programs it runs: `Command::new("x")`, `run("x", ...)`, `run_with_stdin("x", ...)`,
    // and iptables_program() (the fallback's iptables-nft).
    let squeezed: String = sources.split_whitespace().collect();
    let mut programs = BTreeSet::new();
    for call in ["Command::new(\"", "run(\"", "run_with_stdin(\""] {
        for part in squeezed.split(call).skip(1) {
            programs.insert(part.split('"').next().unwrap().to_string());
        }
    }
    if squeezed.contains("iptables_program(") {
        programs.insert("iptables-nft".into());
    }
    assert!(
        programs.contains("nft") && programs.contains("ip"),
        "{programs:?}"
    );
    for p in &programs {
        let package = match p.as_str() {
            "nft" => "nftables-json",
            // ip-tiny and ip-full both PROVIDES:=ip
            // (package/network/utils/iproute2/Makefile)
            "ip" => "ip",
            // the fallback, unreachable with kmod-nft-queue (see above)
            "iptables-nft" => "kmod-nft-queue",
            other => panic!("sipalgd runs '{other}', which is mapped to no package"),
        };
        assert!(depends.contains(package), "'{p}' needs {package}");
    }
}

#[test]
fn the_nft_reader_refuses_what_it_does_not_know() {
    let heads = heads();
    // Mapped: each head brings its kmod.
    let n = rule_needs(
        "iifname != { \"wan\" } tcp dport { 5060 } fib daddr type != local tproxy ip to 127.0.0.1:5059 accept",
        &heads,
    )
    .unwrap();
    assert!(n.contains(&Kmod("kmod-nft-fib")) && n.contains(&Kmod("kmod-nft-tproxy")));
    let n = rule_needs("ct status dnat ct state new ct timeout set \"t\"", &heads).unwrap();
    assert!(
        !n.contains(&Kmod("kmod-nft-nat")),
        "`dnat` here is a ct status"
    );
    assert!(n.contains(&KernelOption("CONFIG_NF_CONNTRACK_TIMEOUT")));
    // Not mapped: a new expression, selector, value or chain type fails.
    for bad in [
        "osf name \"Linux\" accept",
        "ip saddr @s synproxy mss 1460",
        "ct state fancy accept",
        "meta cgroup 5 accept",
        "xfrm state spi 1",
    ] {
        assert!(rule_needs(bad, &heads).is_err(), "{bad}");
    }
    assert!(nft_needs(
        "table inet t {\n\tchain c {\n\t\ttype fancy hook input priority 0;\n\t}\n}\n",
        &heads
    )
    .is_err());
    assert!(nft_needs(
        "table inet t {\n\tset s { type ipv4_addr; flags weird; }\n}\n",
        &heads
    )
    .is_err());
    assert!(iptables_needs(&["-A SIPALG_PRE -m conntrack --ctstate NEW -j ACCEPT"]).is_err());
}

/// One licence for the project: Cargo.toml's `license`, both packages' PKG_LICENSE,
/// the LICENSE file both name in PKG_LICENSE_FILES (the feed package copies it into
/// its build directory; the LuCI app's is a link to it), and the README's reasons.
#[test]
fn the_licence_is_the_same_everywhere() {
    let sdk = sdk("licence");
    let toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let cargo = toml
        .lines()
        .find_map(|l| l.strip_prefix("license = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml [package] license");
    assert_eq!(cargo, "GPL-2.0-only");
    for dir in ["openwrt", "luci-app"] {
        let f = dump(&sdk, dir);
        assert_eq!(f["PKG_LICENSE"], cargo, "{dir}/Makefile PKG_LICENSE");
        assert_eq!(
            f["PKG_LICENSE_FILES"], "LICENSE",
            "{dir}/Makefile PKG_LICENSE_FILES"
        );
    }
    let text = std::fs::read_to_string(root().join("LICENSE")).unwrap();
    assert!(
        text.contains("GNU GENERAL PUBLIC LICENSE") && text.contains("Version 2, June 1991"),
        "LICENSE must be the GPL version 2 text"
    );
    assert_eq!(
        std::fs::read_to_string(root().join("luci-app/LICENSE")).unwrap(),
        text,
        "luci-app/LICENSE is the repository's"
    );
    let mk = std::fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    assert!(
        mk.contains("$(SIPALG_SRC)/LICENSE $(SIPALG_SRC)/src $(PKG_BUILD_DIR)/"),
        "Build/Prepare must copy LICENSE next to the sources (PKG_LICENSE_FILES is relative to PKG_BUILD_DIR)"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Licence")
        .nth(1)
        .expect("README has a Licence section");
    assert!(
        section.contains(cargo),
        "README's Licence section names {cargo}"
    );
}
