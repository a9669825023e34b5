//! Errors and warnings about a configuration file, each with where it is.

use std::fmt;

/// One error (or warning) about the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path as given.
    pub file: String,
    /// 1-based line, if the problem is on a line.
    pub line: Option<usize>,
    /// Section name, or `@type[n]` for an anonymous section.
    pub section: Option<String>,
    /// Option name.
    pub option: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(":")?;
        if let Some(s) = &self.section {
            write!(f, " section '{s}'")?;
        }
        if let Some(o) = &self.option {
            write!(f, " option '{o}'")?;
        }
        if self.section.is_some() || self.option.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// All the errors of one config file; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) fn whole_file(file: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: None,
        section: None,
        option: None,
        message,
    }
}

/// The syntax errors of [`super::uci::parse`], in `file`.
pub(super) fn syntax(file: &str, errors: Vec<super::uci::SyntaxError>) -> ConfigErrors {
    ConfigErrors(
        errors
            .into_iter()
            .map(|e| ConfigError {
                file: file.to_string(),
                line: Some(e.line),
                section: None,
                option: None,
                message: e.message,
            })
            .collect(),
    )
}
