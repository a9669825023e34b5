//! `sipalgd schema`: print the configuration schema ([`crate::config::SCHEMA`])
//! as JSON, for cross-checks with the init script, LuCI and tests.
//!
//! Output: an array of objects
//! `{"section", "section_type", "option", "list", "datatype", "default"}`.

use crate::config::{OptionSpec, SCHEMA};

/// JSON string literal of `s`.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::daemon::json::string(&mut out, s);
    out
}

/// The schema as pretty-printed JSON (one object per line).
pub fn to_json(schema: &[OptionSpec]) -> String {
    let mut out = String::from("[\n");
    for (i, o) in schema.iter().enumerate() {
        out += &format!(
            "  {{\"section\": {}, \"section_type\": {}, \"option\": {}, \"list\": {}, \"datatype\": {}, \"default\": {}}}",
            json_str(o.section),
            json_str(o.section_type),
            json_str(o.option),
            o.list,
            json_str(o.uci_datatype),
            json_str(o.default)
        );
        out += if i + 1 < schema.len() { ",\n" } else { "\n" };
    }
    out + "]"
}

/// Runs `sipalgd schema`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    if let Some(a) = args.first() {
        eprintln!("sipalgd schema: unexpected argument '{a}'\nusage: sipalgd schema");
        return 2;
    }
    println!("{}", to_json(SCHEMA));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(json_str("or(\"a\",\"b\")"), r#""or(\"a\",\"b\")""#);
        assert_eq!(json_str("a\\b\n\u{1}"), r#""a\\b\n\u0001""#);
    }

    #[test]
    fn shape() {
        let j = to_json(SCHEMA);
        assert!(j.starts_with("[\n  {\"section\": \"main\", \"section_type\": \"sipalg\", \"option\": \"enabled\", \"list\": false, \"datatype\": \"bool\", \"default\": \"1\"},\n"));
        assert!(j.ends_with("}\n]"));
        assert_eq!(j.lines().count(), SCHEMA.len() + 2);
    }
}
