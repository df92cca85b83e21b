//! `tans zoo …`: the model zoo over the OFA search space (`tans_core::ofa`).
//!
//! - [`space`]: measuring a search space (params, FLOPs, latency of its subnets);
//! - [`build`]: training the base and per-task supernets and filling the database;
//! - [`bench`]: supernet training throughput, for the benchmark against PyTorch;
//! - [`construct`]: efficient (Pareto) against random construction, replayed over a zoo;
//! - [`report`]: a built zoo's sanity figures (fine-tuned vs base, accuracy and size spread);
//! - [`db`]: the zoo database — append-only JSON Lines, crash-safe, resumable, split into
//!   shards that a merge combines.

pub mod bench;
pub mod build;
pub mod construct;
pub mod db;
pub mod report;
pub mod space;
