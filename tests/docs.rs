//! The project's docs stand alone and say what the build really uses: no file points at
//! research notes outside the repository, the README's dependency table lists as linked
//! exactly the crates Cargo.toml depends on, and docs/dependencies.md gives a reason for
//! every crate any manifest names (issue #20).

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The crate names of one `[section]` of a Cargo manifest.
fn section_crates(manifest: &str, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == section;
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            if let Some((name, _)) = t.split_once('=') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules" | "corpus") {
                text_files(&p, out);
            }
        } else if [
            "rs", "md", "toml", "sh", "py", "js", "json", "nft", "conf", "", "txt",
        ]
        .contains(
            &p.extension()
                .map_or(String::new(), |x| x.to_string_lossy().into_owned())
                .as_str(),
        ) {
            out.push(p);
        }
    }
}

#[test]
fn no_file_points_at_research_notes_outside_the_repository() {
    let mut files = Vec::new();
    text_files(&repo(), &mut files);
    assert!(files.len() > 50, "walked too few files: {}", files.len());
    let needle = ["research", "/"].concat();
    let mut found = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(i) = line.find(&needle) {
                let rest = &line[i + needle.len()..];
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                if word.ends_with(".md") {
                    found.push(format!("{}:{}: {line}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_readme_lists_as_linked_exactly_what_cargo_toml_depends_on() {
    let deps = section_crates(&read("Cargo.toml"), "[dependencies]");
    assert!(deps.contains(&"log".to_string()), "{deps:?}");
    let readme = read("README.md");
    let table = readme
        .split("## Dependencies and why")
        .nth(1)
        .expect("README has a dependency section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut linked: Vec<String> = table
        .lines()
        .filter(|l| {
            l.starts_with("| `") && l.split('|').nth(2).is_some_and(|c| c.trim() == "linked")
        })
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect();
    linked.sort();
    let mut want = deps.clone();
    want.sort();
    assert_eq!(
        linked, want,
        "README's linked crates vs Cargo.toml [dependencies]"
    );
    // Every crate the README names as not linked is really absent.
    for l in table.lines().filter(|l| l.starts_with("| `")) {
        let used = l.split('|').nth(2).unwrap().trim();
        for name in l.split('|').nth(1).unwrap().split('`').skip(1).step_by(2) {
            if used != "linked" {
                assert!(
                    !deps.iter().any(|d| d == name),
                    "{name} is linked but listed as {used}"
                );
            }
        }
    }
}

#[test]
fn docs_dependencies_gives_a_reason_for_every_crate_a_manifest_names() {
    let doc = read("docs/dependencies.md");
    let mut all = Vec::new();
    for (manifest, sections) in [
        ("Cargo.toml", &["[dependencies]", "[dev-dependencies]"][..]),
        (
            "bench/Cargo.toml",
            &["[dependencies]", "[dev-dependencies]"][..],
        ),
        ("fuzz/Cargo.toml", &["[dependencies]"][..]),
    ] {
        let m = read(manifest);
        for s in sections {
            all.extend(section_crates(&m, s));
        }
    }
    all.retain(|c| c != "sipalg");
    assert!(all.len() >= 6, "{all:?}");
    for c in all {
        assert!(
            doc.contains(&format!("`{c}`")),
            "docs/dependencies.md does not say why `{c}` is used"
        );
    }
    // The crates the project was asked to consider, each with a verdict.
    for c in ["nfq", "rsip", "sdp-rs", "uci_rs", "log", "syslog", "anyhow"] {
        assert!(
            doc.lines()
                .any(|l| l.starts_with(&format!("| `{c}` ")) && l.contains(" | ")),
            "no verdict row for {c}"
        );
    }
}
