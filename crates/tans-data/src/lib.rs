//! The TANS dataset pool: many small image-classification tasks generated offline from the
//! images and fonts that registry packages ship (no dataset hub is reachable).
//!
//! packages ([`sources`]) → task specs ([`families`], checked by [`task::check_disjoint`]) →
//! rendered, augmented views ([`augment`], [`font`]) → an ImageFolder tree plus one packed
//! tensor file per task ([`pool`], [`packed`]) → [`manifest::PoolManifest`].
//! [`folder`] reads any ImageFolder of tasks, generated or a researcher's own.

pub mod augment;
pub mod error;
pub mod families;
pub mod files;
pub mod folder;
pub mod font;
pub mod manifest;
pub mod packed;
pub mod pool;
pub mod preview;
pub mod sources;
pub mod svg;
pub mod task;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::{DataError, Result};

/// Sizes and seed of a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Side of the square RGB images (32 by default; 64 by flag).
    pub image_size: u32,
    pub train_per_class: usize,
    pub test_per_class: usize,
    pub seed: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            image_size: 32,
            train_per_class: 48,
            test_per_class: 12,
            seed: 777,
        }
    }
}

/// Something left out of the pool, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub what: String,
    pub reason: String,
}

impl Dropped {
    pub fn new(what: String, reason: String) -> Self {
        Self { what, reason }
    }
}

/// A seed for one named part of the pool, independent of the order parts are built in.
pub fn seed_for(seed: u64, name: &str) -> u64 {
    let digest = Sha256::digest(format!("{seed}:{name}").as_bytes());
    u64::from_le_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}
