//! Sizes a newcomer can hold in mind (issue #21): no function over [`FN_MAX`] lines and
//! no file over [`FILE_MAX`] lines, tests aside. Every `.rs` file under `src/` is read
//! with the small lexer of tests/common/rust_source.rs (shared with tests/layering.rs)
//! that blanks comments, string, byte-string, raw-string and char
//! literals (so braces inside them do not count) and tells a char literal from a
//! lifetime; then each `fn` item is measured from the line of its `fn` keyword to the
//! line of its closing brace (a nested `fn` is measured too, and counts in its
//! parent's lines).
//!
//! Tests aside: items under `#[cfg(test)]` (a `mod tests { … }`, a test-only helper)
//! are neither measured nor counted in their file's lines, and whole files are test
//! files when they are named `tests.rs`, lie under a `tests/` directory or are declared
//! by `#[cfg(test)] mod name;` in their parent (`state/restore/exact.rs`).
//!
//! Exceptions are explicit: [`DATA_TABLES`] (a table of data may be long). The test fails when
//! a new violation appears and also when a listed one no longer exists, so the lists
//! only ever shrink, as `KNOWN_VIOLATIONS` in tests/layering.rs.

#[path = "common/rust_source.rs"]
mod rust_source;

use rust_source::{blank, matching, rust_files, test_items};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a function may have, from its `fn` line to its closing brace.
const FN_MAX: usize = 80;
/// Lines a file may have outside `#[cfg(test)]` items.
const FILE_MAX: usize = 600;

/// Functions (file, fn name) or files (file, "") that are a table of data and may be
/// longer. None today: every table is a `const`/`static`, not a function.
const DATA_TABLES: &[(&str, &str)] = &[];

/// A source file with its comments and literals blanked (newlines kept).
struct Source {
    path: String,
    code: Vec<u8>,
}

fn line_of(code: &[u8], at: usize) -> usize {
    code[..at].iter().filter(|&&c| c == b'\n').count() + 1
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A `fn` item: its name and its lines (from the `fn` keyword to the closing brace).
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    lines: usize,
}

/// The functions with a body outside `skip` (test items), in order. `fn` as a
/// function pointer type (`fn(u8) -> u8`) and bodiless trait methods are not items.
fn functions(code: &[u8], skip: &[(usize, usize)]) -> Vec<Function> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < code.len() {
        let at_fn = &code[i..i + 2] == b"fn"
            && (i == 0 || !is_ident(code[i - 1]))
            && code[i + 2].is_ascii_whitespace();
        if !at_fn || skip.iter().any(|&(a, b)| (a..=b).contains(&i)) {
            i += 1;
            continue;
        }
        let name_at = i
            + 2
            + code[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
        let name: String = code[name_at..]
            .iter()
            .take_while(|&&c| is_ident(c))
            .map(|&c| c as char)
            .collect();
        if name.is_empty() {
            i += 2;
            continue;
        }
        // The header, up to the body's `{` (or `;` without a body).
        let mut j = name_at + name.len();
        let body = loop {
            match code.get(j) {
                None | Some(b';') => break None,
                Some(b'{') => break Some(j),
                Some(b'(' | b'[') => j = matching(code, j) + 1,
                Some(_) => j += 1,
            }
        };
        if let Some(open) = body {
            let close = matching(code, open);
            found.push(Function {
                name,
                lines: line_of(code, close) - line_of(code, i) + 1,
            });
        }
        i = name_at;
    }
    found
}

/// Lines of the file outside `skip`'s ranges (a line partly in one counts as in it).
fn lines_outside(code: &[u8], skip: &[(usize, usize)]) -> usize {
    let total = code.iter().filter(|&&c| c == b'\n').count()
        + usize::from(code.last().is_some_and(|&c| c != b'\n'));
    let skipped: usize = skip
        .iter()
        .map(|&(a, b)| line_of(code, b) - line_of(code, a) + 1)
        .sum();
    total - skipped
}

/// Every source file under `src/` that is not a test file, lexed.
fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = rust_files(&root.join("src"));
    let mut all: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        all.insert(p, blank(&text));
    }
    // Files that a parent declares as `#[cfg(test)] mod name;`.
    let mut test_modules = BTreeSet::new();
    for (p, code) in &all {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        let dir = if ["mod", "lib", "main"].contains(&stem) {
            p.parent().unwrap().to_path_buf()
        } else {
            p.with_extension("")
        };
        for (a, b) in test_items(code) {
            let item = String::from_utf8_lossy(&code[a..=b]);
            let words: Vec<&str> = item["#[cfg(test)]".len()..]
                .split(|c: char| !is_ident(c as u8) || !c.is_ascii())
                .filter(|w| !w.is_empty())
                .collect();
            if let ["mod", name] = words.as_slice() {
                test_modules.insert(dir.join(format!("{name}.rs")));
                test_modules.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    all.into_iter()
        .filter(|(p, _)| {
            let rel = p.strip_prefix(root).unwrap();
            !(rel.file_name().unwrap() == "tests.rs"
                || rel
                    .parent()
                    .unwrap()
                    .components()
                    .any(|c| c.as_os_str() == "tests")
                || test_modules.contains(p))
        })
        .map(|(p, code)| Source {
            path: p.strip_prefix(root).unwrap().display().to_string(),
            code,
        })
        .collect()
}

/// Every violation: (file, fn name) => lines, with "" for the file's own size.
fn violations() -> BTreeMap<(String, String), usize> {
    let mut v = BTreeMap::new();
    for s in sources() {
        let tests = test_items(&s.code);
        let lines = lines_outside(&s.code, &tests);
        if lines > FILE_MAX {
            v.insert((s.path.clone(), String::new()), lines);
        }
        for f in functions(&s.code, &tests) {
            if f.lines > FN_MAX {
                let at = v.entry((s.path.clone(), f.name)).or_insert(0);
                *at = (*at).max(f.lines);
            }
        }
    }
    v
}

#[test]
fn no_function_over_80_lines_and_no_file_over_600_tests_aside() {
    let found = violations();
    let listed: BTreeSet<(String, String)> = DATA_TABLES
        .iter()
        .map(|&(f, n)| (f.to_string(), n.to_string()))
        .collect();
    let new: Vec<String> = found
        .iter()
        .filter(|(k, _)| !listed.contains(k))
        .map(|((f, n), lines)| match n.as_str() {
            "" => format!("{f}: {lines} lines (at most {FILE_MAX} outside tests)"),
            n => format!("{f}: fn {n}: {lines} lines (at most {FN_MAX})"),
        })
        .collect();
    assert!(
        new.is_empty(),
        "too long; split along its seams (docs/architecture.md):\n{}",
        new.join("\n")
    );
    let gone: Vec<&(String, String)> = listed.iter().filter(|k| !found.contains_key(*k)).collect();
    assert!(
        gone.is_empty(),
        "listed as too long but no longer are: remove them from DATA_TABLES: {gone:?}"
    );
}

/// The measurement itself, on snippets that would fool a naive brace count.
#[test]
fn braces_in_literals_and_comments_do_not_count() {
    let src = r##"
fn a() {
    let s = "}}}{";
    let r = r#"}" { "#;
    let b = b"}";
    let c = '}';
    let e = '\'';
    let u = '\u{7d}';
    // }
    /* } /* nested } */ } */
    let l: &'static str = "x";
}
fn b<'x>(v: &'x [u8; 4]) -> &'x u8 {
    'outer: loop {
        break 'outer;
    }
    &v[0]
}
"##;
    let code = blank(src);
    assert_eq!(code.len(), src.len());
    assert_eq!(
        functions(&code, &[]),
        [
            Function {
                name: "a".into(),
                lines: 11
            },
            Function {
                name: "b".into(),
                lines: 6
            },
        ]
    );
}

#[test]
fn nested_functions_pointer_types_and_trait_methods() {
    let src = "
trait T {
    fn bodiless(&self) -> u8;
    fn with_default(&self) {}
}
fn outer(f: fn(u8) -> u8) -> u8 {
    fn inner(x: u8) -> u8 {
        x
    }
    f(inner(1))
}
";
    let code = blank(src);
    let names: Vec<(String, usize)> = functions(&code, &[])
        .into_iter()
        .map(|f| (f.name, f.lines))
        .collect();
    assert_eq!(
        names,
        [
            ("with_default".to_string(), 1),
            ("outer".to_string(), 6),
            ("inner".to_string(), 3),
        ]
    );
}

#[test]
fn test_items_are_neither_measured_nor_counted() {
    let src = "
fn kept() {}
#[cfg(test)]
fn helper(buf: [u8; 4]) {
    let _ = buf;
}
#[cfg(test)]
mod tests {
    fn inside() {}
}
";
    let code = blank(src);
    let tests = test_items(&code);
    assert_eq!(tests.len(), 2);
    let names: Vec<String> = functions(&code, &tests)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["kept"]);
    // Lines: the blank first one and `fn kept() {}`.
    assert_eq!(lines_outside(&code, &tests), 2);
}

#[test]
fn test_files_are_left_out() {
    let paths: Vec<String> = sources().into_iter().map(|s| s.path).collect();
    assert!(paths.contains(&"src/state/restore.rs".to_string()));
    for test_file in [
        "src/state/calls/tests.rs",
        // `#[cfg(test)] mod exact;` in src/state/restore.rs.
        "src/state/restore/exact.rs",
    ] {
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(test_file)
                .exists(),
            "{test_file}"
        );
        assert!(!paths.contains(&test_file.to_string()), "{test_file}");
    }
}
