//! `tans transfer`: the result that matters. For every meta-test task of a pool, each selector
//! picks one network for the task; every pick gets a new head and is fine-tuned on the task's
//! training images (SGD with momentum and weight decay, a cosine schedule stepped per epoch) for
//! each epoch budget and seed, then scored on the task's test images.
//!
//! Selectors: TANS as the product runs it (the published zoo through `Retriever`: top-1 by
//! similarity, and re-ranked by the predictor), the generic network (the base supernet's largest
//! subnet, our "ImageNet MobileNetV3"), a random zoo model, the largest zoo model, the
//! dataset-agnostic global best (the zoo model with the highest accuracy on its own task),
//! LogME and a k-NN probe (each scores a seeded sample of zoo models from one forward pass of
//! the task's training images), and the oracle: the best fine-tuned network among every pick,
//! TANS's top models and the first models of that sample. Every network is cut out of its supernet with batch
//! norm recalibrated on the task's training images. Also: each selector's cost (seconds and
//! images through networks), LogME's cost over the whole zoo (its measured cost per candidate
//! times the zoo's size), and the weighted Kendall τ and Spearman ρ of each ranking against fine-tuned
//! accuracy over the oracle's networks. Under parameter and FLOPs budgets, TANS's constrained
//! pick against the largest base subnet that fits. The predictor's error on TANS's top models
//! and on the sample, against predictors refitted without the query or the model embedding
//! ([`super::predictor_fit`]). Fine-tuning results are kept in `transfer-runs.json`, so a
//! killed evaluation resumes. With `--shard i/N`, N processes fine-tune for disjoint tasks side
//! by side (each into `transfer-runs.shard-i-of-N.json`), and a run without it, finding every
//! fine-tuning done, writes the report.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::{SliceRandom, index};
use serde::{Deserialize, Serialize};
use tans_core::backbone::ImageEncoder;
use tans_core::networks::PerformancePredictor;
use tans_core::ofa::{Cost, SpaceConfig, Subnet, Supernet};
use tans_core::zoo::sha256_hex;
use tans_core::{QueryBatch, SearchRequest, Topology};
use tans_data::files::write_atomic;
use tans_data::packed::PackedTask;
use tans_data::task::Stage;

use super::data::MetaData;
use super::logme::logme;
use super::predictor_fit::{self, Inputs, Pairs, mse};
use crate::publish;
use crate::zoo::build::{self, BuildConfig, Images};
use crate::zoo::db::{Shard, ZooDb, ZooEntry};

/// Every setting of a transfer evaluation (`--config transfer.toml`; missing fields take
/// these defaults: the fine-tuning recipe, 3 seeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferConfig {
    /// Epoch budgets; each is its own fine-tuning run with its own cosine schedule.
    pub epochs: Vec<usize>,
    pub seeds: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f32,
    pub batch: usize,
    /// TANS's query: this many training images of every class.
    pub per_class: usize,
    /// TANS re-ranks its `rerank` most similar models by predicted accuracy.
    pub rerank: usize,
    /// Zoo models LogME and the k-NN probe score (one seeded sample per task).
    pub candidates: usize,
    /// How many of those are also fine-tuned, for the oracle and the rank correlations.
    pub oracle_candidates: usize,
    /// Neighbours of the k-NN probe.
    pub knn: usize,
    /// Batches of `batch` training images that recalibrate batch norm.
    pub calibration_batches: usize,
    /// Parameter budgets: under each, TANS's pick (re-ranked, constrained search) against the
    /// largest base-supernet subnet within the budget (the paper's Fig. 6a analogue).
    pub max_params: Vec<u64>,
    /// FLOPs budgets, the same way (Fig. 6b).
    pub max_flops: Vec<u64>,
    /// The predictor ablation (Fig. 7c): seeded queries per meta-train task and Adam epochs
    /// of the predictors refitted on the frozen embeddings.
    pub predictor_draws: usize,
    pub predictor_epochs: usize,
    pub seed: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            epochs: vec![1, 5],
            seeds: 3,
            learning_rate: 1e-2,
            momentum: 0.9,
            weight_decay: 4e-5,
            batch: 32,
            per_class: 20,
            rerank: 10,
            candidates: 30,
            oracle_candidates: 10,
            knn: 5,
            calibration_batches: 4,
            max_params: vec![350_000, 500_000],
            max_flops: vec![7_000_000, 9_000_000],
            predictor_draws: 5,
            predictor_epochs: 30,
            seed: 777,
        }
    }
}

impl TransferConfig {
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let config: Self = crate::config::load_toml(path)?;
        ensure!(
            !config.epochs.is_empty() && config.epochs.iter().all(|&e| e > 0),
            "transfer config: epochs must list positive budgets"
        );
        ensure!(
            config.seeds > 0 && config.batch > 0 && config.per_class > 0,
            "transfer config: seeds, batch and per_class must be positive"
        );
        ensure!(
            config.learning_rate > 0.0 && config.rerank > 0 && config.knn > 0,
            "transfer config: learning_rate, rerank and knn must be positive"
        );
        ensure!(
            config.candidates > 0 && config.oracle_candidates <= config.candidates,
            "transfer config: candidates must be positive and at least oracle_candidates"
        );
        ensure!(
            config.calibration_batches > 0,
            "transfer config: calibration_batches must be positive"
        );
        ensure!(
            config.predictor_draws > 0 && config.predictor_epochs > 0,
            "transfer config: predictor_draws and predictor_epochs must be positive"
        );
        Ok(config)
    }
}

pub struct Options {
    /// A published zoo (`tans meta-train --out`): what TANS retrieves with.
    pub published: PathBuf,
    /// The zoo folder it was published from (database and supernets).
    pub zoo: PathBuf,
    pub pool: PathBuf,
    /// The image backbone's weights and input side (TANS encodes its queries as the page does).
    pub weights: PathBuf,
    pub side: u32,
    /// The zoo's build configuration (its search space).
    pub zoo_config: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub out: PathBuf,
    /// The meta-test tasks this process fine-tunes for; a shard writes no report.
    pub shard: Shard,
    pub device: Device,
    pub device_name: String,
}

/// The selectors, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    Tans,
    TansReranked,
    Generic,
    Random,
    Largest,
    GlobalBest,
    LogMe,
    Knn,
    Oracle,
}

impl Selector {
    pub const ALL: [Selector; 9] = [
        Self::Tans,
        Self::TansReranked,
        Self::Generic,
        Self::Random,
        Self::Largest,
        Self::GlobalBest,
        Self::LogMe,
        Self::Knn,
        Self::Oracle,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Tans => "TANS (top-1)",
            Self::TansReranked => "TANS (predictor re-ranked)",
            Self::Generic => "generic (base supernet, largest)",
            Self::Random => "random zoo model",
            Self::Largest => "largest zoo model",
            Self::GlobalBest => "global best (dataset-agnostic)",
            Self::LogMe => "LogME over the sample",
            Self::Knn => "k-NN probe over the sample",
            Self::Oracle => "oracle (best fine-tuned)",
        }
    }
}

/// A network a selector can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// The base supernet's largest subnet.
    Base,
    /// A subnet of the base supernet, by its index in the run's seeded list of topologies.
    BaseSubnet(usize),
    /// A zoo model, by its index in the zoo database.
    Zoo(usize),
}

/// One fine-tuning run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuned {
    pub task: String,
    pub network: Network,
    pub epochs: usize,
    pub seed: u64,
    pub accuracy: f64,
    pub seconds: f64,
}

/// What one selector did on one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    pub selector: Selector,
    pub network: Network,
    /// Wall-clock seconds the choice took.
    pub seconds: f64,
    /// Images passed through a network to choose (the backbone for TANS, every scored
    /// candidate for LogME and k-NN).
    pub forward_images: usize,
    /// Per epoch budget: mean fine-tuned test accuracy over the seeds and its 95% interval.
    pub accuracy: Vec<(usize, f64, f64)>,
}

/// How one ranking of zoo networks agrees with their fine-tuned accuracy on a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlation {
    pub ranking: String,
    pub weighted_tau: f64,
    pub spearman: f64,
}

/// A bound on one cost of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    MaxParams(u64),
    MaxFlops(u64),
}

impl Budget {
    /// The cost it bounds, of `cost`.
    fn measure(self, cost: &tans_core::ofa::Cost) -> u64 {
        match self {
            Self::MaxParams(_) => cost.params,
            Self::MaxFlops(_) => cost.flops,
        }
    }

    fn limit(self) -> u64 {
        match self {
            Self::MaxParams(limit) | Self::MaxFlops(limit) => limit,
        }
    }

    fn constraints(self) -> tans_core::Constraints {
        match self {
            Self::MaxParams(limit) => tans_core::Constraints {
                max_params: Some(limit),
                ..Default::default()
            },
            Self::MaxFlops(limit) => tans_core::Constraints {
                max_flops: Some(limit),
                ..Default::default()
            },
        }
    }

    fn label(self) -> String {
        match self {
            Self::MaxParams(limit) => format!("params ≤ {limit}"),
            Self::MaxFlops(limit) => format!("FLOPs ≤ {limit}"),
        }
    }
}

/// A network picked under a budget, and how it fine-tuned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetPick {
    pub network: Network,
    pub params: u64,
    pub flops: u64,
    /// Per epoch budget: mean fine-tuned test accuracy over the seeds and its 95% interval.
    pub accuracy: Vec<(usize, f64, f64)>,
}

/// TANS against the generic network under one budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Constrained {
    pub budget: Budget,
    /// `None` when no zoo model fits the budget.
    pub tans: Option<BudgetPick>,
    /// `None` when no base subnet fits the budget.
    pub generic: Option<BudgetPick>,
}

/// One task's part of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskReport {
    pub task: String,
    pub classes: usize,
    pub train_images: usize,
    pub test_images: usize,
    pub selections: Vec<Selection>,
    /// LogME over the whole zoo at its measured cost per candidate.
    pub logme_whole_zoo_seconds: f64,
    /// Each ranking against fine-tuned accuracy (the largest budget) over the oracle's
    /// networks.
    pub correlations: Vec<Correlation>,
    /// How many zoo networks the oracle and τ cover.
    pub oracle_networks: usize,
    pub constrained: Vec<Constrained>,
    /// The predictor's error against fine-tuned accuracy (the largest epoch budget).
    pub predictor: Vec<PredictorError>,
    /// How many of the top-ranked models the first column covers.
    pub predictor_top: usize,
    /// The task's query embedding (for the projection plot).
    pub query_embedding: Vec<f32>,
}

/// One predictor's mean squared error on a task: over TANS's top-ranked models (Fig. 7c) and
/// over the seeded sample of the zoo that is fine-tuned for the oracle, a small zoo (Fig. 7d).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictorError {
    pub predictor: String,
    pub top_mse: f64,
    pub sample_mse: f64,
}

/// Fine-tuning results so far, kept on disk: this process's own file, and what the other
/// shards' processes of the same report recorded in theirs.
struct Runs {
    path: PathBuf,
    fingerprint: String,
    done: Vec<FineTuned>,
    others: Vec<FineTuned>,
}

#[derive(Serialize, Deserialize)]
struct RunsFile {
    fingerprint: String,
    done: Vec<FineTuned>,
}

impl Runs {
    const PREFIX: &str = "transfer-runs";

    /// `transfer-runs.json` in `out`, or `transfer-runs.shard-I-of-N.json` for a shard.
    fn open(out: &Path, shard: Shard, fingerprint: String) -> Result<Self> {
        let path = if shard == Shard::WHOLE {
            out.join(format!("{}.json", Self::PREFIX))
        } else {
            out.join(format!(
                "{}.shard-{}-of-{}.json",
                Self::PREFIX,
                shard.index,
                shard.count
            ))
        };
        let read = |path: &Path| -> Vec<FineTuned> {
            std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<RunsFile>(&b).ok())
                .filter(|f| f.fingerprint == fingerprint)
                .map(|f| f.done)
                .unwrap_or_default()
        };
        let mut others = Vec::new();
        for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
            let other = entry?.path();
            let name = other.file_name().unwrap_or_default().to_string_lossy();
            if other != path && name.starts_with(Self::PREFIX) && name.ends_with(".json") {
                others.extend(read(&other));
            }
        }
        Ok(Self {
            done: read(&path),
            path,
            fingerprint,
            others,
        })
    }

    fn find(&self, task: &str, network: Network, epochs: usize, seed: u64) -> Option<f64> {
        self.done
            .iter()
            .chain(&self.others)
            .find(|r| {
                r.task == task && r.network == network && r.epochs == epochs && r.seed == seed
            })
            .map(|r| r.accuracy)
    }

    fn record(&mut self, run: FineTuned) -> Result<()> {
        self.done.push(run);
        let file = RunsFile {
            fingerprint: self.fingerprint.clone(),
            done: self.done.clone(),
        };
        Ok(write_atomic(
            &self.path,
            serde_json::to_string(&file)?.as_bytes(),
        )?)
    }
}

/// Mean and the half-width of its 95% confidence interval (Student's t).
pub fn mean_ci(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    // t(0.975, n − 1) for small n; the normal quantile beyond.
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    let t = T.get(n - 2).copied().unwrap_or(1.96);
    (mean, t * (var / n as f64).sqrt())
}

/// Weighted Kendall τ (Vigna 2015, hyperbolic additive weights as scipy's `weightedtau`):
/// concordance of `scores` with `truth`, where pairs near the top of either ranking count most;
/// the average of the τ weighted by each ranking's positions.
pub fn weighted_tau(scores: &[f64], truth: &[f64]) -> f64 {
    let n = scores.len();
    let weighted = |by: &[f64]| -> f64 {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| by[b].total_cmp(&by[a]));
        let mut rank = vec![0usize; n];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        let (mut agree, mut total) = (0.0, 0.0);
        for i in 0..n {
            for j in i + 1..n {
                let w = 1.0 / (rank[i] + 1) as f64 + 1.0 / (rank[j] + 1) as f64;
                let s = (scores[i] - scores[j]).signum() * (truth[i] - truth[j]).signum();
                agree += w * s;
                total += w;
            }
        }
        if total > 0.0 { agree / total } else { 0.0 }
    };
    (weighted(scores) + weighted(truth)) / 2.0
}

/// Spearman's rank correlation (ties share their mean rank).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&x, &y| values[x].total_cmp(&values[y]));
        let mut ranks = vec![0.0; values.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && values[order[end]] == values[order[start]] {
                end += 1;
            }
            for &i in &order[start..end] {
                ranks[i] = (start + end - 1) as f64 / 2.0;
            }
            start = end;
        }
        ranks
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |r: &[f64], m: f64| r.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let denominator = (var(&ra, ma) * var(&rb, mb)).sqrt();
    if denominator > 0.0 {
        cov / denominator
    } else {
        0.0
    }
}

/// Leave-one-out accuracy of a `k`-nearest-neighbour vote by cosine similarity over `features`
/// (`[n, dim]`): how well a candidate's features separate the task's classes without training.
pub fn knn_accuracy(features: &[f32], dim: usize, labels: &[u32], k: usize) -> f64 {
    let n = labels.len();
    let normalised: Vec<f32> = features
        .chunks_exact(dim)
        .flat_map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |v| v / norm)
        })
        .collect();
    let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut correct = 0usize;
    for i in 0..n {
        let row = &normalised[i * dim..(i + 1) * dim];
        let mut neighbours: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let other = &normalised[j * dim..(j + 1) * dim];
                (row.iter().zip(other).map(|(a, b)| a * b).sum(), j)
            })
            .collect();
        let k = k.min(neighbours.len());
        if k == 0 {
            continue;
        }
        neighbours.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let mut votes = vec![(0usize, f32::NEG_INFINITY); classes];
        for &(similarity, j) in &neighbours[..k] {
            let vote = &mut votes[labels[j] as usize];
            vote.0 += 1;
            vote.1 = vote.1.max(similarity);
        }
        let predicted = (0..classes)
            .max_by(|&a, &b| {
                votes[a]
                    .0
                    .cmp(&votes[b].0)
                    .then(votes[a].1.total_cmp(&votes[b].1))
            })
            .expect("at least one class");
        correct += usize::from(predicted == labels[i] as usize);
    }
    correct as f64 / n.max(1) as f64
}

/// Reads supernets of the zoo once each, checking their SHA-256 against the database.
struct Supernets<'a> {
    zoo: &'a Path,
    space: &'a SpaceConfig,
    /// Classes of each meta-train task (the size of its supernet's classifier).
    classes: &'a HashMap<String, usize>,
    device: Device,
    loaded: HashMap<String, Supernet>,
}

impl Supernets<'_> {
    fn get(&mut self, entry: &ZooEntry) -> Result<&Supernet> {
        if !self.loaded.contains_key(&entry.supernet) {
            let path = self.zoo.join(&entry.supernet);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            ensure!(
                sha256_hex(&bytes) == entry.supernet_sha256,
                "{}: SHA-256 differs from the zoo database's (rebuilt or damaged since)",
                path.display()
            );
            let classes = *self.classes.get(&entry.task).with_context(|| {
                format!(
                    "zoo task {}: not in the pool, so its classes are unknown",
                    entry.task
                )
            })?;
            let space = SpaceConfig {
                classes,
                ..self.space.clone()
            };
            let supernet = tans_core::weights::load(
                Supernet::new(&space, &Device::flex())?,
                &bytes,
                &path.display().to_string(),
            )?
            .to_device(&self.device);
            self.loaded.insert(entry.supernet.clone(), supernet);
        }
        Ok(&self.loaded[&entry.supernet])
    }
}

/// Everything a task's evaluation needs.
struct Transfer<'a> {
    config: &'a TransferConfig,
    entries: &'a [ZooEntry],
    base: &'a Supernet,
    /// The base subnets [`Network::BaseSubnet`] indexes.
    base_topologies: &'a [Topology],
    device: &'a Device,
}

impl Transfer<'_> {
    /// The network, cut out and recalibrated on `train` (the same calibration draw for every
    /// network of a task).
    fn materialise(
        &self,
        network: Network,
        supernets: &mut Supernets,
        train: &Images,
        task_seed: u64,
    ) -> Result<Subnet> {
        let mut rng = StdRng::seed_from_u64(task_seed);
        let (supernet, topology) = match network {
            Network::Base => (self.base, Topology::largest()),
            Network::BaseSubnet(i) => (self.base, self.base_topologies[i].clone()),
            Network::Zoo(i) => {
                let entry = &self.entries[i];
                (supernets.get(entry)?, entry.topology.clone())
            }
        };
        build::calibrated_subnet(
            supernet,
            &topology,
            train,
            self.config.batch,
            self.config.calibration_batches,
            &mut rng,
        )
    }

    /// Penultimate features `[n, dim]` of every training image, and `dim`.
    fn features(&self, subnet: &Subnet, train: &Images) -> Result<(Vec<f32>, usize)> {
        let all: Vec<usize> = (0..train.len()).collect();
        let mut out = Vec::new();
        let mut dim = 0;
        for indices in all.chunks(256) {
            let features = subnet.features(train.batch(indices, self.device).0);
            dim = features.dims()[1];
            out.extend(
                features
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("reading features: {e:?}"))?,
            );
        }
        if let Some(at) = out.iter().position(|v| !v.is_finite()) {
            bail!("feature {} of image {} is not finite", at % dim, at / dim);
        }
        Ok((out, dim))
    }

    /// Fine-tunes `subnet` with a new head for `classes` classes; returns its test accuracy.
    fn fine_tune(
        &self,
        subnet: Subnet,
        classes: usize,
        train: &Images,
        test: &Images,
        epochs: usize,
        seed: u64,
    ) -> Result<f64> {
        let config = self.config;
        let cpu = Device::flex();
        cpu.seed(seed);
        let autodiff = self.device.clone().autodiff();
        let mut model = subnet
            .with_classifier(classes, &cpu)
            .to_device(&autodiff)
            .train();
        let mut optimiser = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(config.momentum)))
            .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
                config.weight_decay,
            )))
            .init();
        let loss = CrossEntropyLossConfig::new().init(&autodiff);
        for epoch in 0..epochs {
            let rate = config.learning_rate
                * 0.5
                * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos());
            let mut rng = StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9));
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rng);
            for indices in order.chunks(config.batch) {
                let (images, labels) = train.batch(indices, &autodiff);
                let l = loss.forward(model.forward(images), labels);
                let value = l.clone().into_scalar::<f32>();
                ensure!(
                    value.is_finite(),
                    "fine-tuning diverged in epoch {epoch} (loss {value})"
                );
                let grads = GradientsParams::from_grads(l.backward(), &model);
                model = optimiser.step(rate, model, grads);
            }
        }
        Ok(build::accuracy(&model.valid(), test, None))
    }
}

/// `per_class` seeded training images of every class, as backbone inputs, with labels.
fn query_inputs(task: &PackedTask, per_class: usize, side: u32, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut by_class: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &label) in task.train_labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let size = task.image_size;
    let bytes = (size * size * 3) as usize;
    let (mut inputs, mut labels) = (Vec::new(), Vec::new());
    for (class, (_, rows)) in by_class.iter().enumerate() {
        let picks = index::sample(&mut rng, rows.len(), per_class.min(rows.len()));
        for pick in picks {
            let row = rows[pick];
            inputs.extend(crate::features::packed_input(
                &task.train_images[row * bytes..(row + 1) * bytes],
                size,
                side,
            ));
            labels.push(class as u32);
        }
    }
    (inputs, labels)
}

fn argmax(values: &[f64]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)))
        .expect("a non-empty list")
}

pub fn run(options: Options) -> Result<()> {
    let config = TransferConfig::load(options.config.as_deref())?;
    let build_config = BuildConfig::load(options.zoo_config.as_deref())?;
    let device = &options.device;
    let retriever = publish::open(&options.published, device)?;
    let db_path = Shard::WHOLE.database(&options.zoo);
    let db = ZooDb::open(&db_path)?;
    let entries = db.entries();
    let cards = &retriever.index().manifest.models;
    ensure!(
        cards.len() == entries.len(),
        "{} holds {} models, the zoo database {} holds {}: publish it again (`tans meta-train`)",
        options.published.display(),
        cards.len(),
        db_path.display(),
        entries.len()
    );
    if let Some(i) = (0..cards.len())
        .find(|&i| cards[i].task != entries[i].task || cards[i].topology != entries[i].topology)
    {
        bail!(
            "model {i} of {} ({}) is not entry {i} of {} ({}): the published zoo and the database are out of sync",
            options.published.display(),
            cards[i].id,
            db_path.display(),
            entries[i].task
        );
    }
    let meta_train = build::pool_tasks(&options.pool, Stage::MetaTrain)?;
    let meta_test = build::pool_tasks(&options.pool, Stage::MetaTest)?;
    let classes: HashMap<String, usize> = meta_train
        .iter()
        .map(|t| (t.name.clone(), t.classes.len()))
        .collect();
    drop(meta_train);
    let base_path = build::base_path(&options.zoo);
    let (base_bytes, record) = build::read_base(&options.zoo)?;
    let base = tans_core::weights::load(
        Supernet::new(
            &SpaceConfig {
                classes: record.classes,
                ..build_config.space.clone()
            },
            &Device::flex(),
        )?,
        &base_bytes,
        &base_path.display().to_string(),
    )?
    .to_device(device);
    let weights = std::fs::read(&options.weights).with_context(|| {
        format!(
            "reading the backbone weights {} (`tans backbone import` writes them)",
            options.weights.display()
        )
    })?;
    let encoder = ImageEncoder::from_bytes(&weights, &Device::flex())?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let fingerprint = sha256_hex(
        format!(
            "{}:{}:{}",
            serde_json::to_string(&config)?,
            serde_json::to_string(&build_config)?,
            sha256_hex(&std::fs::read(&db_path)?)
        )
        .as_bytes(),
    );
    let mut runs = Runs::open(&options.out, options.shard, fingerprint)?;
    // Base subnets to choose from under a budget: the smallest and a seeded sample.
    let mut topology_rng = StdRng::seed_from_u64(config.seed);
    let base_topologies: Vec<Topology> = std::iter::once(Topology::smallest())
        .chain((0..500).map(|_| crate::synthetic::random_topology(&mut topology_rng)))
        .collect();
    let base_costs: Vec<Cost> = base_topologies
        .iter()
        .map(|t| Cost::of(&build_config.space, t))
        .collect();
    let generic_within = |budget: Budget| -> Option<usize> {
        (0..base_topologies.len())
            .filter(|&i| budget.measure(&base_costs[i]) <= budget.limit())
            .max_by_key(|&i| budget.measure(&base_costs[i]))
    };
    let budgets: Vec<Budget> = config
        .max_params
        .iter()
        .map(|&b| Budget::MaxParams(b))
        .chain(config.max_flops.iter().map(|&b| Budget::MaxFlops(b)))
        .collect();
    // The predictor ablation: three predictors refitted on the frozen meta-train embeddings.
    let pairs = {
        let data = MetaData::from_zoo(&options.zoo, &options.pool, options.side)?;
        Pairs::meta_train(
            &data,
            &retriever,
            config.per_class,
            config.predictor_draws,
            config.seed,
        )?
    };
    let refitted: Vec<(Inputs, PerformancePredictor)> = Inputs::ALL
        .iter()
        .map(|&inputs| {
            let network = &retriever.index().manifest.network;
            let fitted = predictor_fit::fit(
                &pairs,
                inputs,
                network,
                config.predictor_epochs,
                config.seed,
            );
            (inputs, fitted)
        })
        .collect();
    eprintln!(
        "refitted the predictor {} ways on {} meta-train pairs",
        refitted.len(),
        pairs.len()
    );
    let context = Transfer {
        config: &config,
        base_topologies: &base_topologies,
        entries,
        base: &base,
        device,
    };
    let params: Vec<f64> = entries.iter().map(|e| e.params as f64).collect();
    let zoo_accuracy: Vec<f64> = entries.iter().map(|e| e.accuracy).collect();
    let largest = argmax(&params);
    let global_best = argmax(&zoo_accuracy);
    let mut reports = Vec::new();
    for (task_index, task) in meta_test.iter().enumerate() {
        if !options.shard.owns(task_index) {
            continue;
        }
        let task_seed = tans_data::seed_for(config.seed, &task.name);
        let train = Images::split(task, false)?;
        let test = Images::split(task, true)?;
        let classes_here = task.classes.len();
        ensure!(
            classes_here >= 2,
            "meta-test task {}: {classes_here} class(es); fine-tuning needs two or more",
            task.name
        );
        eprintln!(
            "{}: {classes_here} classes, {} training and {} test images",
            task.name,
            train.len(),
            test.len()
        );
        let mut supernets = Supernets {
            zoo: &options.zoo,
            space: &build_config.space,
            classes: &classes,
            device: device.clone(),
            loaded: HashMap::new(),
        };
        let mut selections: Vec<Selection> = Vec::new();
        let pick = |selections: &mut Vec<Selection>, selector, network, seconds, forward_images| {
            selections.push(Selection {
                selector,
                network,
                seconds,
                forward_images,
                accuracy: Vec::new(),
            })
        };

        // TANS, as the page runs it: encode the query with the backbone, then search.
        let started = Instant::now();
        let (inputs, labels) = query_inputs(task, config.per_class, options.side, task_seed);
        let features =
            pollster::block_on(encoder.features(inputs, labels.len(), options.side as usize))
                .with_context(|| format!("task {}: encoding the query", task.name))?;
        let query = QueryBatch::single(tans_core::backbone::FEATURE_DIM, &features, Some(&labels))?;
        let encoded = started.elapsed().as_secs_f64();
        let request = |rerank| SearchRequest {
            k: config.rerank,
            constraints: Default::default(),
            rerank,
        };
        let searched = Instant::now();
        let top = pollster::block_on(retriever.search(&query, &request(false)))?;
        let top_seconds = encoded + searched.elapsed().as_secs_f64();
        let searched = Instant::now();
        let reranked = pollster::block_on(retriever.search(&query, &request(true)))?;
        let reranked_seconds = encoded + searched.elapsed().as_secs_f64();
        let first = |hits: &[tans_core::Hit]| -> Result<usize> {
            hits.first()
                .map(|h| h.index)
                .with_context(|| format!("task {}: the search returned nothing", task.name))
        };
        pick(
            &mut selections,
            Selector::Tans,
            Network::Zoo(first(&top.hits)?),
            top_seconds,
            labels.len(),
        );
        pick(
            &mut selections,
            Selector::TansReranked,
            Network::Zoo(first(&reranked.hits)?),
            reranked_seconds,
            labels.len(),
        );
        pick(&mut selections, Selector::Generic, Network::Base, 0.0, 0);
        let mut rng = StdRng::seed_from_u64(task_seed);
        let random = rand::Rng::random_range(&mut rng, 0..entries.len());
        pick(
            &mut selections,
            Selector::Random,
            Network::Zoo(random),
            0.0,
            0,
        );
        pick(
            &mut selections,
            Selector::Largest,
            Network::Zoo(largest),
            0.0,
            0,
        );
        pick(
            &mut selections,
            Selector::GlobalBest,
            Network::Zoo(global_best),
            0.0,
            0,
        );

        // LogME and k-NN over one seeded sample of the zoo (each network's features once).
        let sample: Vec<usize> = index::sample(
            &mut rng,
            entries.len(),
            config.candidates.min(entries.len()),
        )
        .into_vec();
        let train_labels: Vec<u32> = task.train_labels.iter().map(|&l| l as u32).collect();
        let (mut logme_scores, mut knn_scores) = (Vec::new(), Vec::new());
        let (mut logme_seconds, mut knn_seconds) = (0.0, 0.0);
        for &candidate in &sample {
            let started = Instant::now();
            let subnet =
                context.materialise(Network::Zoo(candidate), &mut supernets, &train, task_seed)?;
            let (features, dim) = context
                .features(&subnet, &train)
                .with_context(|| format!("task {}: zoo model {candidate}", task.name))?;
            let shared = started.elapsed().as_secs_f64();
            let started = Instant::now();
            logme_scores.push(logme(&features, dim, &train_labels, classes_here)?);
            logme_seconds += shared + started.elapsed().as_secs_f64();
            let started = Instant::now();
            knn_scores.push(knn_accuracy(&features, dim, &train_labels, config.knn));
            knn_seconds += shared + started.elapsed().as_secs_f64();
        }
        let scored_images = sample.len() * train.len();
        pick(
            &mut selections,
            Selector::LogMe,
            Network::Zoo(sample[argmax(&logme_scores)]),
            logme_seconds,
            scored_images,
        );
        pick(
            &mut selections,
            Selector::Knn,
            Network::Zoo(sample[argmax(&knn_scores)]),
            knn_seconds,
            scored_images,
        );
        let logme_whole_zoo_seconds = logme_seconds / sample.len() as f64 * entries.len() as f64;

        // Under each budget: TANS's constrained, re-ranked pick and the largest base subnet
        // that fits.
        let mut constrained_picks = Vec::new();
        for &budget in &budgets {
            let hits = pollster::block_on(retriever.search(
                &query,
                &SearchRequest {
                    k: config.rerank,
                    constraints: budget.constraints(),
                    rerank: true,
                },
            ))?;
            let tans = hits.hits.first().map(|h| Network::Zoo(h.index));
            let generic = generic_within(budget).map(Network::BaseSubnet);
            constrained_picks.push((budget, tans, generic));
        }

        // Fine-tune every pick, TANS's top-ranked models (the predictor's error is measured
        // on them) and the oracle's sample, each budget and seed.
        let top_models: Vec<usize> = top.hits.iter().map(|h| h.index).collect();
        let small_zoo = &sample[..config.oracle_candidates];
        let mut networks: Vec<Network> = selections.iter().map(|s| s.network).collect();
        networks.extend(top_models.iter().chain(small_zoo).map(|&i| Network::Zoo(i)));
        for (_, tans, generic) in &constrained_picks {
            networks.extend(tans.iter().chain(generic));
        }
        networks.sort();
        networks.dedup();
        let mut results: HashMap<(Network, usize), Vec<f64>> = HashMap::new();
        let total = networks.len() * config.epochs.len() * config.seeds;
        let mut done = 0;
        for &network in &networks {
            for &epochs in &config.epochs {
                for s in 0..config.seeds as u64 {
                    let seed = task_seed.wrapping_add(s);
                    done += 1;
                    let accuracy = match runs.find(&task.name, network, epochs, seed) {
                        Some(accuracy) => accuracy,
                        None => {
                            let started = Instant::now();
                            let subnet =
                                context.materialise(network, &mut supernets, &train, task_seed)?;
                            let accuracy = context
                                .fine_tune(subnet, classes_here, &train, &test, epochs, seed)
                                .with_context(|| {
                                    format!("task {}: fine-tuning {network:?}", task.name)
                                })?;
                            let seconds = started.elapsed().as_secs_f64();
                            eprintln!(
                                "{} [{done}/{total}] {network:?}, {epochs} epoch(s), seed {s}: {:.1}% ({seconds:.0} s)",
                                task.name,
                                100.0 * accuracy
                            );
                            runs.record(FineTuned {
                                task: task.name.clone(),
                                network,
                                epochs,
                                seed,
                                accuracy,
                                seconds,
                            })?;
                            accuracy
                        }
                    };
                    results.entry((network, epochs)).or_default().push(accuracy);
                }
            }
        }
        let last = *config.epochs.iter().max().expect("validated non-empty");
        let mean_at = |network: Network, epochs: usize| mean_ci(&results[&(network, epochs)]).0;
        let oracle_set: Vec<usize> = networks
            .iter()
            .filter_map(|n| match n {
                Network::Zoo(i) => Some(*i),
                Network::Base | Network::BaseSubnet(_) => None,
            })
            .collect();
        let oracle = *oracle_set
            .iter()
            .max_by(|&&a, &&b| {
                mean_at(Network::Zoo(a), last).total_cmp(&mean_at(Network::Zoo(b), last))
            })
            .expect("the sample holds a zoo model");
        pick(
            &mut selections,
            Selector::Oracle,
            Network::Zoo(oracle),
            0.0,
            0,
        );
        for selection in &mut selections {
            selection.accuracy = config
                .epochs
                .iter()
                .map(|&e| {
                    let (mean, ci) = mean_ci(&results[&(selection.network, e)]);
                    (e, mean, ci)
                })
                .collect();
        }

        // Each ranking against fine-tuned accuracy over the oracle's zoo networks.
        let truth: Vec<f64> = oracle_set
            .iter()
            .map(|&i| mean_at(Network::Zoo(i), last))
            .collect();
        let all_hits = pollster::block_on(retriever.search(
            &query,
            &SearchRequest {
                k: entries.len(),
                constraints: Default::default(),
                rerank: false,
            },
        ))?;
        let hit = |i: usize| all_hits.hits.iter().find(|h| h.index == i);
        let mut rankings: Vec<(&str, Vec<f64>)> = vec![
            (
                "TANS similarity",
                oracle_set
                    .iter()
                    .map(|&i| hit(i).map_or(f64::NEG_INFINITY, |h| f64::from(h.similarity)))
                    .collect(),
            ),
            (
                "TANS predicted accuracy",
                oracle_set
                    .iter()
                    .map(|&i| {
                        hit(i)
                            .and_then(|h| h.predicted_accuracy)
                            .map_or(f64::NEG_INFINITY, f64::from)
                    })
                    .collect(),
            ),
        ];
        let mut logme_of = Vec::new();
        let mut knn_of = Vec::new();
        for &i in &oracle_set {
            match sample.iter().position(|&s| s == i) {
                Some(at) => {
                    logme_of.push(logme_scores[at]);
                    knn_of.push(knn_scores[at]);
                }
                None => {
                    let subnet =
                        context.materialise(Network::Zoo(i), &mut supernets, &train, task_seed)?;
                    let (features, dim) = context.features(&subnet, &train)?;
                    logme_of.push(logme(&features, dim, &train_labels, classes_here)?);
                    knn_of.push(knn_accuracy(&features, dim, &train_labels, config.knn));
                }
            }
        }
        rankings.push(("LogME", logme_of));
        rankings.push(("k-NN probe", knn_of));
        rankings.push(("params", oracle_set.iter().map(|&i| params[i]).collect()));
        rankings.push((
            "accuracy on its own task",
            oracle_set.iter().map(|&i| zoo_accuracy[i]).collect(),
        ));
        let correlations = rankings
            .into_iter()
            .map(|(ranking, scores)| Correlation {
                ranking: ranking.to_string(),
                weighted_tau: weighted_tau(&scores, &truth),
                spearman: spearman(&scores, &truth),
            })
            .collect();
        let accuracy_of = |network: Network| -> Vec<(usize, f64, f64)> {
            config
                .epochs
                .iter()
                .map(|&e| {
                    let (mean, ci) = mean_ci(&results[&(network, e)]);
                    (e, mean, ci)
                })
                .collect()
        };
        let cost_of = |network: Network| match network {
            Network::Zoo(i) => Cost {
                params: entries[i].params,
                flops: entries[i].flops,
            },
            Network::BaseSubnet(i) => base_costs[i],
            Network::Base => Cost::of(&build_config.space, &Topology::largest()),
        };
        let budget_pick = |network: Option<Network>| {
            network.map(|network| {
                let cost = cost_of(network);
                BudgetPick {
                    network,
                    params: cost.params,
                    flops: cost.flops,
                    accuracy: accuracy_of(network),
                }
            })
        };
        let constrained = constrained_picks
            .iter()
            .map(|&(budget, tans, generic)| Constrained {
                budget,
                tans: budget_pick(tans),
                generic: budget_pick(generic),
            })
            .collect();

        // The predictors against fine-tuned accuracy, on the top-ranked models and the sample.
        let truth_of = |models: &[usize]| -> Vec<f64> {
            models
                .iter()
                .map(|&i| mean_at(Network::Zoo(i), last))
                .collect()
        };
        let embeddings_of = |models: &[usize]| -> Vec<f32> {
            models
                .iter()
                .flat_map(|&i| retriever.index().embeddings.row(i).iter().copied())
                .collect()
        };
        let shipped =
            |models: &[usize]| pollster::block_on(retriever.predict(&top.query_embedding, models));
        let mut predictor = vec![PredictorError {
            predictor: "as meta-trained (shipped)".into(),
            top_mse: mse(&shipped(&top_models)?, &truth_of(&top_models)),
            sample_mse: mse(&shipped(small_zoo)?, &truth_of(small_zoo)),
        }];
        for (inputs, fitted) in &refitted {
            let predicted = |models: &[usize]| {
                predictor_fit::predict(
                    fitted,
                    *inputs,
                    &top.query_embedding,
                    &embeddings_of(models),
                )
            };
            predictor.push(PredictorError {
                predictor: inputs.label().into(),
                top_mse: mse(&predicted(&top_models)?, &truth_of(&top_models)),
                sample_mse: mse(&predicted(small_zoo)?, &truth_of(small_zoo)),
            });
        }
        reports.push(TaskReport {
            task: task.name.clone(),
            classes: classes_here,
            train_images: train.len(),
            test_images: test.len(),
            selections,
            logme_whole_zoo_seconds,
            correlations,
            oracle_networks: oracle_set.len(),
            constrained,
            predictor,
            predictor_top: top_models.len(),
            query_embedding: top.query_embedding.clone(),
        });
        // The report so far, so a long evaluation shows its finished tasks.
        if options.shard == Shard::WHOLE {
            write_report(&options, &config, entries.len(), &reports, meta_test.len())?;
            write_atomic(
                &options.out.join("projection.svg"),
                projection(&retriever.index().embeddings, entries, &reports)?.as_bytes(),
            )?;
        }
    }
    if options.shard != Shard::WHOLE {
        eprintln!(
            "shard {}/{}: fine-tuned for {} of {} meta-test tasks; run without --shard to write the report",
            options.shard.index,
            options.shard.count,
            reports.len(),
            meta_test.len()
        );
    }
    Ok(())
}

/// Per selector and budget: the mean over tasks of each task's mean accuracy.
fn summary(config: &TransferConfig, reports: &[TaskReport]) -> Vec<(Selector, Vec<f64>)> {
    Selector::ALL
        .iter()
        .map(|&selector| {
            let means = config
                .epochs
                .iter()
                .enumerate()
                .map(|(e, _)| {
                    let values: Vec<f64> = reports
                        .iter()
                        .filter_map(|r| r.selections.iter().find(|s| s.selector == selector))
                        .map(|s| s.accuracy[e].1)
                        .collect();
                    mean_ci(&values).0
                })
                .collect();
            (selector, means)
        })
        .collect()
}

/// The zoo's model embeddings and the meta-test queries on the first two principal axes of
/// the model embeddings, as SVG: models coloured by the family of their task, queries named.
fn projection(
    models: &tans_core::retrieval::EmbeddingMatrix,
    entries: &[ZooEntry],
    reports: &[TaskReport],
) -> Result<String> {
    let (rows, dim) = (models.rows(), models.dim());
    let mean: Vec<f64> = (0..dim)
        .map(|j| (0..rows).map(|i| f64::from(models.row(i)[j])).sum::<f64>() / rows as f64)
        .collect();
    let centred =
        nalgebra::DMatrix::from_fn(rows, dim, |i, j| f64::from(models.row(i)[j]) - mean[j]);
    let eigen = nalgebra::SymmetricEigen::new(centred.transpose() * &centred);
    let mut axes: Vec<usize> = (0..dim).collect();
    axes.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let project = |v: &[f32]| -> (f64, f64) {
        let along = |axis: usize| {
            v.iter()
                .zip(&mean)
                .enumerate()
                .map(|(j, (x, m))| (f64::from(*x) - m) * eigen.eigenvectors[(j, axis)])
                .sum::<f64>()
        };
        (along(axes[0]), along(axes[1]))
    };
    let mut families: Vec<&str> = entries
        .iter()
        .map(|e| e.task.split('-').next().unwrap_or(&e.task))
        .collect();
    families.sort_unstable();
    families.dedup();
    let mut points: Vec<crate::plot::Point> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (x, y) = project(models.row(i));
            let family = e.task.split('-').next().unwrap_or(&e.task);
            crate::plot::Point {
                x,
                y,
                series: families.binary_search(&family).unwrap_or(0),
                label: None,
            }
        })
        .collect();
    for report in reports {
        let (x, y) = project(&report.query_embedding);
        points.push(crate::plot::Point {
            x,
            y,
            series: families.len(),
            label: Some(report.task.clone()),
        });
    }
    let mut legend: Vec<String> = families.iter().map(|f| format!("{f} models")).collect();
    legend.push("meta-test queries".into());
    Ok(crate::plot::scatter(
        "Zoo models and meta-test queries, first two principal axes of the model embeddings",
        &legend,
        &points,
    ))
}

fn network_name(network: Network) -> String {
    match network {
        Network::Base => "base (largest)".to_string(),
        Network::BaseSubnet(i) => format!("base subnet #{i}"),
        Network::Zoo(i) => format!("zoo #{i}"),
    }
}

/// The predictors' mean squared error per task and on average (Fig. 7c and 7d analogues).
fn predictor_table(config: &TransferConfig, reports: &[TaskReport]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let last = config.epochs.iter().max().expect("validated non-empty");
    let mut md = format!(
        "\n## Predictor error\n\nMean squared error of predicted against fine-tuned accuracy \
         (E={last}, mean over seeds), on TANS's top {} models by similarity (the paper's Fig. 7c) \
         and on the oracle's seeded sample of {} zoo models, a small random zoo (Fig. 7d). The \
         refitted predictors have the shipped one's shape and are fitted after meta-training on \
         the frozen meta-train embeddings ({} queries per task, {} epochs), each seeing what its \
         name says; the other input is zeroed.\n\n| task |",
        first.predictor_top,
        config.oracle_candidates,
        config.predictor_draws,
        config.predictor_epochs
    );
    for p in &first.predictor {
        md.push_str(&format!(" {}: top | sample |", p.predictor));
    }
    md.push_str(&format!(
        "\n| --- |{}\n",
        " --- | --- |".repeat(first.predictor.len())
    ));
    let mut means = vec![(Vec::new(), Vec::new()); first.predictor.len()];
    for report in reports {
        md.push_str(&format!("| {} |", report.task));
        for (p, (top, sample)) in report.predictor.iter().zip(&mut means) {
            md.push_str(&format!(" {:.4} | {:.4} |", p.top_mse, p.sample_mse));
            top.push(p.top_mse);
            sample.push(p.sample_mse);
        }
        md.push('\n');
    }
    md.push_str("| **mean** |");
    for (top, sample) in &means {
        md.push_str(&format!(
            " **{:.4}** | **{:.4}** |",
            mean_ci(top).0,
            mean_ci(sample).0
        ));
    }
    md.push('\n');
    md
}

fn write_report(
    options: &Options,
    config: &TransferConfig,
    zoo_size: usize,
    reports: &[TaskReport],
    tasks: usize,
) -> Result<()> {
    let summary = summary(config, reports);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let json = serde_json::json!({
        "command": command,
        "published": options.published.display().to_string(),
        "zoo": options.zoo.display().to_string(),
        "pool": options.pool.display().to_string(),
        "device": options.device_name,
        "config": config,
        "zoo_size": zoo_size,
        "summary": summary,
        "tasks": reports,
    });
    write_atomic(
        &options.out.join("transfer.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let epochs: Vec<String> = config.epochs.iter().map(|e| format!("E={e}")).collect();
    let chart = crate::plot::bars(
        "Fine-tuned test accuracy (%) on the meta-test tasks, mean over tasks",
        &epochs.iter().map(String::as_str).collect::<Vec<_>>(),
        &summary
            .iter()
            .map(|(s, means)| {
                (
                    s.label().to_string(),
                    means.iter().map(|m| 100.0 * m).collect(),
                )
            })
            .collect::<Vec<_>>(),
        100.0,
    );
    write_atomic(&options.out.join("transfer.svg"), chart.as_bytes())?;
    let mut md = format!(
        "# Meta-test transfer\n\nPublished zoo `{}` ({zoo_size} models), zoo `{}`, pool `{}`, on {}; `{command}`.\n\n\
         Each pick gets a new head and is fine-tuned (SGD lr {}, momentum {}, weight decay {}, \
         cosine schedule per epoch, batch {}) on the task's training images, {} seed(s) per \
         budget; accuracy on the task's test images, mean ± 95% interval over seeds. LogME and \
         the k-NN probe ({}-NN, leave-one-out) score a seeded sample of {} zoo models; the \
         oracle is the best fine-tuned network among every pick, TANS's top {} by similarity \
         and the first {} of that sample.\n\n\
         ## Mean over the {} meta-test tasks (of {tasks})\n\n| selector | {} |\n| --- |{}\n",
        options.published.display(),
        options.zoo.display(),
        options.pool.display(),
        options.device_name,
        config.learning_rate,
        config.momentum,
        config.weight_decay,
        config.batch,
        config.seeds,
        config.knn,
        config.candidates,
        config.rerank,
        config.oracle_candidates,
        reports.len(),
        epochs.join(" | "),
        " --- |".repeat(epochs.len()),
    );
    for (selector, means) in &summary {
        let cells: Vec<String> = means.iter().map(|m| format!("{:.1}", 100.0 * m)).collect();
        md.push_str(&format!(
            "| {} | {} |\n",
            selector.label(),
            cells.join(" | ")
        ));
    }
    md.push_str("\n![mean accuracy per selector](transfer.svg)\n");
    md.push_str(&predictor_table(config, reports));
    for report in reports {
        md.push_str(&format!(
            "\n## {}\n\n{} classes, {} training and {} test images. LogME over the whole zoo: \
             {:.0} s (its cost per candidate here × {zoo_size}).\n\n\
             | selector | network | selection s | images through networks | {} |\n\
             | --- | --- | --- | --- |{}\n",
            report.task,
            report.classes,
            report.train_images,
            report.test_images,
            report.logme_whole_zoo_seconds,
            epochs.join(" | "),
            " --- |".repeat(epochs.len()),
        ));
        for s in &report.selections {
            let network = network_name(s.network);
            let cells: Vec<String> = s
                .accuracy
                .iter()
                .map(|(_, mean, ci)| format!("{:.1} ± {:.1}", 100.0 * mean, 100.0 * ci))
                .collect();
            md.push_str(&format!(
                "| {} | {network} | {:.3} | {} | {} |\n",
                s.selector.label(),
                s.seconds,
                s.forward_images,
                cells.join(" | ")
            ));
        }
        let taus: Vec<String> = report
            .correlations
            .iter()
            .map(|c| format!("{} {:.2} / {:.2}", c.ranking, c.weighted_tau, c.spearman))
            .collect();
        md.push_str(&format!(
            "\nAgainst fine-tuned accuracy over {} zoo networks, weighted Kendall τ / Spearman ρ: {}.\n",
            report.oracle_networks,
            taus.join(", ")
        ));
        if !report.constrained.is_empty() {
            md.push_str(
                "\n| budget | TANS pick (params, FLOPs) | accuracy | largest base subnet within (params, FLOPs) | accuracy |\n\
                 | --- | --- | --- | --- | --- |\n",
            );
            let cell = |pick: &Option<BudgetPick>| match pick {
                Some(p) => (
                    format!("{} ({}, {})", network_name(p.network), p.params, p.flops),
                    p.accuracy
                        .iter()
                        .map(|(e, mean, ci)| {
                            format!("E={e}: {:.1} ± {:.1}", 100.0 * mean, 100.0 * ci)
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => ("none fits".into(), "–".into()),
            };
            for c in &report.constrained {
                let (tans, generic) = (cell(&c.tans), cell(&c.generic));
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    c.budget.label(),
                    tans.0,
                    tans.1,
                    generic.0,
                    generic.1
                ));
            }
        }
    }
    write_atomic(&options.out.join("transfer.md"), md.as_bytes())?;
    if reports.len() == tasks {
        print!("{md}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ci_uses_students_t() {
        let (mean, half) = mean_ci(&[0.5, 0.6, 0.7]);
        assert!((mean - 0.6).abs() < 1e-12);
        // sd 0.1, n 3: t(0.975, 2) · 0.1 / √3.
        assert!((half - 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9, "{half}");
        assert_eq!(mean_ci(&[0.4]), (0.4, 0.0));
    }

    #[test]
    fn weighted_tau_is_one_for_agreement_and_minus_one_for_reversal() {
        let truth = [0.9, 0.7, 0.5, 0.3, 0.1];
        assert!((weighted_tau(&[5.0, 4.0, 3.0, 2.0, 1.0], &truth) - 1.0).abs() < 1e-12);
        assert!((weighted_tau(&[1.0, 2.0, 3.0, 4.0, 5.0], &truth) + 1.0).abs() < 1e-12);
        // Swapping the top pair costs more than swapping the bottom pair.
        let top = weighted_tau(&[4.0, 5.0, 3.0, 2.0, 1.0], &truth);
        let bottom = weighted_tau(&[5.0, 4.0, 3.0, 1.0, 2.0], &truth);
        assert!(top < bottom, "top swap {top}, bottom swap {bottom}");
    }

    #[test]
    fn spearman_of_monotone_reversed_and_tied_rankings() {
        let truth = [0.1, 0.4, 0.2, 0.9];
        assert!((spearman(&[1.0, 3.0, 2.0, 10.0], &truth) - 1.0).abs() < 1e-12);
        assert!((spearman(&[4.0, 2.0, 3.0, 1.0], &truth) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0, 1.0], &truth), 0.0);
    }

    #[test]
    fn knn_accuracy_separates_clusters_and_not_noise() {
        // Two tight clusters in 3-d: every neighbour vote is right.
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..10 {
            let jitter = i as f32 * 0.01;
            features.extend([1.0, jitter, 0.0]);
            labels.push(0);
            features.extend([0.0, jitter, 1.0]);
            labels.push(1);
        }
        assert_eq!(knn_accuracy(&features, 3, &labels, 3), 1.0);
        // Labels that alternate along one cluster: no better than chance.
        let same: Vec<f32> = (0..20).flat_map(|i| [1.0, i as f32 * 0.01, 0.0]).collect();
        let alternating: Vec<u32> = (0..20).map(|i| i % 2).collect();
        assert!(knn_accuracy(&same, 3, &alternating, 3) <= 0.5);
    }
}
