//! The pure rewrite core.
