//! `sipalgd schema`: print the configuration schema ([`crate::config::SCHEMA`])
//! as JSON, for cross-checks with the init script, LuCI and tests.
//!
//! Output: an array of objects, one per option, in file order:
//! `{"section", "section_type", "option", "list", "datatype", "default",
//! "luci_datatype", "min", "max", "values", "luci_rules"}`: `datatype` is the
//! `validate_data` expression of the init script, `luci_datatype` the LuCI
//! page's ("" when its widget offers only valid values), `min`/`max` numbers
//! or null, `values` the accepted words (or []), `luci_rules` the daemon's
//! checks beyond the LuCI datatype that the page implements by name.

use crate::config::{OptionSpec, SCHEMA};

/// JSON string literal of `s`.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::daemon::json::string(&mut out, s);
    out
}

/// The schema as pretty-printed JSON (one object per line).
pub fn to_json(schema: &[OptionSpec]) -> String {
    let num = |n: Option<u32>| n.map_or("null".to_string(), |n| n.to_string());
    let words = |w: &[&str]| {
        let items: Vec<String> = w.iter().map(|x| json_str(x)).collect();
        format!("[{}]", items.join(", "))
    };
    let mut out = String::from("[\n");
    for (i, o) in schema.iter().enumerate() {
        out += &format!(
            "  {{\"section\": {}, \"section_type\": {}, \"option\": {}, \"list\": {}, \"datatype\": {}, \"default\": {}, \"luci_datatype\": {}, \"min\": {}, \"max\": {}, \"values\": {}, \"luci_rules\": {}}}",
            json_str(o.section),
            json_str(o.section_type),
            json_str(o.option),
            o.list,
            json_str(o.uci_datatype),
            json_str(o.default),
            json_str(o.luci_datatype),
            num(o.min),
            num(o.max),
            words(o.values),
            words(o.luci_rules)
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
        assert!(j.starts_with("[\n  {\"section\": \"main\", \"section_type\": \"sipalg\", \"option\": \"enabled\", \"list\": false, \"datatype\": \"bool\", \"default\": \"1\", \"luci_datatype\": \"\", \"min\": null, \"max\": null, \"values\": [], \"luci_rules\": []},\n"), "{j}");
        assert!(j.contains("\"option\": \"port\", \"list\": true, \"datatype\": \"list(regex('0*([1-9]|[1-9][0-9]|[1-9][0-9]{2}|[1-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])'))\", \"default\": \"5060\", \"luci_datatype\": \"list(and(port,min(1)))\", \"min\": 1, \"max\": 65535, \"values\": [], \"luci_rules\": []}"), "{j}");
        assert!(j.contains("\"values\": [\"sdp\", \"any\"]"), "{j}");
        assert!(j.ends_with("}\n]"));
        assert_eq!(j.lines().count(), SCHEMA.len() + 2);
    }
}
