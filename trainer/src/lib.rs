//! The trainer's library: each module is one `tans` verb's work (pool data, backbone import and
//! features, zoo training and publishing), callable from the CLI in `main.rs` and from tests.

pub mod backbone;
pub mod compute;
pub mod config;
pub mod data;
pub mod features;
pub mod meta;
pub mod pareto;
pub mod plot;
pub mod publish;
pub mod search;
pub mod synthetic;
pub mod synthetic_zoo;
pub mod timing;
pub mod zoo;

/// Tests that seed burn's device RNG and then draw from it hold this lock, so that tests running
/// in parallel threads do not draw from each other's seeded stream.
#[cfg(test)]
pub(crate) static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
