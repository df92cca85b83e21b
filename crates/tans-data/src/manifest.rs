//! `pool.json`: what a pool holds and how it was made — tasks, classes, counts, source packages
//! with versions and licenses, seed, generator version, and everything left out with its reason.
//! No timestamps, so the same inputs give the same bytes.

use serde::{Deserialize, Serialize};

use crate::sources::SourcePackage;
use crate::task::Stage;
use crate::{Dropped, PoolConfig};

pub const MANIFEST: &str = "pool.json";
/// Bumped (the `+rN`) whenever rendering changes, so resumed builds do not reuse older tasks.
pub const GENERATOR: &str = concat!("tans-data ", env!("CARGO_PKG_VERSION"), "+r2");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolManifest {
    pub generator: String,
    pub config: PoolConfig,
    pub sources: Vec<SourcePackage>,
    pub tasks: Vec<TaskEntry>,
    /// Tasks, fonts or scripts left out, with the reason.
    pub dropped: Vec<Dropped>,
    /// Source images that could not be rendered or decoded, with the reason.
    pub skipped_images: Vec<Dropped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry {
    pub name: String,
    pub family: String,
    pub stage: Stage,
    pub classes: Vec<String>,
    pub train_images: usize,
    pub test_images: usize,
    /// Distinct source images behind the train and test views.
    pub train_sources: usize,
    pub test_sources: usize,
}
