//! Reading the crate's own Rust sources, for the tests that hold the code to its
//! rules (tests/layering.rs: who may use whom; tests/sizes.rs: how long a function or
//! file may be): every `.rs` file under a directory, the source with comments and
//! literals blanked, and the items under `#[cfg(test)]`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively, in name order.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Blanks comments (line, nested block), string literals (plain, byte, raw with any
/// number of `#`) and char literals (plain, byte, escaped), keeping every newline, so
/// that braces and `fn` inside them are not seen. A `'` that does not close a char
/// literal within one character (or an escape) is a lifetime or a label.
pub fn blank(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank_range = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && ident(b[i - 1]);
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                blank_range(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank_range(&mut out, i, j);
                i = j;
            }
            // Raw strings: r"…", r#"…"#, br#"…"#.
            b'r' | b'b' if !prev_ident && raw_string_start(&b[i..]).is_some() => {
                let (hashes, open) = raw_string_start(&b[i..]).unwrap();
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                let body = i + open;
                let end = b[body..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |n| body + n + close.len());
                blank_range(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                blank_range(&mut out, i, end);
                i = end;
            }
            b'\'' => {
                // A char literal: 'x', '\n', '\'', '\u{1F600}', or a multi-byte UTF-8
                // char; otherwise a lifetime or label ('a, 'static, 'outer:).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    let mut j = i + 3;
                    while j < b.len() && b[j] != b'\'' && b[j] != b'\n' {
                        j += 1;
                    }
                    Some(j + 1)
                } else {
                    let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 2 + len)
                };
                match end {
                    Some(end) => {
                        blank_range(&mut out, i, end.min(b.len()));
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// At a raw string's start (`r"`, `r#"`, `br##"`…): its number of `#` and the length
/// of its opening.
fn raw_string_start(b: &[u8]) -> Option<(usize, usize)> {
    let at = if b.first() == Some(&b'b') { 1 } else { 0 };
    if b.get(at) != Some(&b'r') {
        return None;
    }
    let hashes = b[at + 1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(at + 1 + hashes) == Some(&b'"')).then_some((hashes, at + 2 + hashes))
}

/// The index of the bracket that closes the one at `open` (`{`, `(` or `[`).
pub fn matching(code: &[u8], open: usize) -> usize {
    let mut depth = 0i32;
    for (j, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    code.len() - 1
}

/// The byte ranges of items under `#[cfg(test)]`: from the attribute to the end of the
/// item (its `;`, or the brace that closes its body).
pub fn test_items(code: &[u8]) -> Vec<(usize, usize)> {
    let text = String::from_utf8_lossy(code);
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(n) = text[from..].find("#[cfg(test)]") {
        let start = from + n;
        let mut j = start + "#[cfg(test)]".len();
        // Further attributes and the item's header, up to its body or `;` (brackets in
        // the header, e.g. `[u8; 4]`, skipped whole).
        let end = loop {
            match code.get(j) {
                None => break code.len() - 1,
                Some(b';') => break j,
                Some(b'{') => break matching(code, j),
                Some(b'(' | b'[') => j = matching(code, j) + 1,
                Some(_) => j += 1,
            }
        };
        ranges.push((start, end));
        from = end + 1;
    }
    ranges
}

/// `code` (as [`blank`] leaves it) without its `#[cfg(test)]` items ([`test_items`]).
pub fn without_test_items(code: &[u8]) -> String {
    let mut out = Vec::with_capacity(code.len());
    let mut from = 0;
    for (start, end) in test_items(code) {
        out.extend_from_slice(&code[from..start]);
        from = end + 1;
    }
    out.extend_from_slice(&code[from.min(code.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}
