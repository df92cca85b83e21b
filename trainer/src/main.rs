//! `tans`: the native CLI that builds, trains and publishes TANS model zoos.

mod files;
mod publish;
mod synthetic;
mod synthetic_zoo;
mod train;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tans",
    version,
    about = "Task-Adaptive Network Search: build, train and publish model zoos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a small synthetic zoo end to end (generate, meta-train, publish) with sample
    /// queries and, optionally, the native search results other runtimes must reproduce.
    SyntheticZoo {
        /// Output folder (created; files inside are replaced atomically).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Training steps.
        #[arg(long, default_value_t = 150)]
        steps: usize,
        /// Query encoder: linear (the paper's) or deep.
        #[arg(long, default_value = "deep")]
        query_encoder: String,
        /// Also write native reference results for the samples to this file.
        #[arg(long)]
        reference: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::SyntheticZoo {
            out,
            seed,
            steps,
            query_encoder,
            reference,
        } => synthetic_zoo::run(synthetic_zoo::Options {
            out,
            seed,
            steps,
            query_encoder,
            reference,
        }),
    }
}
