//! `tans zoo …`: the model zoo over the OFA search space (`tans_core::ofa`).
//!
//! - [`space`]: measuring a search space (params, FLOPs, latency of its subnets);
//! - [`db`]: the zoo database — append-only JSON Lines, crash-safe, resumable, split into
//!   shards that a merge combines.

pub mod db;
pub mod space;
