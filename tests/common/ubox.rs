//! ubox's datatype evaluator (validate_data, libvalidate), re-implemented from
//! openwrt/ubox validate/validate.c at 6f78fa496bf36c55864a41e353df7d13f04b1077 for the
//! datatypes sipalg's init script uses. Not a copy: the parts that decide what is
//! accepted, with the C library calls they rely on spelled out:
//!
//! - `dt_parse_list`: a top-level list is `or`; arguments split on ',' at paren depth
//!   0 (quotes are NOT tracked: a ',' inside a quoted string splits it, hence none in
//!   sipalg's datatypes); `dt_parse_atom`: a number is whatever `strtod` reads first, a
//!   string is '...' or "..." (backslash escapes), else a function name.
//! - A number argument of `or` etc. matches a value `strtod` reads whole as that
//!   number (`dt_test_number`); a string matches the value exactly (`dt_test_string`).
//! - `uinteger[(base)]`: first char `isxdigit`, then `strtoul(value, base)` (base 0:
//!   0x hex, 0 octal, else decimal) must read the whole value. `range`, `min`, `max`:
//!   `strtol(value, 0)` read whole, into an `int`. `port`: `strtoul(value, 10)` whole,
//!   `<= 65535` (as an int: "-1" wraps to -1 and passes). `rangelength`: strlen.
//! - `regex('re')`: POSIX extended, `regcomp("^" re "$")` then `regexec`, which
//!   searches: a top-level `|` leaves `^` on the first alternative and `$` on the last
//!   only (`a|b` becomes `^a|b$`), so sipalg's patterns wrap their alternatives in ().
//! - `bool`: one of 0 off false no disabled 1 on true yes enabled, `strcasecmp`.
//! - `ip4addr`: `inet_pton(AF_INET)`: four decimal octets, no leading zeros.
//! - `cidr4`: under 19 bytes; an optional '/' followed by `strtoul(.., 10)` read whole
//!   and `<= 32` (as an int); the address `inet_pton`.
//! - `list(x)`: every word of the value (split on space and tab) is an `x`.
//! - `dt_parse` refuses an empty value.

#![allow(dead_code)]

#[derive(Debug, Clone)]
enum Node {
    Number(f64),
    Str(String),
    Call(String, Vec<Node>),
}

/// C's `strtod` prefix length (the forms datatypes use: decimal, fraction, exponent).
fn strtod_prefix(s: &str) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - digits_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let e = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > e {
            i = j;
        }
    }
    s[start..i].parse::<f64>().ok().map(|v| (v, i))
}

/// C's `strtoul`/`strtol` (64-bit long): leading blanks, a sign, the base's prefix;
/// the value (wrapping like the C functions' result converted to `int` by validate.c)
/// and how many bytes were read (0: none).
fn strtol_prefix(s: &str, base: u32, unsigned: bool) -> (i64, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || (b'\t'..=b'\r').contains(&b[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    if (base == 0 || base == 16)
        && b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if b.get(i) == Some(&b'0') { 8 } else { 10 };
    }
    let start = i;
    let mut v: i128 = 0;
    while i < b.len() {
        let Some(d) = (b[i] as char).to_digit(base) else {
            break;
        };
        v = (v * i128::from(base) + i128::from(d)).min(i128::from(u64::MAX) + 1);
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    let v = if unsigned {
        // strtoul: saturate at ULONG_MAX, then negate if '-'
        let u = v.min(i128::from(u64::MAX)) as u64;
        (if neg { u.wrapping_neg() } else { u }) as i64
    } else {
        let x = v.min(i128::from(i64::MAX) + i128::from(neg));
        (if neg { -x } else { x }).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    };
    (v, i)
}

/// `int n = strtol(...)` / `strtoul(...)`: the C conversion to int.
fn as_c_int(v: i64) -> i64 {
    i64::from(v as i32)
}

struct Parser<'a> {
    s: &'a str,
}

impl Parser<'_> {
    /// dt_parse_list over `code`: comma-separated expressions at depth 0.
    fn list(&self, code: &str) -> Result<Vec<Node>, String> {
        let b = code.as_bytes();
        let mut out = Vec::new();
        let (mut nest, mut esc, mut last) = (0i32, false, 0usize);
        for p in 0..=b.len() {
            let c = if p < b.len() { b[p] } else { 0 };
            if esc {
                esc = false;
                continue;
            }
            match c {
                b'\\' => esc = true,
                b'(' => nest += 1,
                b')' => nest -= 1,
                b',' | 0 if nest <= 0 => {
                    if p > last {
                        out.push(self.expr(&code[last..p])?);
                    }
                    last = p + 1;
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn expr(&self, code: &str) -> Result<Node, String> {
        let code = code.trim_start();
        if let Some((v, n)) = strtod_prefix(code) {
            if code[n..].trim().is_empty() {
                return Ok(Node::Number(v));
            }
            return Err(format!("expected ',' after literal in {:?}", self.s));
        }
        if let Some(q) = code.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let mut out = String::new();
            let mut esc = false;
            for (i, c) in code[1..].char_indices() {
                if esc {
                    out.push(c);
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == q {
                    if code[i + 2..].trim().is_empty() {
                        return Ok(Node::Str(out));
                    }
                    return Err(format!("expected ',' after literal in {:?}", self.s));
                } else {
                    out.push(c);
                }
            }
            return Err(format!("unterminated string in {:?}", self.s));
        }
        let name_len = code
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(code.len());
        let name = &code[..name_len];
        let rest = code[name_len..].trim_start();
        if rest.is_empty() {
            return Ok(Node::Call(name.to_string(), Vec::new()));
        }
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.trim_end().strip_suffix(')'))
            .ok_or_else(|| format!("expected '(' after {name} in {:?}", self.s))?;
        Ok(Node::Call(name.to_string(), self.list(inner)?))
    }
}

fn number_arg(args: &[Node], i: usize) -> Option<i64> {
    match args.get(i) {
        Some(Node::Number(n)) => Some(*n as i64),
        _ => None,
    }
}

fn eval(node: &Node, value: &str) -> Result<bool, String> {
    Ok(match node {
        Node::Number(n) => {
            strtod_prefix(value).is_some_and(|(v, len)| len == value.len() && v == *n)
        }
        Node::Str(s) => s == value,
        Node::Call(name, args) => call(name, args, value)?,
    })
}

fn strto_whole(value: &str, base: u32, unsigned: bool) -> Option<i64> {
    let (v, n) = strtol_prefix(value, base, unsigned);
    (n > 0 && n == value.len()).then_some(as_c_int(v))
}

fn ip4(value: &str) -> bool {
    value.parse::<std::net::Ipv4Addr>().is_ok()
}

fn call(name: &str, args: &[Node], value: &str) -> Result<bool, String> {
    let first = value.as_bytes().first().copied().unwrap_or(0);
    Ok(match name {
        "or" => {
            for a in args {
                if eval(a, value)? {
                    return Ok(true);
                }
            }
            false
        }
        "and" => {
            for a in args {
                if !eval(a, value)? {
                    return Ok(false);
                }
            }
            true
        }
        "not" => !args.is_empty() && !eval(&args[0], value)?,
        "list" => {
            let Some(inner) = args.first() else {
                return Ok(false);
            };
            for w in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
                if !eval(inner, w)? {
                    return Ok(false);
                }
            }
            true
        }
        "uinteger" | "integer" => {
            let base = number_arg(args, 0).unwrap_or(0) as u32;
            let ok_first = first.is_ascii_hexdigit() || (name == "integer" && first == b'-');
            ok_first && strto_whole(value, base, name == "uinteger").is_some()
        }
        "min" | "max" | "range" => {
            let Some(n) = strto_whole(value, 0, false) else {
                return Ok(false);
            };
            match name {
                "min" => number_arg(args, 0).is_some_and(|m| n >= m),
                "max" => number_arg(args, 0).is_some_and(|m| n <= m),
                _ => match (number_arg(args, 0), number_arg(args, 1)) {
                    (Some(lo), Some(hi)) => n >= lo && n <= hi,
                    _ => false,
                },
            }
        }
        "port" => strto_whole(value, 10, true).is_some_and(|n| n <= 65535),
        "rangelength" => match (number_arg(args, 0), number_arg(args, 1)) {
            (Some(lo), Some(hi)) => (lo..=hi).contains(&(value.len() as i64)),
            _ => false,
        },
        "bool" => [
            "0", "off", "false", "no", "disabled", "1", "on", "true", "yes", "enabled",
        ]
        .iter()
        .any(|b| b.eq_ignore_ascii_case(value)),
        "string" => true,
        "ip4addr" => ip4(value),
        "cidr4" => {
            if value.len() >= "255.255.255.255/32\0".len() {
                return Ok(false);
            }
            match value.split_once('/') {
                None => ip4(value),
                Some((a, p)) => {
                    let (n, len) = strtol_prefix(p, 10, true);
                    len == p.len() && as_c_int(n) <= 32 && ip4(a)
                }
            }
        }
        "regex" => match args.first() {
            Some(Node::Str(re)) => ere::search(&format!("^{re}$"), value)?,
            _ => false,
        },
        other => return Err(format!("datatype function {other} is not modelled")),
    })
}

/// Whether validate_data accepts `value` for `datatype`.
pub fn accepts(datatype: &str, value: &str) -> Result<bool, String> {
    if value.is_empty() {
        return Ok(false);
    }
    let p = Parser { s: datatype };
    // The top level is dt_types[0], `or`, over the comma-separated list.
    let top = p.list(datatype)?;
    call("or", &top, value)
}

/// POSIX extended regular expressions, as much as datatypes use: literals, `.`,
/// bracket expressions (ranges, negation), groups, alternation, `*` `+` `?` `{n}`
/// `{n,m}`; matched whole, with backtracking.
mod ere {
    #[derive(Debug, Clone)]
    enum Re {
        Start,
        End,
        Byte(u8),
        Any,
        Class(Vec<(u8, u8)>, bool),
        Group(Vec<Vec<Re>>),
        Repeat(Box<Re>, usize, Option<usize>),
    }

    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl P<'_> {
        fn alt(&mut self) -> Result<Vec<Vec<Re>>, String> {
            let mut alts = vec![self.seq()?];
            while self.b.get(self.i) == Some(&b'|') {
                self.i += 1;
                alts.push(self.seq()?);
            }
            Ok(alts)
        }
        fn seq(&mut self) -> Result<Vec<Re>, String> {
            let mut out = Vec::new();
            while let Some(&c) = self.b.get(self.i) {
                let atom = match c {
                    b'|' | b')' => break,
                    b'(' => {
                        self.i += 1;
                        let g = self.alt()?;
                        if self.b.get(self.i) != Some(&b')') {
                            return Err("unbalanced (".into());
                        }
                        self.i += 1;
                        Re::Group(g)
                    }
                    b'[' => self.class()?,
                    b'.' => {
                        self.i += 1;
                        Re::Any
                    }
                    b'^' => {
                        self.i += 1;
                        Re::Start
                    }
                    b'$' => {
                        self.i += 1;
                        Re::End
                    }
                    b'\\' => {
                        self.i += 2;
                        Re::Byte(*self.b.get(self.i - 1).ok_or("trailing \\")?)
                    }
                    b'*' | b'+' | b'?' | b'{' => return Err("quantifier without atom".into()),
                    _ => {
                        self.i += 1;
                        Re::Byte(c)
                    }
                };
                out.push(self.quantified(atom)?);
            }
            Ok(out)
        }
        fn quantified(&mut self, mut atom: Re) -> Result<Re, String> {
            loop {
                let (lo, hi) = match self.b.get(self.i) {
                    Some(b'*') => (0, None),
                    Some(b'+') => (1, None),
                    Some(b'?') => (0, Some(1)),
                    Some(b'{') => {
                        let end = self.b[self.i..]
                            .iter()
                            .position(|&c| c == b'}')
                            .ok_or("unbalanced {")?;
                        let body = std::str::from_utf8(&self.b[self.i + 1..self.i + end]).unwrap();
                        let (a, b) = match body.split_once(',') {
                            Some((a, "")) => (a.parse().map_err(|_| "bad {")?, None),
                            Some((a, b)) => (
                                a.parse().map_err(|_| "bad {")?,
                                Some(b.parse().map_err(|_| "bad {")?),
                            ),
                            None => {
                                let n = body.parse().map_err(|_| "bad {")?;
                                (n, Some(n))
                            }
                        };
                        self.i += end;
                        (a, b)
                    }
                    _ => return Ok(atom),
                };
                self.i += 1;
                atom = Re::Repeat(Box::new(atom), lo, hi);
            }
        }
        fn class(&mut self) -> Result<Re, String> {
            self.i += 1;
            let neg = self.b.get(self.i) == Some(&b'^');
            if neg {
                self.i += 1;
            }
            let mut ranges = Vec::new();
            let mut first = true;
            loop {
                let c = *self.b.get(self.i).ok_or("unbalanced [")?;
                if c == b']' && !first {
                    self.i += 1;
                    break;
                }
                first = false;
                if self.b.get(self.i + 1) == Some(&b'-')
                    && self.b.get(self.i + 2).is_some_and(|&e| e != b']')
                {
                    ranges.push((c, self.b[self.i + 2]));
                    self.i += 3;
                } else {
                    ranges.push((c, c));
                    self.i += 1;
                }
            }
            Ok(Re::Class(ranges, neg))
        }
    }

    fn m(seq: &[Re], s: &[u8], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let Some((first, rest)) = seq.split_first() else {
            return k(i);
        };
        let mut next = |j: usize| m(rest, s, j, k);
        one(first, s, i, &mut next)
    }

    fn one(re: &Re, s: &[u8], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match re {
            Re::Start => i == 0 && k(i),
            Re::End => i == s.len() && k(i),
            Re::Byte(c) => s.get(i) == Some(c) && k(i + 1),
            Re::Any => i < s.len() && s[i] != b'\n' && k(i + 1),
            Re::Class(r, neg) => {
                s.get(i)
                    .is_some_and(|c| r.iter().any(|(a, b)| (a..=b).contains(&c)) != *neg)
                    && k(i + 1)
            }
            Re::Group(alts) => alts.iter().any(|a| m(a, s, i, k)),
            Re::Repeat(atom, lo, hi) => rep(atom, *lo, *hi, 0, s, i, k),
        }
    }

    fn rep(
        atom: &Re,
        lo: usize,
        hi: Option<usize>,
        done: usize,
        s: &[u8],
        i: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        // Greedy: one more first (never an empty iteration), then stop.
        if hi.is_none_or(|h| done < h)
            && one(atom, s, i, &mut |j| {
                j > i && rep(atom, lo, hi, done + 1, s, j, k)
            })
        {
            return true;
        }
        done >= lo && k(i)
    }

    /// regexec: does the pattern match anywhere in `s`?
    pub fn search(re: &str, s: &str) -> Result<bool, String> {
        let mut p = P {
            b: re.as_bytes(),
            i: 0,
        };
        let alts = p.alt()?;
        if p.i != re.len() {
            return Err(format!("unbalanced ) in {re}"));
        }
        let s = s.as_bytes();
        Ok((0..=s.len()).any(|start| alts.iter().any(|a| m(a, s, start, &mut |_| true))))
    }
}

/// What validate.c's functions give for some inputs, as read there (the C calls named).
pub fn self_check() {
    // strtoul base 0: hex and octal.
    assert!(accepts("uinteger", "0x100").unwrap());
    assert!(accepts("uinteger", "0150").unwrap());
    assert!(
        !accepts("uinteger", "08").unwrap(),
        "strtoul base 0: 8 is no octal digit"
    );
    assert!(accepts("uinteger(10)", "08").unwrap());
    assert!(!accepts("uinteger(10)", "0x1").unwrap());
    assert!(!accepts("uinteger", "-1").unwrap(), "isxdigit('-')");
    assert!(!accepts("uinteger", " 5").unwrap());
    // range: strtol base 0 into an int.
    assert!(accepts("range(120,604800)", "0x100").unwrap());
    assert!(!accepts("range(120,604800)", "0150").unwrap(), "octal 104");
    assert!(accepts("range(120,604800)", "0200").unwrap(), "octal 128");
    // port: strtoul base 10, an int <= 65535 ("-1" wraps to -1).
    assert!(accepts("port", "-1").unwrap());
    assert!(accepts("port", "08").unwrap());
    assert!(!accepts("port", "0x10").unwrap());
    // cidr4: strtoul for the prefix (an empty or signed one passes), inet_pton.
    assert!(accepts("cidr4", "10.0.0.0/").unwrap());
    assert!(accepts("cidr4", "10.0.0.0/-8").unwrap());
    assert!(!accepts("cidr4", "10.0.0.0/33").unwrap());
    assert!(!accepts("cidr4", "010.0.0.0/8").unwrap());
    // strings, numbers, regex anchoring, bool case, lists, empty.
    assert!(
        accepts("or('sdp','any')", "sdp").unwrap() && !accepts("or('sdp','any')", "SDP").unwrap()
    );
    assert!(accepts("or(5,7)", "5.0").unwrap());
    assert!(!accepts("regex('(a|b)')", "ab").unwrap() && accepts("regex('(a|b)')", "b").unwrap());
    // `^a|b$`: "ax" matches ^a, "xb" matches b$.
    assert!(accepts("regex('a|b')", "ax").unwrap() && accepts("regex('a|b')", "xb").unwrap());
    assert!(
        accepts("regex('[0-9]{3}')", "123").unwrap()
            && !accepts("regex('[0-9]{3}')", "12").unwrap()
    );
    assert!(accepts("bool", "Enabled").unwrap());
    assert!(
        accepts("list(port)", "5060 5061").unwrap() && !accepts("list(port)", "5060 x").unwrap()
    );
    assert!(!accepts("string", "").unwrap());
}
