//! A small parser for UCI's file syntax (`/etc/config/*`), faithful to libuci.
//!
//! It only reads; sipalg never writes UCI files (LuCI and `uci` do that).
//!
//! Grammar (one statement per line, a statement may continue over several
//! lines inside quotes or after a trailing backslash):
//!
//! ```text
//! package <name>
//! config <type> [<name>]
//! option <key> <value>
//! list <key> <value>
//! # comment
//! ```
//!
//! A word is made of adjacent pieces: `'single quoted'` (no escapes, may span
//! lines), `"double quoted"` (`\x` stands for `x`, a backslash at the end of a
//! line joins the next line), and unquoted characters (`\x` stands for `x`).
//! So `'it'\''s'` is the word `it's`: this is exactly how `uci export` and
//! `uci commit` quote a value holding an apostrophe. An unquoted `#` ends the
//! statement and starts a comment; an unquoted `;` ends a statement too.
//! The keywords may be abbreviated to `p`, `c`, `o` and `l`, as in libuci.

use std::fmt;

/// One `option` or `list` line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The option name.
    pub key: String,
    /// True for `list`, false for `option`.
    pub list: bool,
    /// The unquoted value.
    pub value: String,
    /// 1-based line of the keyword.
    pub line: usize,
}

/// One `config` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section type (`config <type>`).
    pub stype: String,
    /// The section name, `None` for an anonymous section.
    pub name: Option<String>,
    /// 1-based line of the `config` keyword.
    pub line: usize,
    /// The options and list items in file order.
    pub entries: Vec<Entry>,
}

/// A parsed UCI file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UciFile {
    /// The name of a `package` statement, if any.
    pub package: Option<String>,
    /// The sections in file order (duplicates are not merged here).
    pub sections: Vec<Section>,
}

/// A syntax error with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            chars: text.chars().peekable(),
            line: 1,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    /// Skips the rest of the current line, not its newline.
    fn skip_line(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c == '\n' {
                break;
            }
            self.chars.next();
        }
    }

    /// The next statement's words; `None` at the end of the input.
    fn statement(&mut self) -> Option<Result<Vec<Token>, SyntaxError>> {
        let mut tokens = Vec::new();
        loop {
            match self.chars.peek().copied() {
                None => {
                    return if tokens.is_empty() {
                        None
                    } else {
                        Some(Ok(tokens))
                    }
                }
                Some('\n') => {
                    self.bump();
                    if !tokens.is_empty() {
                        return Some(Ok(tokens));
                    }
                }
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                Some(';') => {
                    self.bump();
                    if !tokens.is_empty() {
                        return Some(Ok(tokens));
                    }
                }
                Some('#') => self.skip_line(),
                Some(_) => match self.word() {
                    Ok(t) => tokens.push(t),
                    Err(e) => {
                        self.skip_line();
                        return Some(Err(e));
                    }
                },
            }
        }
    }

    fn word(&mut self) -> Result<Token, SyntaxError> {
        let line = self.line;
        let mut text = String::new();
        while let Some(&c) = self.chars.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | '#' | ';' => break,
                '\'' => {
                    let open = self.line;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(unterminated(open, "single")),
                            Some('\'') => break,
                            Some(c) => text.push(c),
                        }
                    }
                }
                '"' => {
                    let open = self.line;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(unterminated(open, "double")),
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                None => return Err(unterminated(open, "double")),
                                Some('\n') => {}
                                Some(c) => text.push(c),
                            },
                            Some(c) => text.push(c),
                        }
                    }
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        None | Some('\n') => {}
                        Some(c) => text.push(c),
                    }
                }
                _ => {
                    self.bump();
                    text.push(c);
                }
            }
        }
        Ok(Token { text, line })
    }
}

/// True for a valid UCI option or section name: `[A-Za-z0-9_]+`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True for a valid section type: `[A-Za-z0-9_-]+`.
fn is_type(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a whole file. Every syntax error is reported, each with its line;
/// a bad statement is skipped and parsing goes on with the next one.
pub fn parse(text: &str) -> Result<UciFile, Vec<SyntaxError>> {
    let mut lexer = Lexer::new(text);
    let mut file = UciFile::default();
    let mut errors = Vec::new();
    // True after a broken `config` line: its options have no section to go to,
    // and reporting each of them would only repeat the first error.
    let mut orphaned = false;
    while let Some(statement) = lexer.statement() {
        let tokens = match statement {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let line = tokens[0].line;
        let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        // libuci also accepts the one-letter forms p, c, o and l.
        let keyword = match words[0] {
            "p" => "package",
            "c" => "config",
            "o" => "option",
            "l" => "list",
            other => other,
        };
        match keyword {
            "package" => match words.len() {
                2 => file.package = Some(words[1].to_string()),
                _ => errors.push(SyntaxError {
                    line,
                    message: "expected: package <name>".into(),
                }),
            },
            "config" => match section(&words, line) {
                Ok(section) => {
                    orphaned = false;
                    file.sections.push(section);
                }
                Err(e) => {
                    orphaned = true;
                    errors.push(e);
                }
            },
            kw @ ("option" | "list") => match entry(kw, &words, line) {
                Ok(entry) => match file.sections.last_mut() {
                    Some(section) if !orphaned => section.entries.push(entry),
                    Some(_) => {}
                    None => errors.push(SyntaxError {
                        line,
                        message: format!("'{kw} {}' comes before any 'config' line", words[1]),
                    }),
                },
                Err(e) => errors.push(e),
            },
            other => errors.push(SyntaxError {
                line,
                message: format!(
                    "unknown keyword '{other}': expected config, option, list or package"
                ),
            }),
        }
    }
    if errors.is_empty() {
        Ok(file)
    } else {
        Err(errors)
    }
}

/// A `config <type> ['<name>']` statement on `line` (its words, keyword first).
fn section(words: &[&str], line: usize) -> Result<Section, SyntaxError> {
    let err = |message: String| SyntaxError { line, message };
    if words.len() < 2 || words.len() > 3 {
        return Err(err(
            "expected: config <type> ['<name>'] (quote a name containing spaces)".into(),
        ));
    }
    if !is_type(words[1]) {
        return Err(err(format!(
            "invalid section type '{}': use letters, digits, '_' and '-'",
            words[1]
        )));
    }
    let name = match words.get(2) {
        None | Some(&"") => None,
        Some(n) if is_name(n) => Some(n.to_string()),
        Some(n) => {
            return Err(err(format!(
                "invalid section name '{n}': use letters, digits and '_'"
            )))
        }
    };
    Ok(Section {
        stype: words[1].to_string(),
        name,
        line,
        entries: Vec::new(),
    })
}

/// An `option` or `list` statement (`kw`) on `line`: `kw <name> ['<value>']`.
fn entry(kw: &str, words: &[&str], line: usize) -> Result<Entry, SyntaxError> {
    let err = |message: String| SyntaxError { line, message };
    // `option x` without a value is accepted, as libuci does: it sets nothing (the
    // default applies).
    if words.len() < 2 {
        return Err(err(format!(
            "'{kw}' needs a name and a value: {kw} <name> '<value>'"
        )));
    }
    if words.len() > 3 {
        return Err(err(format!(
            "'{kw} {}' has more than one value: quote a value containing spaces",
            words[1]
        )));
    }
    if !is_name(words[1]) {
        return Err(err(format!(
            "invalid option name '{}': use letters, digits and '_'",
            words[1]
        )));
    }
    Ok(Entry {
        key: words[1].to_string(),
        list: kw == "list",
        value: words.get(2).unwrap_or(&"").to_string(),
        line,
    })
}

/// A quote opened on `line` that the file never closes.
fn unterminated(line: usize, quote: &str) -> SyntaxError {
    SyntaxError {
        line,
        message: format!("unterminated {quote} quote"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        let f = parse(text).unwrap();
        f.sections
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| (e.key.clone(), e.value.clone())))
            .collect()
    }

    fn one(text: &str) -> String {
        let v = values(text);
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].1.clone()
    }

    #[test]
    fn sections_and_names() {
        let f = parse(
            "package sipalg\n\nconfig sipalg 'main'\n\toption alg '1'\nconfig timeouts\n\tlist port 5060\n",
        )
        .unwrap();
        assert_eq!(f.package.as_deref(), Some("sipalg"));
        assert_eq!(f.sections.len(), 2);
        assert_eq!(f.sections[0].stype, "sipalg");
        assert_eq!(f.sections[0].name.as_deref(), Some("main"));
        assert_eq!(f.sections[0].line, 3);
        assert_eq!(f.sections[0].entries[0].line, 4);
        assert!(!f.sections[0].entries[0].list);
        assert_eq!(f.sections[1].name, None);
        assert!(f.sections[1].entries[0].list);
        assert_eq!(f.sections[1].entries[0].line, 6);
    }

    #[test]
    fn quoting_forms() {
        assert_eq!(one("config a\n option x 'single'"), "single");
        assert_eq!(one("config a\n option x \"double\""), "double");
        assert_eq!(one("config a\n option x unquoted"), "unquoted");
        assert_eq!(one("config a\n option x ''"), "");
        assert_eq!(one("config a\n option x 'it'\\''s'"), "it's");
        assert_eq!(one("config a\n option x \"a \\\"b\\\"\""), "a \"b\"");
        assert_eq!(one("config a\n option x \"back\\\\slash\""), "back\\slash");
        assert_eq!(one("config a\n option x un\\ quoted"), "un quoted");
        assert_eq!(one("config a\n option x 'a'\"b\"c"), "abc");
        assert_eq!(one("config a\n option x 'has # hash'"), "has # hash");
        assert_eq!(one("config a\n option x \"it's\""), "it's");
        assert_eq!(one("config a\n option x 'a\\b'"), "a\\b");
    }

    #[test]
    fn comments_and_blank_lines() {
        let v = values(
            "# leading\n\nconfig a 'n' # trailing\n\t# indented\n\toption x 'v' # after\n\toption y v#c\n",
        );
        assert_eq!(v, vec![("x".into(), "v".into()), ("y".into(), "v".into())]);
    }

    #[test]
    fn multi_line_values_keep_line_numbers() {
        let f = parse(
            "config a\n\toption x 'line1\nline2'\n\toption y \"l1\nl2\"\n\toption z cont\\\ninued\n\toption w 'w'\n",
        )
        .unwrap();
        let e = &f.sections[0].entries;
        assert_eq!(e[0].value, "line1\nline2");
        assert_eq!(e[0].line, 2);
        assert_eq!(e[1].value, "l1\nl2");
        assert_eq!(e[1].line, 4);
        assert_eq!(e[2].value, "continued");
        assert_eq!(e[2].line, 6);
        assert_eq!(e[3].line, 8);
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(one("config a\r\n\toption x 'v'\r\n"), "v");
    }

    #[test]
    fn errors_have_lines_and_parsing_continues() {
        let e = parse(
            "config a\n\toption\n\toption y 'a' 'b'\n\tbogus z\n\toption 9-bad v\nconfig a 'bad name'\n",
        )
        .unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6], "{e:?}");
        assert!(e[0].message.contains("needs a name and a value"));
        assert!(e[1].message.contains("more than one value"));
        assert!(e[2].message.contains("unknown keyword 'bogus'"));
        assert!(e[3].message.contains("invalid option name '9-bad'"));
        assert!(e[4].message.contains("invalid section name 'bad name'"));
    }

    #[test]
    fn unterminated_quote_reports_opening_line() {
        let e = parse("config a\n\toption x 'v'\n\toption y 'open\n\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert!(e[0].message.contains("unterminated single quote"));
        let e = parse("config a\n\toption y \"open\n").unwrap_err();
        assert_eq!(e[0].line, 2);
        assert!(e[0].message.contains("unterminated double quote"));
    }

    #[test]
    fn option_before_config() {
        let e = parse("option x 'v'\n").unwrap_err();
        assert_eq!(e[0].line, 1);
        assert!(e[0].message.contains("before any 'config'"));
    }

    #[test]
    fn libuci_extras() {
        let f = parse("c a 'n'\n\to x 1; l y 2\n\toption z\n").unwrap();
        let e = &f.sections[0].entries;
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str(), e[0].list),
            ("x", "1", false)
        );
        assert_eq!(
            (e[1].key.as_str(), e[1].value.as_str(), e[1].list),
            ("y", "2", true)
        );
        assert_eq!((e[2].key.as_str(), e[2].value.as_str()), ("z", ""));
    }

    #[test]
    fn empty_name_is_anonymous() {
        let f = parse("config a ''\n").unwrap();
        assert_eq!(f.sections[0].name, None);
    }
}
