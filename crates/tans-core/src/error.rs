//! Typed errors of the shared crate. Every variant names the input it is about, and
//! [`TansError::code`] gives a stable machine-readable code that the wasm facade hands to JS.

use thiserror::Error;

/// Everything that can go wrong in the shared TANS code.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TansError {
    /// A vector or matrix has the wrong size.
    #[error("{what}: expected {expected}, got {got}")]
    DimensionMismatch {
        what: String,
        expected: String,
        got: String,
    },
    /// A set, a zoo or a batch that must hold something is empty.
    #[error("{what} is empty")]
    Empty { what: String },
    /// NaN or infinity in an input.
    #[error("{what} holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        what: String,
        index: usize,
        value: f32,
    },
    /// A parameter outside its allowed range (K = 0, a negative budget, ...).
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: String, reason: String },
    /// Weights or a zoo file that cannot be read: truncated, tampered, or from another network.
    #[error("cannot load {what}: {reason}")]
    Load { what: String, reason: String },
    /// The tensor backend failed (a lost WebGPU device, a failed read).
    #[error("backend error during {during}: {reason}")]
    Backend { during: String, reason: String },
}

impl TansError {
    /// A short stable code for programs (the JS `Error.code` of the wasm package).
    pub fn code(&self) -> &'static str {
        match self {
            Self::DimensionMismatch { .. } => "dimension_mismatch",
            Self::Empty { .. } => "empty_input",
            Self::NonFinite { .. } => "non_finite",
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::Load { .. } => "load_failed",
            Self::Backend { .. } => "backend_failed",
        }
    }

    pub fn dims(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Self::DimensionMismatch {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    pub fn empty(what: impl Into<String>) -> Self {
        Self::Empty { what: what.into() }
    }

    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub fn load(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::Load {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias of the shared crate.
pub type Result<T, E = TansError> = std::result::Result<T, E>;

/// Fails with [`TansError::NonFinite`] at the first NaN or infinity in `values`.
pub fn ensure_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(TansError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}
