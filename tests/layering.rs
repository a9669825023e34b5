//! The layering of docs/architecture.md, checked against the code. Every file under
//! `src/` is read; its `crate::…` and `super::…` paths (outside comments, string
//! literals and `#[cfg(test)]` code) are the arrows from its layer to others, and each
//! arrow must be one the table below allows. The pure core (wire, engine, state, alg)
//! must also do no IO of its own: no sockets, no clock reads, no locks, no files, no
//! processes, no `unsafe`.
//!
//! Arrows that point the wrong way today are listed in [`KNOWN_VIOLATIONS`], each with
//! the issue that removes it. The test fails when a new one appears and also when a
//! listed one no longer exists, so that the list only ever shrinks; the sealing of the
//! core (issue #21) empties it.

#[path = "common/rust_source.rs"]
mod rust_source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The pure core, bottom up: a layer may use the layers before it.
const CORE: [&str; 4] = ["wire", "engine", "state", "alg"];

/// What each top-level module of `src/lib.rs` (and `main.rs`) may use besides itself.
/// The core's layers use only the layers below them; the edges use the core and the
/// edges named here.
fn allowed(layer: &str) -> Vec<&'static str> {
    let core = |upto: usize| CORE[..upto].to_vec();
    let mut v = match layer {
        "wire" => core(0),
        "engine" => core(1),
        "state" => core(2),
        "alg" => core(3),
        // Edges. `sys` and `logging` stand alone; `netlink` is a codec for the kernel's
        // messages and knows nothing of SIP.
        "sys" | "logging" | "platform_check" => vec![],
        "netlink" => vec!["sys"],
        "config" => core(4),
        "relay" => [core(4), vec!["sys"]].concat(),
        "daemon" => [
            core(4),
            vec!["netlink", "relay", "config", "logging", "sys"],
        ]
        .concat(),
        "cli" => [
            core(4),
            vec!["daemon", "netlink", "relay", "config", "logging", "sys"],
        ]
        .concat(),
        // The crate root and the binary wire everything together.
        "lib" | "main" => return vec!["*"],
        other => panic!(
            "src/{other}: a top-level module the layering does not know; \
             give it a row here and in docs/architecture.md"
        ),
    };
    v.sort_unstable();
    v
}

/// Arrows that go the wrong way today: (file, layer it uses, issue that removes it).
/// Empty since the sealing of the core (issue #21): `alg` takes an `alg::Policy` the
/// daemon builds from the configuration, `alg::FlowSample`s the daemon makes of
/// conntrack's dump, `alg::Relayed` for a relayed connection, and owns
/// `alg::MAX_REPLACEMENT` (checked equal to the NFQUEUE codec's in the daemon).
const KNOWN_VIOLATIONS: &[(&str, &str, u32)] = &[];

/// `unsafe` allowed in the core with `#[allow(unsafe_code)]` after a measurement
/// against a crate (file, where the figures are). None today.
const MEASURED_UNSAFE: &[(&str, &str)] = &[];

/// What the core must not name: sockets, clock reads, locks, files, processes,
/// threads, the environment, raw system calls, standard streams.
const NOT_IN_THE_CORE: &[&str] = &[
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "UnixStream",
    "UnixDatagram",
    "UnixListener",
    "Instant::now",
    "SystemTime::now",
    "Mutex",
    "RwLock",
    "Condvar",
    "std::sync::mpsc",
    "std::fs",
    "std::process",
    "std::thread",
    "std::env",
    "std::os",
    "libc::",
    "stdin()",
    "stdout()",
    "stderr()",
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of a file: `src/state/calls/mod.rs` → `[state, calls]`,
/// `src/state/restore/exact.rs` → `[state, restore, exact]`, `src/lib.rs` → `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The top-level module a file belongs to (`lib` and `main` for the roots).
fn layer_of(file: &Path) -> String {
    let path = module_path(file);
    match path.first() {
        Some(top) => top.clone(),
        None => file.file_stem().unwrap().to_string_lossy().into_owned(),
    }
}

/// The source with comments and literals blanked ([`rust_source::blank`]): only code
/// remains, line breaks kept.
fn code_only(text: &str) -> String {
    String::from_utf8_lossy(&rust_source::blank(text)).into_owned()
}

/// `code` without the `#[cfg(test)]` items ([`rust_source::test_items`]).
fn without_tests(code: &str) -> String {
    rust_source::without_test_items(code.as_bytes())
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifiers a path list after `::{` names first (`{engine, wire::x}` → engine,
/// wire), up to the matching brace.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '{' => {
                depth += 1;
                if depth > 1 {
                    expect_head = false;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if depth == 1 && expect_head && is_ident(c) => cur.push(c),
            _ if depth == 1 && expect_head && !cur.is_empty() => {
                heads.push(std::mem::take(&mut cur));
                expect_head = false;
            }
            _ => {}
        }
    }
    if !cur.is_empty() {
        heads.push(cur);
    }
    heads
}

/// The top-level modules `code` (of the file at module path `path`) refers to.
fn uses(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let starts_word = |i: usize| i == 0 || !is_ident(code[..i].chars().next_back().unwrap());
    for (i, _) in code.char_indices() {
        if !starts_word(i) {
            continue;
        }
        let tail = &code[i..];
        // crate::x…  /  crate::{x, y}
        if let Some(after) = tail.strip_prefix("crate::") {
            if after.starts_with('{') {
                found.extend(group_heads(after));
            } else {
                let head: String = after.chars().take_while(|&c| is_ident(c)).collect();
                if !head.is_empty() {
                    found.insert(head);
                }
            }
        } else if tail.starts_with("super::") {
            // Climb: each `super::` is one module up from this file's module.
            let mut p = path.to_vec();
            let mut t = tail;
            while let Some(r) = t.strip_prefix("super::") {
                p.pop();
                t = r;
            }
            if p.is_empty() {
                if t.starts_with('{') {
                    found.extend(group_heads(t));
                } else {
                    let head: String = t.chars().take_while(|&c| is_ident(c)).collect();
                    if !head.is_empty() {
                        found.insert(head);
                    }
                }
            } else {
                found.insert(p[0].clone());
            }
        }
    }
    found
}

struct File {
    name: String,
    layer: String,
    code: String,
}

fn files() -> Vec<File> {
    let paths = rust_source::rust_files(&src());
    // Files that are test modules as a whole (`#[cfg(test)] mod tests;`).
    let mut test_modules = BTreeSet::new();
    for p in &paths {
        let code = code_only(&std::fs::read_to_string(p).unwrap());
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            let after = rest[at + "#[cfg(test)]".len()..].trim_start();
            let after = after.strip_prefix("pub ").unwrap_or(after);
            if let Some(m) = after.strip_prefix("mod ") {
                let name: String = m.chars().take_while(|&c| is_ident(c)).collect();
                if m[name.len()..].trim_start().starts_with(';') {
                    let mut child = module_path(p);
                    child.push(name);
                    test_modules.insert(child);
                }
            }
            rest = &rest[at + 1..];
        }
    }
    paths
        .iter()
        .filter(|p| !test_modules.contains(&module_path(p)))
        .map(|p| File {
            name: p
                .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            layer: layer_of(p),
            code: without_tests(&code_only(&std::fs::read_to_string(p).unwrap())),
        })
        .collect()
}

/// Every arrow that the table does not allow, as (file, layer used).
fn wrong_arrows(files: &[File]) -> BTreeSet<(String, String)> {
    let tops: BTreeSet<String> = files.iter().map(|f| f.layer.clone()).collect();
    let mut wrong = BTreeSet::new();
    for f in files {
        let ok = allowed(&f.layer);
        let path = module_path(&src().join(f.name.trim_start_matches("src/")));
        for used in uses(&f.code, &path) {
            if used == f.layer || ok == ["*"] || !tops.contains(&used) {
                continue;
            }
            if !ok.contains(&used.as_str()) {
                wrong.insert((f.name.clone(), used));
            }
        }
    }
    wrong
}

#[test]
fn every_arrow_between_layers_is_allowed_or_a_known_violation() {
    let files = files();
    assert!(files.len() > 50, "read {} files", files.len());
    let wrong = wrong_arrows(&files);
    let known: BTreeSet<(String, String)> = KNOWN_VIOLATIONS
        .iter()
        .map(|(f, l, _)| (f.to_string(), l.to_string()))
        .collect();
    let new: Vec<_> = wrong.difference(&known).collect();
    assert!(
        new.is_empty(),
        "arrows that go the wrong way (docs/architecture.md): {new:?}"
    );
    let gone: Vec<_> = known.difference(&wrong).collect();
    assert!(
        gone.is_empty(),
        "known violations that no longer exist: remove them from KNOWN_VIOLATIONS \
         and from docs/architecture.md: {gone:?}"
    );
}

#[test]
fn every_top_level_module_has_a_place_in_the_layering() {
    for f in files() {
        allowed(&f.layer);
    }
}

#[test]
fn the_core_does_no_io_of_its_own() {
    let mut found = Vec::new();
    for f in files().iter().filter(|f| CORE.contains(&f.layer.as_str())) {
        for (n, line) in f.code.lines().enumerate() {
            for token in NOT_IN_THE_CORE {
                // `print!` must not match inside `eprint!`/`println!` twice; any match
                // is a finding all the same.
                if line.contains(token) {
                    found.push(format!("{}:{}: {token}", f.name, n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "IO in the pure core: {found:#?}");
}

#[test]
fn the_core_has_no_unsafe_but_the_measured_exceptions() {
    let files = files();
    for layer in CORE {
        let root = files
            .iter()
            .find(|f| f.name == format!("src/{layer}/mod.rs"))
            .unwrap_or_else(|| panic!("src/{layer}/mod.rs"));
        assert!(
            root.code.contains("#![deny(unsafe_code)]"),
            "{} must say #![deny(unsafe_code)]",
            root.name
        );
    }
    let mut allowed_in = BTreeMap::new();
    for f in files.iter().filter(|f| CORE.contains(&f.layer.as_str())) {
        if f.code.contains("allow(unsafe_code)") {
            allowed_in.insert(f.name.clone(), ());
        }
    }
    let listed: BTreeMap<String, ()> = MEASURED_UNSAFE
        .iter()
        .map(|(f, _)| (f.to_string(), ()))
        .collect();
    assert_eq!(
        allowed_in, listed,
        "#[allow(unsafe_code)] in the core only where MEASURED_UNSAFE lists a measurement"
    );
}

// The reader itself, on byte literals.

#[test]
fn comments_and_literals_are_not_code() {
    let c = code_only(
        "use crate::wire; // crate::daemon\n/* crate::relay /* nested */ crate::cli */ let s = \"crate::config\"; let r = r#\"crate::sys \"x\" \"#; let br = br\"crate::cli\\\"; let ch = '\"'; let l: &'a str = b\"//\";\nuse crate::engine;",
    );
    let found = uses(&c, &["state".to_string()]);
    assert_eq!(
        found,
        BTreeSet::from(["engine".to_string(), "wire".to_string()])
    );
    assert_eq!(c.lines().count(), 3, "line breaks kept");
}

#[test]
fn groups_and_super_paths_are_followed() {
    let path = ["state".to_string(), "calls".to_string()];
    let found = uses(
        "use crate::{engine::Facts, wire::{sip, text}};\nuse super::actions::Action;\nuse super::super::alg::Hook;\nfn f() { crate::netlink::x(); }",
        &path,
    );
    assert_eq!(
        found,
        BTreeSet::from([
            "alg".to_string(),
            "engine".to_string(),
            "netlink".to_string(),
            "state".to_string(),
            "wire".to_string(),
        ])
    );
}

#[test]
fn test_code_is_left_out() {
    let code = code_only(
        "use crate::engine;\n#[cfg(test)]\nmod tests {\n    use crate::daemon;\n    fn f() { let _ = \"}\"; }\n}\n#[cfg(test)]\nuse crate::relay;\nfn g() {}\n",
    );
    let kept = without_tests(&code);
    assert_eq!(
        uses(&kept, &["alg".to_string()]),
        BTreeSet::from(["engine".to_string()])
    );
    assert!(kept.contains("fn g()"));
}

/// A wrong arrow is found: an edge used from the core, and the core's order upside
/// down.
#[test]
fn a_wrong_arrow_is_found() {
    let file = |name: &str, layer: &str, code: &str| File {
        name: name.to_string(),
        layer: layer.to_string(),
        code: code.to_string(),
    };
    let files = [
        file(
            "src/engine/x.rs",
            "engine",
            "use crate::state::restore::Restore;",
        ),
        file("src/wire/y.rs", "wire", "fn f() { crate::daemon::run(); }"),
        file("src/state/z.rs", "state", "use crate::{engine, wire};"),
        file("src/daemon/w.rs", "daemon", "use crate::alg::Processor;"),
        file(
            "src/netlink/v.rs",
            "netlink",
            "use crate::state::actions::Action;",
        ),
        file("src/relay/u.rs", "relay", "use crate::daemon::tcp;"),
    ];
    let wrong: Vec<(String, String)> = wrong_arrows(&files).into_iter().collect();
    assert_eq!(
        wrong,
        [
            ("src/engine/x.rs", "state"),
            ("src/netlink/v.rs", "state"),
            ("src/relay/u.rs", "daemon"),
            ("src/wire/y.rs", "daemon"),
        ]
        .map(|(f, l)| (f.to_string(), l.to_string()))
    );
}
