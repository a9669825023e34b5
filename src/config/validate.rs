//! The validator: a parsed UCI file to a [`Config`], with errors (refused) and warnings
//! (reported, accepted) that name the file, line, section and option. Which sections
//! are read, and how single and list options combine, follow libuci and
//! `validate_data` (see the module documentation of [`super`]).

use super::error::{ConfigError, ConfigErrors};
use super::schema::{clear_list, OptionSpec, SCHEMA, SECTIONS};
use super::types::Config;
use super::uci;

/// Validates a parsed file; `file_name` is used in messages.
pub(super) fn validate(
    file_name: &str,
    file: &uci::UciFile,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let mut v = Validator {
        file: file_name,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let config = v.config(file);
    if v.errors.is_empty() {
        Ok((config, v.warnings))
    } else {
        Err(ConfigErrors(v.errors))
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Validator<'f> {
    file: &'f str,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

/// A chosen section: its label for messages and its entries (merged when a
/// named section appears several times, as libuci merges them).
struct Chosen<'a> {
    label: String,
    entries: Vec<&'a uci::Entry>,
}

impl<'f> Validator<'f> {
    fn at(
        &self,
        line: Option<usize>,
        section: Option<&str>,
        option: Option<&str>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line,
            section: section.map(str::to_string),
            option: option.map(str::to_string),
            message,
        }
    }

    fn config(&mut self, file: &uci::UciFile) -> Config {
        let mut chosen: Vec<Option<Chosen<'_>>> = Vec::new();
        let mut used = vec![false; file.sections.len()];
        for (stype, name) in SECTIONS {
            let named: Vec<usize> = (0..file.sections.len())
                .filter(|&i| {
                    file.sections[i].stype == *stype
                        && file.sections[i].name.as_deref() == Some(*name)
                })
                .collect();
            let pick: Vec<usize> = if named.is_empty() {
                (0..file.sections.len())
                    .find(|&i| file.sections[i].stype == *stype && file.sections[i].name.is_none())
                    .into_iter()
                    .collect()
            } else {
                named
            };
            let label = match pick.first() {
                Some(&i) if file.sections[i].name.is_none() => format!("@{stype}[0]"),
                _ => name.to_string(),
            };
            for &i in &pick {
                used[i] = true;
            }
            chosen.push(if pick.is_empty() {
                None
            } else {
                Some(Chosen {
                    label,
                    entries: pick
                        .iter()
                        .flat_map(|&i| file.sections[i].entries.iter())
                        .collect(),
                })
            });
        }
        self.warn_unused(file, &used);

        let mut c = Config::default();
        for ((_, name), chosen) in SECTIONS.iter().zip(chosen) {
            let Some(s) = chosen else {
                continue;
            };
            self.check_unknown(&s, name);
            for o in SCHEMA.iter().filter(|o| o.section == *name) {
                if o.list || o.uci_datatype.starts_with("list(") {
                    self.list(&s, o, &mut c);
                } else {
                    self.single(&s, o, &mut c);
                }
            }
        }
        c
    }

    fn warn_unused(&mut self, file: &uci::UciFile, used: &[bool]) {
        let mut seen_anonymous = std::collections::HashMap::<&str, usize>::new();
        for (i, s) in file.sections.iter().enumerate() {
            let label = match &s.name {
                Some(n) => n.clone(),
                None => {
                    let n = seen_anonymous.entry(s.stype.as_str()).or_default();
                    *n += 1;
                    format!("@{}[{}]", s.stype, *n - 1)
                }
            };
            if used[i] {
                continue;
            }
            let message = match SECTIONS.iter().find(|(t, _)| *t == s.stype) {
                Some((t, n)) => format!(
                    "ignored: sipalg reads only the '{t}' section named '{n}' \
                     (or, without it, the first anonymous '{t}' section)"
                ),
                None => {
                    let hint = closest(&s.stype, SECTIONS.iter().map(|(t, _)| *t))
                        .map(|t| format!("; did you mean 'config {t}'?"))
                        .unwrap_or_default();
                    format!(
                        "unknown section type '{}' is ignored (sipalg reads 'sipalg', \
                         'timeouts' and 'qos'){hint}",
                        s.stype
                    )
                }
            };
            let w = self.at(Some(s.line), Some(&label), None, message);
            self.warnings.push(w);
        }
    }

    fn check_unknown(&mut self, s: &Chosen<'_>, section: &str) {
        let known = || {
            SCHEMA
                .iter()
                .filter(move |o| o.section == section)
                .map(|o| o.option)
        };
        for e in &s.entries {
            if known().any(|k| k == e.key) {
                continue;
            }
            let hint = closest(&e.key, known())
                .map(|k| format!("; did you mean '{k}'?"))
                .unwrap_or_default();
            let all: Vec<&str> = known().collect();
            let err = self.at(
                Some(e.line),
                Some(&s.label),
                Some(&e.key),
                format!("unknown option{hint} (known: {})", all.join(", ")),
            );
            self.errors.push(err);
        }
    }

    /// The value of a single-valued option: the last `option` line wins (as in
    /// libuci); a `list` line is an error; an empty value means the default.
    fn single(&mut self, s: &Chosen<'_>, o: &OptionSpec, c: &mut Config) {
        let key = o.option;
        let mut last = None;
        for e in s.entries.iter().filter(|e| e.key == key) {
            if e.list {
                let err = self.at(
                    Some(e.line),
                    Some(&s.label),
                    Some(key),
                    format!("takes a single value: write 'option {key}', not 'list {key}'"),
                );
                self.errors.push(err);
                return;
            }
            last = Some(*e);
        }
        let Some(e) = last else {
            return;
        };
        if e.value.is_empty() {
            return;
        }
        if let Err(m) = (o.set)(c, &e.value) {
            let err = self.at(Some(e.line), Some(&s.label), Some(key), m);
            self.errors.push(err);
        }
    }

    /// The items of a list option: `list` lines append, an `option` line
    /// replaces what came before (as in libuci); every value is split on
    /// whitespace and empty items are skipped, as `validate_data` does.
    /// Without items (or on error) the default stays.
    fn list(&mut self, s: &Chosen<'_>, o: &OptionSpec, c: &mut Config) {
        let key = o.option;
        let mut lines: Vec<&uci::Entry> = Vec::new();
        for e in s.entries.iter().filter(|e| e.key == key) {
            if !e.list {
                lines.clear();
            }
            lines.push(e);
        }
        // The items go into a config whose list is empty, then replace the
        // default's.
        let mut fresh = c.clone();
        clear_list(&mut fresh, key);
        let mut any = false;
        let mut ok = true;
        for e in lines {
            for item in e.value.split_whitespace() {
                any = true;
                if let Err(m) = (o.set)(&mut fresh, item) {
                    ok = false;
                    let err = self.at(Some(e.line), Some(&s.label), Some(key), m);
                    self.errors.push(err);
                }
            }
        }
        if ok && any {
            *c = fresh;
        }
    }
}
