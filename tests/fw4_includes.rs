//! The package's fw4 include files (files/nftables.d → /usr/share/nftables.d) sit where
//! OpenWrt's fw4 really includes them, and the namespace lab (tests/lab/lab.sh) splices
//! them at the same hooks and nowhere else.
//!
//! What fw4 does, read in openwrt/firewall4 at b6e5157 (the hooks are the same since
//! includes were added in 11256ff, 2022-06, so in 23.05, 24.10 and 25.12):
//! - `root/usr/share/ucode/fw4.uc`, "Discover automatic includes": with the defaults
//!   option `auto_includes` (default 1) it globs
//!   `/usr/share/nftables.d/{ruleset-pre,ruleset-post,table-pre,table-post}/*.nft` and
//!   `/usr/share/nftables.d/{chain-pre,chain-post}/<chain>/*.nft` (any `<chain>`
//!   directory: it announces "Automatically including …" for every file found).
//! - `root/usr/share/firewall4/templates/ruleset.uc` prints `include "<path>"` only where
//!   it calls `fw4.includes(position, chain)`. A file under a chain the template has no
//!   call for is announced and then silently left out: `chain prerouting` and
//!   `chain helper_<zone>` (fw4's SIP helper assignment) have none, `raw_prerouting`
//!   only an append hook.

#[path = "common/files.rs"]
mod files;
use files::files_under;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Chains of `table inet fw4` whose template body calls
/// `fw4.includes('chain-prepend', <chain>)`, zone-independent ones only.
const CHAIN_PRE: &[&str] = &[
    "input",
    "forward",
    "output",
    "dstnat",
    "srcnat",
    "raw_output",
    "mangle_prerouting",
    "mangle_postrouting",
    "mangle_input",
    "mangle_output",
    "mangle_forward",
];

/// … and `fw4.includes('chain-append', <chain>)`.
const CHAIN_POST: &[&str] = &[
    "input",
    "forward",
    "output",
    "dstnat",
    "srcnat",
    "raw_prerouting",
    "raw_output",
    "mangle_prerouting",
    "mangle_postrouting",
    "mangle_input",
    "mangle_output",
    "mangle_forward",
];

/// Per-zone chains with both hooks (`input_<zone>`, …): they exist only for a zone of
/// that name, and zone names are the user's choice (`wan` is only the default).
const ZONE_CHAIN_PREFIXES: &[&str] = &["input_", "output_", "forward_", "dstnat_", "srcnat_"];

/// Chains the template emits whatever the configuration: a ruleset-pre/post file may
/// address them (`insert rule inet fw4 <chain> …`) without breaking fw4's load.
const ALWAYS_EMITTED: &[&str] = &[
    "input",
    "forward",
    "output",
    "prerouting",
    "handle_reject",
    "dstnat",
    "srcnat",
    "raw_prerouting",
    "raw_output",
    "mangle_prerouting",
    "mangle_postrouting",
    "mangle_input",
    "mangle_output",
    "mangle_forward",
];

/// Why fw4 would not include `rel` (a path under nftables.d), or None if it does, at a
/// hook that does not depend on zone names.
fn misplaced(rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts.last().unwrap();
    if !name.ends_with(".nft") {
        return Some("fw4 only globs *.nft".into());
    }
    match parts.as_slice() {
        ["ruleset-pre" | "ruleset-post" | "table-pre" | "table-post", _] => None,
        [pos @ ("chain-pre" | "chain-post"), chain, _] => {
            let hooks = if *pos == "chain-pre" {
                CHAIN_PRE
            } else {
                CHAIN_POST
            };
            if hooks.contains(chain) {
                None
            } else if ZONE_CHAIN_PREFIXES.iter().any(|p| chain.starts_with(p)) {
                Some(format!(
                    "{chain} exists only if a zone has that name; use a zone-independent chain"
                ))
            } else {
                Some(format!(
                    "fw4's template has no fw4.includes('{}', '{chain}'): fw4 announces the file and leaves it out",
                    if *pos == "chain-pre" { "chain-prepend" } else { "chain-append" }
                ))
            }
        }
        _ => Some(
            "not at a position fw4 scans (ruleset-pre|ruleset-post|table-pre|table-post/*.nft, chain-pre|chain-post/<chain>/*.nft)"
                .into(),
        ),
    }
}

#[test]
fn the_hook_table_rejects_what_fw4_ignores() {
    for bad in [
        "chain-pre/prerouting/30-sipalg.nft",
        "chain-post/prerouting/30-sipalg.nft",
        "chain-pre/helper_lan/30-sipalg.nft",
        "chain-pre/raw_prerouting/30-sipalg.nft",
        "chain-pre/forward_wan/30-sipalg.nft",
        "chain-pre/forward/sub/30-sipalg.nft",
        "ruleset-post/30-sipalg.conf",
        "chain-prepend/forward/30-sipalg.nft",
    ] {
        assert!(misplaced(bad).is_some(), "{bad} must be refused");
    }
    for good in [
        "ruleset-post/30-sipalg.nft",
        "chain-pre/forward/30-sipalg.nft",
        "chain-post/raw_prerouting/30-sipalg.nft",
        "table-post/30-sipalg.nft",
    ] {
        assert_eq!(misplaced(good), None, "{good}");
    }
}

#[test]
fn every_include_file_sits_at_a_hook_fw4_really_has() {
    let dir = root().join("files/nftables.d");
    let files = files_under(&dir);
    assert!(!files.is_empty(), "files/nftables.d is empty");
    let bad: Vec<String> = files
        .iter()
        .filter_map(|f| misplaced(f).map(|why| format!("{f}: {why}")))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Statements of the include files, comments and blank lines left out.
fn statements(rel: &str) -> Vec<String> {
    std::fs::read_to_string(root().join("files/nftables.d").join(rel))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn ruleset_level_files_address_only_chains_fw4_always_emits() {
    for rel in files_under(&root().join("files/nftables.d")) {
        if !(rel.starts_with("ruleset-pre/") || rel.starts_with("ruleset-post/")) {
            continue;
        }
        for st in statements(&rel) {
            let words: Vec<&str> = st.split_whitespace().collect();
            if let ["insert" | "add", "rule", "inet", "fw4", chain, ..] = words.as_slice() {
                assert!(
                    rel.starts_with("ruleset-post/"),
                    "{rel}: a ruleset-pre file runs before fw4's table exists: {st}"
                );
                assert!(
                    ALWAYS_EMITTED.contains(chain),
                    "{rel}: fw4 does not always emit chain {chain}; loading would fail: {st}"
                );
            } else {
                assert!(
                    !st.contains("inet fw4"),
                    "{rel}: unexpected statement on fw4's table: {st}"
                );
            }
        }
    }
}

/// The kernel-helper guard: one rule, first in fw4's `chain prerouting` (where fw4 jumps
/// to helper_<zone>), returning for flows the daemon marked with
/// [`MARK_NO_KERNEL_HELPER`](sipalg::daemon::ruleset::MARK_NO_KERNEL_HELPER); and the
/// pinhole accept, in `chain forward` before its zone jumps, for
/// [`MARK_PINHOLE`](sipalg::daemon::ruleset::MARK_PINHOLE).
#[test]
fn the_guard_and_the_pinhole_accept_use_the_daemons_marks() {
    use sipalg::daemon::ruleset::{MARK_NO_KERNEL_HELPER, MARK_PINHOLE};
    let all: Vec<(String, String)> = files_under(&root().join("files/nftables.d"))
        .into_iter()
        .flat_map(|f| statements(&f).into_iter().map(move |s| (f.clone(), s)))
        .collect();
    let guard =
        format!("ct mark & {MARK_NO_KERNEL_HELPER:#010x} == {MARK_NO_KERNEL_HELPER:#010x} return");
    let g: Vec<&(String, String)> = all.iter().filter(|(_, s)| s.contains(&guard)).collect();
    assert_eq!(g.len(), 1, "one guard rule ({guard}) in {all:?}");
    assert!(g[0].0.starts_with("ruleset-post/"), "{:?}", g[0]);
    assert!(
        g[0].1
            .starts_with(&format!("insert rule inet fw4 prerouting {guard}")),
        "the guard is inserted first in fw4's prerouting: {:?}",
        g[0]
    );
    let pinhole =
        format!("ct mark & {MARK_PINHOLE:#010x} == {MARK_PINHOLE:#010x} ct status dnat accept");
    let p: Vec<&(String, String)> = all.iter().filter(|(_, s)| s.contains(&pinhole)).collect();
    assert_eq!(p.len(), 1, "one pinhole accept ({pinhole}) in {all:?}");
    assert!(p[0].0.starts_with("chain-pre/forward/"), "{:?}", p[0]);
}

/// tests/lab/lab.sh builds its fw4-shaped table with the same hooks: every
/// `includes chain-pre|chain-post <chain>` it has is one fw4 has (zone chains of the
/// lab's zones lan and wan included), and none sits in prerouting or helper_lan.
#[test]
fn the_lab_includes_at_fw4s_hooks_only() {
    let lab = std::fs::read_to_string(root().join("tests/lab/lab.sh")).unwrap();
    let mut seen = BTreeSet::new();
    for (n, line) in lab.lines().enumerate() {
        let Some(rest) = line.split("$(includes ").nth(1) else {
            continue;
        };
        let words: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ')')
            .collect();
        let pos = words[0];
        match pos {
            "ruleset-pre" | "ruleset-post" | "table-pre" | "table-post" => {}
            "chain-pre" | "chain-post" => {
                let chain = words[1];
                let ok_zone = ["lan", "wan"].iter().any(|z| {
                    ZONE_CHAIN_PREFIXES
                        .iter()
                        .any(|p| chain == format!("{p}{z}"))
                });
                let hooks = if pos == "chain-pre" {
                    CHAIN_PRE
                } else {
                    CHAIN_POST
                };
                assert!(
                    hooks.contains(&chain) || ok_zone,
                    "lab.sh:{}: fw4 has no {pos} hook in {chain}: {line}",
                    n + 1
                );
            }
            _ => panic!("lab.sh:{}: unknown include position {pos}", n + 1),
        }
        seen.insert(pos.to_string());
    }
    for pos in ["ruleset-post", "chain-pre"] {
        assert!(seen.contains(pos), "lab.sh never includes {pos}");
    }
    // The chains fw4 gives no hook carry none in the lab either.
    for chain in ["prerouting", "helper_lan"] {
        let body = lab
            .split(&format!("chain {chain} {{"))
            .nth(1)
            .unwrap_or_else(|| panic!("lab.sh has no chain {chain}"));
        // The chain ends at "\n\t}", written out or (in a printf format) escaped.
        let end = ["\n\t}", "\\n\\t}"]
            .iter()
            .filter_map(|e| body.find(e))
            .min()
            .unwrap_or(body.len());
        let body = &body[..end];
        assert!(
            !body.contains("includes"),
            "lab.sh includes files in {chain}, which fw4 does not: {body}"
        );
    }
}

/// The rule that keeps sipalg's flows out of fw4's flowtable: one rule, inserted first in
/// fw4's `chain forward` (so before the `flow offload @ft` fw4 puts there, ahead of its
/// chain-pre/forward includes), accepting confirmed flows with
/// [`MARK_NO_OFFLOAD`](sipalg::daemon::ruleset::MARK_NO_OFFLOAD), which the daemon's
/// status looks for ([`keep_out_rule`](sipalg::daemon::offload::keep_out_rule)).
#[test]
fn the_flowtable_rule_is_inserted_first_in_forward_with_the_daemons_mark() {
    use sipalg::daemon::offload::keep_out_rule;
    use sipalg::daemon::ruleset::MARK_NO_OFFLOAD;
    let all: Vec<(String, String)> = files_under(&root().join("files/nftables.d"))
        .into_iter()
        .flat_map(|f| statements(&f).into_iter().map(move |s| (f.clone(), s)))
        .collect();
    let mark = format!("ct mark & {MARK_NO_OFFLOAD:#010x} == {MARK_NO_OFFLOAD:#010x}");
    let k: Vec<&(String, String)> = all.iter().filter(|(_, s)| s.contains(&mark)).collect();
    assert_eq!(k.len(), 1, "one keep-out rule ({mark}) in {all:?}");
    assert!(k[0].0.starts_with("ruleset-post/"), "{:?}", k[0]);
    assert_eq!(
        k[0].1,
        format!("insert rule inet fw4 forward {}", keep_out_rule())
    );
    assert!(
        k[0].1.contains("ct status confirmed "),
        "only confirmed flows: {:?}",
        k[0]
    );
}

/// fw4's flowtable as openwrt/firewall4 root/usr/share/firewall4/templates/ruleset.uc
/// (at b6e5157) emits it with software flow offloading (`flow_offloading 1`, not
/// `flow_offloading_hw`), `{{ … }}` being the devices: inside `table inet fw4`, before
/// the helpers and the chains.
const TEMPLATE_FLOWTABLE: &[&str] = &[
    "\t#",
    "\t# Flowtable",
    "\t#",
    "",
    "\tflowtable ft {",
    "\t\thook ingress priority 0;",
    "\t\tdevices = {{ fw4.set(flowtable_devices, true) }};",
    "\t\tcounter;",
    "\t}",
];
/// … and the first lines of `chain forward` (ruleset.uc: the `flow offload` rule, then
/// `{% fw4.includes('chain-prepend', 'forward') %}`, then the established/related vmap).
const TEMPLATE_FORWARD: &[&str] = &[
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter; policy {{ fw4.forward_policy(true) }};",
    "",
    "\t\tmeta l4proto { tcp, udp } flow offload @ft;",
    "{% fw4.includes('chain-prepend', 'forward') %}",
];

/// tests/lab/lab.sh with SIPALG_LAB_FLOWTABLE=1 prints fw4's flowtable and its
/// `flow offload` rule where and as the template has them (blank lines aside, and the
/// devices as the lab's router resolves them: `{ "br-lan", "wan" }`, which the lab tests
/// in the VM see in the live ruleset).
#[test]
fn the_labs_flowtable_is_fw4s() {
    let out = std::process::Command::new("bash")
        .arg(root().join("tests/lab/lab.sh"))
        .args(["ruleset", "fw4test"])
        .env("SIPALG_LAB_FLOWTABLE", "1")
        .env("SIPALG_LAB_KERNEL_HELPER", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lab = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = lab.lines().filter(|l| !l.trim().is_empty()).collect();
    let devices_line = |l: &str| l.starts_with("\t\tdevices = {") && l.ends_with("};");
    let expect_in_order = |template: &[&str], what: &str| {
        let template: Vec<&str> = template
            .iter()
            .copied()
            .filter(|l| !l.is_empty() && !l.starts_with("{%"))
            .collect();
        let start = lines
            .iter()
            .position(|l| *l == template[0])
            .unwrap_or_else(|| panic!("no {what} in\n{lab}"));
        for (i, t) in template.iter().enumerate() {
            let got = lines[start + i];
            let same = if t.contains("{{ fw4.set(") {
                devices_line(got)
            } else if t.contains("{{ fw4.forward_policy") {
                got.starts_with("\t\ttype filter hook forward priority filter; policy ")
            } else {
                got == *t
            };
            assert!(
                same,
                "{what}, line {i}: {got:?} is not the template's {t:?}\n{lab}"
            );
        }
        start + template.len()
    };
    expect_in_order(TEMPLATE_FLOWTABLE, "flowtable");
    let after_offload = expect_in_order(TEMPLATE_FORWARD, "chain forward");
    assert!(
        lines[after_offload].contains("include \"")
            && lines[after_offload].contains("chain-pre/forward/"),
        "the chain-pre/forward includes follow the flow offload rule: {:?}",
        lines[after_offload]
    );
    // Before the helpers and the chains, as in the template.
    let at = |needle: &str| {
        lab.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{lab}"))
    };
    assert!(
        at("flowtable ft {") < at("ct helper sip {") && at("ct helper sip {") < at("chain input {")
    );
    // Without the option, none of it.
    let plain = std::process::Command::new("bash")
        .arg(root().join("tests/lab/lab.sh"))
        .args(["ruleset", "fw4test"])
        .output()
        .unwrap();
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(
        !plain.contains("flowtable") && !plain.contains("flow offload"),
        "{plain}"
    );
}
