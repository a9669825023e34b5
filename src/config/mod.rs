//! The UCI configuration `/etc/config/sipalg`: parsing, validation, defaults.
//!
//! # Why our own UCI parser
//!
//! The `uci_rs` crate (0.1.2, measured in `docs/dependencies.md`) fails on
//! `option x 'it'\''s'`, which is exactly the quoting `uci set`/`uci commit`
//! write for a value holding an apostrophe, fails on multi-line quoted values
//! and keeps the backslashes of `"a \"b\""`. `rust-uci` needs bindgen, libclang
//! and a bundled libuci build. UCI's syntax is small, so [`uci`] implements it
//! (read-only) in under 350 lines with its docs, following libuci's rules.
//!
//! # Sections and options
//!
//! sipalg reads three sections, each by name, or else the first anonymous
//! section of the type (what `uci add` creates):
//!
//! | type | name | options |
//! |---|---|---|
//! | `sipalg` | `main` | enabled, alg, kernel_helper, wan_device, external_address, port (list), tcp, trusted_source (list), media_source, log_level |
//! | `timeouts` | `timeouts` | signaling, media |
//! | `qos` | `qos` | enabled, signaling_dscp, media_dscp |
//!
//! A missing section or option takes its default ([`SCHEMA`], the SPEC's
//! defaults). An empty value (`option external_address ''`) also means the
//! default, and empty list items are skipped, as `validate_data` does.
//!
//! # What is an error and what is a warning
//!
//! * **Errors** (the daemon refuses the config: it will not start, or keeps the
//!   previous one on reload): syntax errors, bad values, and **unknown options
//!   inside our three sections**, so a typo such as `option media_sorce 'any'`
//!   is caught instead of silently ignored (the message suggests the closest
//!   known name).
//! * **Warnings** (reported by `sipalgd check` and logged, config accepted):
//!   sections of an unknown type, and further sections of our types that are
//!   ignored. Other tools may add their own sections, and a config written by
//!   a newer sipalg should not stop an older one from starting; a warning for
//!   a near-miss type (`config timeout`) still says what was probably meant.
//!
//! Every message names the file, line, section and option, for example
//! `/etc/config/sipalg:12: section 'timeouts' option 'media': 30 is below the minimum 60`.
//!
//! The datatypes in [`SCHEMA`] are OpenWrt `validate_data` expressions used by
//! the init script (`files/sipalg.init`; a test checks they agree). The daemon
//! checks a little more than `validate_data` can (e.g. a multicast
//! `external_address` is refused).
//!
//! # Files
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`load`] and [`parse`]: a file to a [`Config`] or its errors |
//! | `uci.rs` | the UCI syntax, following libuci |
//! | `types.rs` | [`Config`] and its parts, the timeout limits, the defaults |
//! | `schema.rs` | [`SCHEMA`]: every option, its datatypes and its setter |
//! | `values.rs` | one value to a typed value (booleans, ports, DSCPs, …) |
//! | `validate.rs` | which sections are read, unknown options, single and list options |
//! | `error.rs` | [`ConfigError`], [`ConfigErrors`] |

mod error;
mod schema;
mod types;
pub mod uci;
mod validate;
mod values;

pub use error::{ConfigError, ConfigErrors};
pub use schema::{OptionSpec, Setter, SCHEMA};
pub use types::{
    Cidr, Config, MediaSource, Qos, Timeouts, MAX_TIMEOUT, MIN_MEDIA_TIMEOUT, MIN_SIGNALING_TIMEOUT,
};
pub use values::{dscp_name, parse_dscp};

use error::whole_file;
use std::path::Path;

// What the tests (`use super::*`) name besides the public items.
#[cfg(test)]
use {
    schema::{DSCP_DATATYPE, SECTIONS},
    std::net::Ipv4Addr,
};

/// Reads and validates `DIR/sipalg`.
pub fn load(config_dir: &Path) -> Result<Config, ConfigErrors> {
    load_with_warnings(config_dir).map(|(c, _)| c)
}

/// Like [`load`], also returning the warnings (unknown or ignored sections).
pub fn load_with_warnings(config_dir: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let path = config_dir.join("sipalg");
    let file = path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => parse_with_warnings(&file, &text),
            Err(_) => Err(ConfigErrors(vec![whole_file(
                &file,
                "is not valid UTF-8 text".into(),
            )])),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigErrors(vec![whole_file(
            &file,
            "the file does not exist (reinstall the sipalg package to get the default, \
             or give another directory with --config-dir)"
                .into(),
        )])),
        Err(e) => Err(ConfigErrors(vec![whole_file(
            &file,
            format!("cannot read the file: {e}"),
        )])),
    }
}

/// Parses and validates the text of a config file; `file_name` is used in messages.
pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigErrors> {
    parse_with_warnings(file_name, text).map(|(c, _)| c)
}

/// Like [`parse`], also returning the warnings (unknown or ignored sections).
pub fn parse_with_warnings(
    file_name: &str,
    text: &str,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let file = uci::parse(text).map_err(|errs| error::syntax(file_name, errs))?;
    validate::validate(file_name, &file)
}

#[cfg(test)]
mod tests;
