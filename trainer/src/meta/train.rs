//! The meta-contrastive training loop (paper eq. 1–5, appendix B.1). Each step holds one
//! (query, model) pair per task drawn for it — a query of `per_class` training images of every
//! class, and one of the task's zoo models — with the other pairs as in-batch negatives; the
//! loss is the contrastive hinge plus λ·MSE of the predictor on the positive pairs, minimised
//! with Adam. Early stopping watches a fixed, seeded validation draw (unlike the reference,
//! which draws new models at every evaluation): R@1 over one model per task, on validation
//! images no training query holds. Progress is checkpointed at every validation, so a killed
//! run resumes there (Adam's moments restart; every step's draws depend only on the seed and
//! the step, so the data a resumed run sees is the same).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, index};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tans_core::loss::{LossConfig, meta_contrastive_loss};
use tans_core::networks::QueryTensors;
use tans_core::{NetworkConfig, QueryBatch, QueryEncoderKind, TansNetworks};
use tans_data::files::write_atomic;

use super::data::{MetaData, MetaTask, Split};
use super::metrics::{RetrievalScores, best_rank_of, rank_of};

/// Every hyper-parameter of meta-training (`--config meta.toml`; missing fields take defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaTrainConfig {
    pub steps: usize,
    /// Tasks (pairs) per step; 0 puts every task in every step, as the reference does.
    pub tasks_per_step: usize,
    /// Images per class in a query.
    pub per_class: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    pub loss: LossConfig,
    /// `linear` (the paper's, the default; the README compares the two) or `deep`.
    pub query_encoder: QueryEncoderKind,
    pub embed_dim: usize,
    pub query_hidden: usize,
    pub predictor_hidden: usize,
    /// Off: the model encoder sees the topology alone (the ablation without functional
    /// embeddings).
    pub functional_embedding: bool,
    /// Steps between validations (and checkpoints).
    pub validate_every: usize,
    /// Validations without a better score before training stops.
    pub patience: usize,
    /// Seeded (model, query) draws per task that validation averages over.
    pub validation_draws: usize,
    pub seed: u64,
}

impl Default for MetaTrainConfig {
    fn default() -> Self {
        Self {
            steps: 3000,
            tasks_per_step: 0,
            per_class: 5,
            learning_rate: 1e-2,
            loss: LossConfig::default(),
            query_encoder: QueryEncoderKind::Linear,
            embed_dim: 128,
            query_hidden: 256,
            predictor_hidden: 256,
            functional_embedding: true,
            validate_every: 50,
            patience: 10,
            validation_draws: 3,
            seed: 777,
        }
    }
}

impl MetaTrainConfig {
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let config: Self = crate::config::load_toml(path)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.steps > 0 && self.per_class > 0 && self.validate_every > 0,
            "steps, per_class and validate_every must be at least 1"
        );
        ensure!(
            self.tasks_per_step != 1,
            "tasks_per_step = 1 leaves no in-batch negative (0 means every task)"
        );
        ensure!(
            self.validation_draws > 0,
            "validation_draws must be at least 1"
        );
        ensure!(
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            "learning_rate must be a positive number, not {}",
            self.learning_rate
        );
        Ok(())
    }

    /// The networks' sizes for `data`.
    pub fn network(&self, data: &MetaData) -> NetworkConfig {
        self.network_for(data.feature_dim, data.functional_dim)
    }

    /// The networks' sizes for inputs of these sizes.
    pub fn network_for(&self, feature_dim: usize, functional_dim: usize) -> NetworkConfig {
        NetworkConfig {
            embed_dim: self.embed_dim,
            query_hidden: self.query_hidden,
            predictor_hidden: self.predictor_hidden,
            ..NetworkConfig::new(feature_dim, functional_dim, self.query_encoder)
        }
    }
}

/// Which images of a task a draw takes its queries from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    Train,
    Validation,
    Evaluation,
}

impl Images {
    pub fn of(self, task: &MetaTask) -> &Split {
        match self {
            Self::Train => &task.train,
            Self::Validation => &task.validation,
            Self::Evaluation => &task.evaluation,
        }
    }
}

/// Fixed, seeded (query, model) pairs, one per task per draw: what validation and the
/// one-model-per-task retrieval scores are computed on.
pub struct PairDraws {
    /// Per draw: the model of each task, and the batch of every task's query.
    pub draws: Vec<(Vec<usize>, QueryBatch)>,
}

impl PairDraws {
    pub fn new(
        data: &MetaData,
        images: Images,
        per_class: usize,
        count: usize,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let draws = (0..count)
            .map(|_| {
                let models = (0..data.tasks.len())
                    .map(|t| {
                        *data
                            .models_of(t)
                            .choose(&mut rng)
                            .expect("a model per task")
                    })
                    .collect();
                let queries: Vec<_> = data
                    .tasks
                    .iter()
                    .map(|task| images.of(task).draw(per_class, &mut rng))
                    .collect();
                Ok((models, data.query_batch(&queries)?))
            })
            .collect::<Result<_>>()?;
        Ok(Self { draws })
    }

    /// Retrieval scores of `scorer` over all draws: among each draw's one model per task (the
    /// paper's protocol), and over the whole zoo, where a query's best-ranked model of its own
    /// task counts.
    pub fn score(&self, data: &MetaData, scorer: &Scorer, device: &Device) -> Result<DrawScores> {
        let all: Vec<usize> = (0..data.models.len()).collect();
        let (mut pool_ranks, mut zoo_ranks) = (Vec::new(), Vec::new());
        for (draw, (models, queries)) in self.draws.iter().enumerate() {
            let pool = scorer.similarities(data, queries, models, draw, device)?;
            for (task, row) in pool.chunks_exact(models.len()).enumerate() {
                pool_ranks.push(rank_of(row, task));
            }
            let zoo = scorer.similarities(data, queries, &all, draw, device)?;
            for (task, row) in zoo.chunks_exact(all.len()).enumerate() {
                zoo_ranks.push(best_rank_of(row, data.models_of(task)));
            }
        }
        Ok(DrawScores {
            one_model_per_task: RetrievalScores::from_ranks(&pool_ranks, data.tasks.len()),
            whole_zoo: RetrievalScores::from_ranks(&zoo_ranks, data.models.len()),
        })
    }
}

/// Scores over the two candidate pools.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DrawScores {
    pub one_model_per_task: RetrievalScores,
    pub whole_zoo: RetrievalScores,
}

/// What orders the candidates for a query.
pub enum Scorer<'a> {
    /// A seeded random order (a fresh one per draw).
    Random { seed: u64 },
    /// The most parameters first, whatever the query.
    LargestParams,
    /// Cosine similarity in a trained space.
    Networks {
        networks: &'a TansNetworks,
        functional: bool,
    },
}

impl Scorer<'_> {
    /// `[sets, candidates]` scores, row-major, higher first.
    pub fn similarities(
        &self,
        data: &MetaData,
        queries: &QueryBatch,
        candidates: &[usize],
        draw: usize,
        device: &Device,
    ) -> Result<Vec<f32>> {
        let sets = queries.sets();
        Ok(match self {
            Self::Random { seed } => {
                let mut rng = step_rng(*seed, draw);
                (0..sets * candidates.len())
                    .map(|_| rand::Rng::random::<f32>(&mut rng))
                    .collect()
            }
            Self::LargestParams => (0..sets)
                .flat_map(|_| {
                    candidates
                        .iter()
                        .map(|&i| data.models[i].cost.params as f32)
                })
                .collect(),
            Self::Networks {
                networks,
                functional,
            } => {
                let q = embed_queries(networks, queries, device)?;
                let m = embed_models(networks, data, candidates, *functional, device)?;
                let d = q.len() / sets.max(1);
                q.chunks_exact(d)
                    .flat_map(|query| m.chunks_exact(d).map(|row| dot(query, row)))
                    .collect()
            }
        })
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn read(tensor: Tensor<2>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading an embedding: {e:?}"))
}

/// Query embeddings `[sets, d]`, row-major.
pub fn embed_queries(
    networks: &TansNetworks,
    queries: &QueryBatch,
    device: &Device,
) -> Result<Vec<f32>> {
    read(
        networks
            .query
            .query_encoder
            .forward(QueryTensors::new(queries, device)),
    )
}

/// Model embeddings `[models, d]`, row-major, in chunks so a large zoo stays small in memory.
pub fn embed_models(
    networks: &TansNetworks,
    data: &MetaData,
    models: &[usize],
    functional: bool,
    device: &Device,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for chunk in models.chunks(1024) {
        let (topology, embedding) = data.model_inputs(chunk, functional, device);
        out.extend(read(networks.model_encoder.forward(topology, embedding))?);
    }
    Ok(out)
}

/// The positive pairs of one step, on the training device: row i of the query sets and of the
/// models' inputs and accuracies belong together.
#[derive(Debug, Clone)]
pub struct StepBatch {
    pub query: QueryTensors,
    /// Normalised topologies, `[pairs, 45]`.
    pub topology: Tensor<2>,
    /// Functional embeddings, `[pairs, F_m]`.
    pub functional: Tensor<2>,
    /// Each model's accuracy on its own task, `[pairs]`.
    pub accuracy: Tensor<1>,
}

/// One meta-training step: both embeddings, the predictor, the objective, its backward pass
/// and an Adam update. Returns the updated networks and the loss's parts before the update
/// (a diverged loss is the caller's to refuse).
pub fn train_step(
    networks: TansNetworks,
    optimiser: &mut ModuleOptimizer,
    pairs: StepBatch,
    config: &MetaTrainConfig,
) -> Result<(TansNetworks, StepLoss)> {
    let (q, m) = networks.embed(pairs.query, pairs.topology, pairs.functional);
    let predicted = networks.query.predictor.forward(q.clone(), m.clone());
    let loss = meta_contrastive_loss(q, m, predicted, pairs.accuracy, &config.loss);
    let parts = StepLoss {
        total: scalar(loss.total.clone())?,
        contrastive: scalar(loss.contrastive.clone())?,
        predictor_mse: scalar(loss.predictor_mse.clone())?,
    };
    let grads = GradientsParams::from_grads(loss.total.backward(), &networks);
    Ok((optimiser.step(config.learning_rate, networks, grads), parts))
}

/// The loss parts of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLoss {
    pub total: f32,
    pub contrastive: f32,
    pub predictor_mse: f32,
}

/// What a run did, checkpointed with it and written beside its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Of the configuration and the data: a checkpoint resumes only the same run.
    pub fingerprint: String,
    pub steps_done: usize,
    pub losses: Vec<StepLoss>,
    /// (step, validation scores) after every `validate_every` steps.
    pub validations: Vec<(usize, RetrievalScores)>,
    pub best_step: usize,
    pub best: Option<RetrievalScores>,
    pub stopped_early: bool,
    pub finished: bool,
    /// Training time, summed over resumed runs.
    pub seconds: f64,
}

/// Where and how one meta-training run happens.
pub struct MetaTrainRun<'a> {
    pub config: &'a MetaTrainConfig,
    /// The device it trains on (autodiff is added here).
    pub device: &'a Device,
    /// Folder for the resumable checkpoint; `None` trains without one.
    pub checkpoint: Option<&'a Path>,
    /// Shown on the progress bar.
    pub label: &'a str,
}

/// The trained networks (the best validated ones, off autodiff) and the run's history.
pub struct MetaTrained {
    pub network: NetworkConfig,
    /// Whether the model encoder was trained with functional embeddings (and must be fed them).
    pub functional_embedding: bool,
    pub networks: TansNetworks,
    pub history: History,
}

const PROGRESS: &str = "progress.json";

/// The checkpoint's weight files after `steps` steps: the networks now and the best validated.
fn weight_files(steps: usize, best_step: usize) -> [String; 2] {
    [
        format!("current-{steps}.bpk"),
        format!("best-{best_step}.bpk"),
    ]
}

fn fingerprint(data: &MetaData, config: &MetaTrainConfig) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(config)?);
    for task in &data.tasks {
        hash.update(task.name.as_bytes());
        for split in [&task.train, &task.validation, &task.evaluation] {
            hash.update(split.digest());
        }
    }
    for model in &data.models {
        hash.update(model.id.as_bytes());
        hash.update(model.topology.values());
        hash.update(model.accuracy.to_le_bytes());
        for v in &model.functional {
            hash.update(v.to_le_bytes());
        }
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Draws of step `step`: its own generator, so a resumed run sees the same data.
fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn scalar(t: Tensor<1>) -> Result<f32> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the loss: {e:?}"))
        .map(|v| v[0])
}

/// Meta-trains the three networks on `data`.
pub fn train(data: &MetaData, run: &MetaTrainRun) -> Result<MetaTrained> {
    let config = run.config;
    config.validate()?;
    let network = config.network(data);
    let inference = run.device.clone();
    let device = inference.clone().autodiff();
    let fingerprint = fingerprint(data, config)?;
    let validation = PairDraws::new(
        data,
        Images::Validation,
        config.per_class,
        config.validation_draws,
        config.seed.wrapping_add(1),
    )?;

    device.seed(config.seed);
    let mut networks = TansNetworks::init(&network, &device);
    let mut best = networks.valid();
    let mut history = History {
        fingerprint: fingerprint.clone(),
        steps_done: 0,
        losses: Vec::new(),
        validations: Vec::new(),
        best_step: 0,
        best: None,
        stopped_early: false,
        finished: false,
        seconds: 0.0,
    };
    if let Some(dir) = run.checkpoint
        && let Some(saved) = resume(dir, &fingerprint)?
    {
        let load = |name: &str, into: TansNetworks| -> Result<TansNetworks> {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(tans_core::weights::load(
                into,
                &bytes,
                &path.display().to_string(),
            )?)
        };
        let [current, best_file] = weight_files(saved.steps_done, saved.best_step);
        networks = load(&current, networks)?;
        best = load(&best_file, best)?;
        history = saved;
        eprintln!(
            "{}: resuming at step {} of {}",
            run.label, history.steps_done, config.steps
        );
    }
    if history.finished {
        return Ok(MetaTrained {
            network,
            functional_embedding: config.functional_embedding,
            networks: best,
            history,
        });
    }

    let bar = ProgressBar::new(config.steps as u64).with_style(
        ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} steps, {per_sec}, ETA {eta} {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_prefix(run.label.to_string());
    bar.set_position(history.steps_done as u64);
    let mut optimiser = AdamConfig::new().init();
    let started = Instant::now();
    let seconds_before = history.seconds;
    let since_best = |h: &History| {
        h.validations
            .iter()
            .rev()
            .take_while(|(s, _)| *s > h.best_step)
            .count()
    };
    let tasks = data.tasks.len();
    let per_step = match config.tasks_per_step {
        0 => tasks,
        n => n.min(tasks),
    };
    while history.steps_done < config.steps {
        let step = history.steps_done;
        let mut rng = step_rng(config.seed, step);
        let chosen: Vec<usize> = if per_step == tasks {
            (0..tasks).collect()
        } else {
            let mut picked = index::sample(&mut rng, tasks, per_step).into_vec();
            picked.sort_unstable();
            picked
        };
        let models: Vec<usize> = chosen
            .iter()
            .map(|&t| {
                *data
                    .models_of(t)
                    .choose(&mut rng)
                    .expect("a model per task")
            })
            .collect();
        let queries: Vec<_> = chosen
            .iter()
            .map(|&t| data.tasks[t].train.draw(config.per_class, &mut rng))
            .collect();
        let batch = data.query_batch(&queries)?;
        let (topology, functional) =
            data.model_inputs(&models, config.functional_embedding, &device);
        let accuracy: Vec<f32> = models.iter().map(|&i| data.models[i].accuracy).collect();
        let pairs = StepBatch {
            query: QueryTensors::new(&batch, &device),
            topology,
            functional,
            accuracy: Tensor::<1>::from_floats(accuracy.as_slice(), &device),
        };
        let parts;
        (networks, parts) = train_step(networks, &mut optimiser, pairs, config)?;
        if !parts.total.is_finite() {
            bail!(
                "{}: training diverged at step {step}: loss {}",
                run.label,
                parts.total
            );
        }
        history.losses.push(parts);
        history.steps_done += 1;
        bar.inc(1);

        let done = history.steps_done;
        if done.is_multiple_of(config.validate_every) || done == config.steps {
            let current = networks.valid();
            let scorer = Scorer::Networks {
                networks: &current,
                functional: config.functional_embedding,
            };
            let scores = validation
                .score(data, &scorer, &inference)?
                .one_model_per_task;
            history.validations.push((done, scores));
            if history.best.is_none_or(|b| scores.better_than(&b)) {
                history.best = Some(scores);
                history.best_step = done;
                best = current.clone();
            }
            bar.set_message(format!(
                "loss {:.3}, validation R@1 {:.1} (best {:.1} at step {})",
                parts.total,
                scores.recall_at_1,
                history.best.map_or(0.0, |b| b.recall_at_1),
                history.best_step
            ));
            if since_best(&history) >= config.patience {
                history.stopped_early = true;
            }
            history.finished = history.stopped_early || done == config.steps;
            history.seconds = seconds_before + started.elapsed().as_secs_f64();
            if let Some(dir) = run.checkpoint {
                save(dir, &current, &best, &history)?;
            }
            if history.stopped_early {
                bar.suspend(|| {
                    eprintln!(
                        "{}: no better validation for {} checks; stopping at step {done}, best at step {}",
                        run.label, config.patience, history.best_step
                    )
                });
                break;
            }
        }
    }
    bar.finish_and_clear();
    history.seconds = seconds_before + started.elapsed().as_secs_f64();
    Ok(MetaTrained {
        network,
        functional_embedding: config.functional_embedding,
        networks: best,
        history,
    })
}

fn resume(dir: &Path, fingerprint: &str) -> Result<Option<History>> {
    let path = dir.join(PROGRESS);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let history: History = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a meta-training checkpoint", path.display()))?;
    if history.fingerprint != fingerprint {
        eprintln!(
            "{}: from another configuration or other data; starting afresh",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(history))
}

/// Weights first, under names that carry their step, then the progress record that names them,
/// then the files no record names any more: a kill at any point leaves a record whose weights
/// exist.
fn save(dir: &Path, current: &TansNetworks, best: &TansNetworks, history: &History) -> Result<()> {
    let names = weight_files(history.steps_done, history.best_step);
    write_atomic(
        &dir.join(&names[0]),
        &tans_core::weights::to_bytes(current, "meta-training checkpoint")?,
    )?;
    if !dir.join(&names[1]).exists() {
        write_atomic(
            &dir.join(&names[1]),
            &tans_core::weights::to_bytes(best, "best networks")?,
        )?;
    }
    write_atomic(&dir.join(PROGRESS), &serde_json::to_vec(history)?)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".bpk") && !names.contains(&name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}
