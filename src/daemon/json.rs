//! A minimal JSON writer for the status output (no serde: binary size matters).

use std::fmt::Write;

pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes `"key":` (with a leading comma unless first).
pub fn key(out: &mut String, first: &mut bool, k: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    string(out, k);
    out.push(':');
}

pub fn opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let mut o = String::from("{");
        let mut first = true;
        key(&mut o, &mut first, "x");
        opt_string(&mut o, None);
        key(&mut o, &mut first, "y");
        opt_string(&mut o, Some("z"));
        o.push('}');
        assert_eq!(o, r#"{"x":null,"y":"z"}"#);
    }
}
