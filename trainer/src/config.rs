//! Configuration files: every `--config` of the CLI is TOML, and a missing file means the
//! built-in defaults.

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// `T` from the TOML file at `path`, or `T::default()` without one; a file that cannot be read
/// or parsed is an error naming it.
pub fn load_toml<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T> {
    match path {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display())),
        None => Ok(T::default()),
    }
}
