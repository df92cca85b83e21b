//! Building the zoo (`tans zoo base`, `tans zoo build`): the base supernet trained on every
//! meta-train class pooled (our analogue of the paper's ImageNet OFA), then per task a
//! fine-tuned supernet from which subnets are drawn, recalibrated, evaluated, embedded and
//! appended to the zoo database. Supernets are trained with the sandwich rule (largest,
//! smallest and random subnets in every step) and SGD with a cosine schedule stepped per epoch.
//! Training checkpoints after every epoch and every few minutes within one, and a killed run
//! resumes at the step it last saved (the momentum buffer restarts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tans_core::Topology;
use tans_core::ofa::{Cost, SpaceConfig, Supernet};
use tans_core::zoo::sha256_hex;
use tans_data::files::write_atomic;
use tans_data::packed::PackedTask;

use super::db::{Shard, ZooDb, ZooEntry};
use super::space::latency_ms;
use crate::synthetic::random_topology;

/// How one supernet is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub momentum: f64,
    pub weight_decay: f32,
    /// Random subnets per step besides the largest and the smallest.
    pub random_subnets: usize,
    /// At most this many training images of each class per epoch, a fresh seeded draw every
    /// epoch (0: every image every epoch).
    pub images_per_class: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch: 64,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 4e-5,
            random_subnets: 2,
            images_per_class: 0,
        }
    }
}

/// Every hyper-parameter of a zoo build (`--config zoo.toml`; missing fields take defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuildConfig {
    pub space: SpaceConfig,
    pub base: TrainConfig,
    pub task: TrainConfig,
    pub subnets_per_task: usize,
    /// Training batches that recalibrate a subnet's batch norm.
    pub calibration_batches: usize,
    /// Gaussian-noise images whose mean penultimate features are the functional embedding.
    pub noise_images: usize,
    pub latency_runs: usize,
    pub seed: u64,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            space: SpaceConfig::default(),
            base: TrainConfig::default(),
            task: TrainConfig {
                epochs: 3,
                learning_rate: 0.02,
                ..TrainConfig::default()
            },
            subnets_per_task: 20,
            calibration_batches: 4,
            noise_images: 32,
            latency_runs: 20,
            seed: 777,
        }
    }
}

impl BuildConfig {
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let config: Self = crate::config::load_toml(path)?;
        config.space.validate().context("the zoo's search space")?;
        for (what, train) in [("base", &config.base), ("task", &config.task)] {
            if train.batch == 0 || train.learning_rate.is_nan() || train.learning_rate <= 0.0 {
                bail!("[{what}]: batch and learning_rate must be positive");
            }
        }
        if config.subnets_per_task == 0 || config.calibration_batches == 0 {
            bail!("subnets_per_task and calibration_batches must be at least 1");
        }
        Ok(config)
    }
}

/// Images of one split as u8 RGB rows `[n, side, side, 3]` with labels.
pub struct Images<'a> {
    pixels: &'a [u8],
    labels: Vec<i64>,
    side: usize,
}

impl<'a> Images<'a> {
    pub fn new(pixels: &'a [u8], labels: Vec<i64>, side: usize) -> Result<Self> {
        if labels.is_empty() || pixels.len() != labels.len() * side * side * 3 {
            bail!(
                "{} bytes of images for {} labels at {side}×{side}",
                pixels.len(),
                labels.len()
            );
        }
        Ok(Self {
            pixels,
            labels,
            side,
        })
    }

    /// The training (`test` false) or test split of a packed task.
    pub fn split(task: &'a PackedTask, test: bool) -> Result<Self> {
        let (pixels, labels, what) = if test {
            (&task.test_images, &task.test_labels, "test")
        } else {
            (&task.train_images, &task.train_labels, "train")
        };
        Self::new(pixels, labels.clone(), task.image_size as usize)
            .with_context(|| format!("task {} {what} split", task.name))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A shuffled epoch: every image, or at most `per_class` of each class (0: no cap).
    pub fn epoch_order(&self, per_class: usize, rng: &mut StdRng) -> Vec<usize> {
        let mut order: Vec<usize> = if per_class == 0 {
            (0..self.len()).collect()
        } else {
            let mut by_class: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
            for (i, &label) in self.labels.iter().enumerate() {
                by_class.entry(label).or_default().push(i);
            }
            by_class
                .into_values()
                .flat_map(|mut rows| {
                    rows.shuffle(rng);
                    rows.truncate(per_class);
                    rows
                })
                .collect()
        };
        order.shuffle(rng);
        order
    }

    /// Images `[n, 3, side, side]` scaled to about [-2, 2], and their labels.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let s = self.side;
        let mut values = Vec::with_capacity(indices.len() * 3 * s * s);
        for &i in indices {
            let image = &self.pixels[i * s * s * 3..(i + 1) * s * s * 3];
            for c in 0..3 {
                values.extend(
                    image[c..]
                        .iter()
                        .step_by(3)
                        .map(|&v| (f32::from(v) / 255.0 - 0.5) / 0.25),
                );
            }
        }
        let labels: Vec<i64> = indices.iter().map(|&i| self.labels[i]).collect();
        (
            Tensor::from_data(TensorData::new(values, [indices.len(), 3, s, s]), device),
            Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        )
    }
}

/// What a checkpoint records besides the weights, to resume only the same run, where it
/// stopped.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Progress {
    fingerprint: String,
    epochs_done: usize,
    /// Steps done of the epoch after `epochs_done`, and the sum of their losses.
    #[serde(default)]
    steps_done: usize,
    #[serde(default)]
    loss_sum: f64,
}

/// How often a training run saves its place within an epoch: the most a kill can lose.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// One supernet training run: what it starts from (`origin`: e.g. the base's SHA-256 and the
/// task), its data, schedule and seed, and where it checkpoints. A run with the same origin,
/// configuration, seed and data size resumes from the checkpoint.
pub struct TrainingRun<'a> {
    pub origin: String,
    /// The device it trains on (autodiff is added here).
    pub device: &'a Device,
    pub config: &'a TrainConfig,
    pub seed: u64,
    pub checkpoint: &'a Path,
    pub label: &'a str,
    /// Stop after this many steps in this call, checkpointed as a kill between two saves
    /// would leave it (tests of resumption); `None` trains to the end.
    pub stop_after_steps: Option<usize>,
}

/// A trained supernet (on the run's device, without autodiff), its mean sandwich loss per
/// epoch finished in this call, and the steps this call trained (a resumed run reports only
/// what it trained).
pub struct Trained {
    pub supernet: Supernet,
    pub epoch_losses: Vec<f64>,
    pub steps_trained: usize,
}

fn save_progress(model: &Supernet, run: &TrainingRun, progress: &Progress) -> Result<()> {
    write_atomic(
        run.checkpoint,
        &tans_core::weights::to_bytes(model, "supernet")?,
    )?;
    write_atomic(
        &run.checkpoint.with_extension("progress.json"),
        serde_json::to_string(progress)?.as_bytes(),
    )?;
    Ok(())
}

/// Trains `supernet` on `data` with the sandwich rule, checkpointing after each epoch and every
/// [`CHECKPOINT_INTERVAL`] (and resuming from the checkpoint when it holds the same run).
pub fn train_supernet(supernet: Supernet, data: &Images, run: &TrainingRun) -> Result<Trained> {
    let TrainingRun {
        config,
        seed,
        checkpoint,
        label,
        ..
    } = *run;
    let device = run.device.clone().autodiff();
    let progress_path = checkpoint.with_extension("progress.json");
    let fingerprint = sha256_hex(
        format!(
            "{}:{seed}:{}:{}",
            serde_json::to_string(config)?,
            data.len(),
            run.origin
        )
        .as_bytes(),
    );
    let mut model = supernet.to_device(&device).train();
    let (mut start, mut start_step, mut carried_loss) = (0, 0, 0.0);
    let recorded: Option<Progress> = std::fs::read(&progress_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(progress) = recorded.filter(|p| p.fingerprint == fingerprint) {
        let bytes = std::fs::read(checkpoint)
            .with_context(|| format!("reading {}", checkpoint.display()))?;
        model = tans_core::weights::load(model, &bytes, &checkpoint.display().to_string())?;
        (start, start_step, carried_loss) =
            (progress.epochs_done, progress.steps_done, progress.loss_sum);
        eprintln!(
            "{label}: resuming at epoch {}, step {start_step}",
            start + 1
        );
    }
    let mut optimiser = SgdConfig::new()
        // Momentum 0 is plain SGD (burn's momentum would still dampen every step but the first).
        .with_momentum(
            (config.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(config.momentum)),
        )
        .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
            config.weight_decay,
        )))
        .init();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let steps = data
        .epoch_order(config.images_per_class, &mut StdRng::seed_from_u64(0))
        .len()
        .div_ceil(config.batch);
    let bar = ProgressBar::new((steps * config.epochs) as u64).with_style(
        ProgressStyle::with_template("{prefix} {bar:40} {pos}/{len} steps, ETA {eta} {msg}")
            .expect("a valid template"),
    );
    bar.set_prefix(label.to_string());
    bar.set_position((steps * start + start_step) as u64);
    let mut epoch_losses = Vec::new();
    let mut steps_trained = 0;
    let mut saved = Instant::now();
    for epoch in start..config.epochs {
        let started = Instant::now();
        let resumed = epoch == start;
        let first_step = if resumed { start_step } else { 0 };
        let rate = config.learning_rate
            * 0.5
            * (1.0 + (std::f64::consts::PI * epoch as f64 / config.epochs as f64).cos());
        let mut rng = StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9));
        let order = data.epoch_order(config.images_per_class, &mut rng);
        let mut total = if resumed { carried_loss } else { 0.0 };
        for (step, indices) in order.chunks(config.batch).enumerate() {
            // Drawn for skipped steps too, so that a resumed run goes on with the same draws.
            let mut topologies = vec![Topology::largest(), Topology::smallest()];
            topologies.extend((0..config.random_subnets).map(|_| random_topology(&mut rng)));
            if step < first_step {
                continue;
            }
            let progress = Progress {
                fingerprint: fingerprint.clone(),
                epochs_done: epoch,
                steps_done: step,
                loss_sum: total,
            };
            if run.stop_after_steps == Some(steps_trained) {
                save_progress(&model, run, &progress)?;
                bar.finish_and_clear();
                return Ok(Trained {
                    supernet: model.valid(),
                    epoch_losses,
                    steps_trained,
                });
            }
            if step > first_step && saved.elapsed() >= CHECKPOINT_INTERVAL {
                save_progress(&model, run, &progress)?;
                saved = Instant::now();
                // A line in logs too, where the bar is hidden.
                bar.suspend(|| {
                    eprintln!(
                        "{label}: epoch {}/{}, step {step}/{steps} saved, mean loss {:.4}",
                        epoch + 1,
                        config.epochs,
                        total / step as f64
                    )
                });
            }
            let (images, labels) = data.batch(indices, &device);
            let mut step_loss: Option<Tensor<1>> = None;
            for topology in &topologies {
                let l = loss.forward(model.forward(images.clone(), topology), labels.clone());
                step_loss = Some(match step_loss {
                    Some(sum) => sum + l,
                    None => l,
                });
            }
            let step_loss = step_loss.expect("at least two subnets");
            let value = step_loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                bail!("{label}: training diverged in epoch {epoch} (loss {value})");
            }
            total += f64::from(value) / topologies.len() as f64;
            let grads = GradientsParams::from_grads(step_loss.backward(), &model);
            model = optimiser.step(rate, model, grads);
            steps_trained += 1;
            bar.inc(1);
        }
        let progress = Progress {
            fingerprint: fingerprint.clone(),
            epochs_done: epoch + 1,
            steps_done: 0,
            loss_sum: 0.0,
        };
        save_progress(&model, run, &progress)?;
        saved = Instant::now();
        let seconds = started.elapsed().as_secs_f64();
        epoch_losses.push(total / steps as f64);
        bar.suspend(|| {
            eprintln!(
                "{label}: epoch {}/{} loss {:.4} lr {rate:.4} ({seconds:.1} s, ~{:.1} min left)",
                epoch + 1,
                config.epochs,
                total / steps as f64,
                seconds * (config.epochs - epoch - 1) as f64 / 60.0
            )
        });
    }
    bar.finish_and_clear();
    Ok(Trained {
        supernet: model.valid(),
        epoch_losses,
        steps_trained,
    })
}

/// The subnet `topology` cut out of `supernet` with its batch norm recalibrated on
/// `batches` seeded batches of `batch` images of `images`, on the supernet's device.
pub fn calibrated_subnet(
    supernet: &Supernet,
    topology: &Topology,
    images: &Images,
    batch: usize,
    batches: usize,
    rng: &mut StdRng,
) -> Result<tans_core::ofa::Subnet> {
    let device = supernet
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.shuffle(rng);
    let calibration: Vec<Tensor<4>> = order
        .chunks(batch)
        .take(batches)
        .map(|indices| images.batch(indices, &device).0)
        .collect();
    let stats = supernet.calibrate(topology, &calibration)?;
    Ok(supernet.extract(topology, &stats)?)
}

/// Accuracy of `subnet` on `test`; `classes` picks the logits that are the task's (the base
/// supernet's slice of its pooled classifier), all of them when `None`.
pub fn accuracy(
    subnet: &tans_core::ofa::Subnet,
    test: &Images,
    classes: Option<std::ops::Range<usize>>,
) -> f64 {
    let device = subnet
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let mut correct = 0usize;
    let all: Vec<usize> = (0..test.len()).collect();
    for indices in all.chunks(256) {
        let (images, labels) = test.batch(indices, &device);
        let logits = subnet.forward(images);
        let logits = match &classes {
            Some(range) => logits.narrow(1, range.start, range.len()),
            None => logits,
        };
        let predicted = logits.argmax(1).reshape([indices.len()]);
        correct += predicted
            .equal(labels)
            .int()
            .sum()
            .into_scalar::<i64>()
            .max(0) as usize;
    }
    correct as f64 / test.len() as f64
}

/// Test accuracy of the subnet `topology` after recalibrating its batch norm on `train`;
/// `classes` picks the logits that are the task's (see [`accuracy`]). Runs on the supernet's
/// device.
pub fn evaluate(
    supernet: &Supernet,
    topology: &Topology,
    train: &Images,
    test: &Images,
    config: &BuildConfig,
    classes: Option<std::ops::Range<usize>>,
    rng: &mut StdRng,
) -> Result<(f64, tans_core::ofa::Subnet)> {
    let subnet = calibrated_subnet(
        supernet,
        topology,
        train,
        config.task.batch,
        config.calibration_batches,
        rng,
    )?;
    Ok((accuracy(&subnet, test, classes), subnet))
}

/// The fixed Gaussian-noise batch whose mean features are every model's functional embedding.
pub fn noise_batch(config: &BuildConfig, device: &Device) -> Tensor<4> {
    let side = config.space.input_side;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let values: Vec<f32> = (0..config.noise_images * 3 * side * side)
        .map(|_| rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng))
        .collect();
    Tensor::from_data(
        TensorData::new(values, [config.noise_images, 3, side, side]),
        device,
    )
}

fn supernet_with_classes(config: &BuildConfig, classes: usize) -> Result<Supernet> {
    let space = SpaceConfig {
        classes,
        ..config.space.clone()
    };
    Ok(Supernet::new(&space, &Device::flex())?)
}

/// The tasks of a pool at `stage` (a generated pool's `pool.json` says which; every task of a
/// plain ImageFolder counts for either stage), in name order.
pub fn pool_tasks(pool: &Path, stage: tans_data::task::Stage) -> Result<Vec<PackedTask>> {
    let opened = tans_data::pool::open(pool, 32)
        .with_context(|| format!("opening the pool {}", pool.display()))?;
    let manifest: Option<tans_data::manifest::PoolManifest> =
        std::fs::read(pool.join(tans_data::manifest::MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    let at_stage = |name: &str| {
        manifest
            .as_ref()
            .is_none_or(|m| m.tasks.iter().any(|t| t.name == name && t.stage == stage))
    };
    let mut tasks: Vec<PackedTask> = opened
        .into_iter()
        .map(|o| o.task)
        .filter(|t| at_stage(&t.name))
        .collect();
    tasks.sort_by(|a, b| a.name.cmp(&b.name));
    if tasks.is_empty() {
        bail!("{}: no {stage:?} tasks", pool.display());
    }
    Ok(tasks)
}

/// The meta-train tasks of a pool, in name order (see [`pool_tasks`]).
pub fn meta_train_tasks(pool: &Path) -> Result<Vec<PackedTask>> {
    pool_tasks(pool, tans_data::task::Stage::MetaTrain)
}

/// Where the base supernet lives in a zoo folder.
pub fn base_path(zoo: &Path) -> PathBuf {
    zoo.join("supernets").join("base.bpk")
}

/// Trains the base supernet on every class of `tasks` pooled (labels offset per task).
pub fn build_base(
    tasks: &[PackedTask],
    zoo: &Path,
    config: &BuildConfig,
    device: &Device,
) -> Result<()> {
    if tasks.is_empty() {
        bail!("no meta-train tasks to pool for the base supernet");
    }
    let side = tasks[0].image_size as usize;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut offset = 0i64;
    let mut offsets = std::collections::BTreeMap::new();
    for task in tasks {
        if task.image_size as usize != side {
            bail!(
                "task {}: images of {} px, others {side} px",
                task.name,
                task.image_size
            );
        }
        pixels.extend_from_slice(&task.train_images);
        offsets.insert(task.name.clone(), offset as usize);
        labels.extend(task.train_labels.iter().map(|l| l + offset));
        offset += task.classes.len() as i64;
    }
    let data = Images::new(&pixels, labels, side)?;
    let path = base_path(zoo);
    std::fs::create_dir_all(path.parent().expect("a folder"))?;
    Device::flex().seed(config.seed);
    let supernet = supernet_with_classes(config, offset as usize)?;
    eprintln!(
        "base supernet: {} tasks, {offset} classes, {} images, {} epochs",
        tasks.len(),
        data.len(),
        config.base.epochs
    );
    let names: Vec<&String> = offsets.keys().collect();
    let run = TrainingRun {
        origin: format!(
            "base:{}",
            sha256_hex(format!("{names:?}:{offset}").as_bytes())
        ),
        device,
        config: &config.base,
        seed: config.seed,
        checkpoint: &path.with_extension("training.bpk"),
        label: "base",
        stop_after_steps: None,
    };
    let trained = train_supernet(supernet, &data, &run)?.supernet;
    write_atomic(
        &path,
        &tans_core::weights::to_bytes(&trained.sort_channels(), "base")?,
    )?;
    let record = BaseRecord {
        tasks: tasks.len(),
        classes: offset as usize,
        images: data.len(),
        config: config.base.clone(),
        offsets,
    };
    write_atomic(
        &path.with_extension("json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok(())
}

/// Fine-tunes the base supernet on each task this shard owns and appends `subnets_per_task`
/// evaluated subnets per task to the shard's database; finished entries are skipped on rerun.
pub fn build_tasks(
    tasks: &[PackedTask],
    zoo: &Path,
    config: &BuildConfig,
    shard: Shard,
    device: &Device,
) -> Result<()> {
    let base = base_path(zoo);
    let (base_bytes, record) = read_base(zoo)?;
    let base_classes = record.classes;
    let mut db = ZooDb::open(&shard.database(zoo))?;
    let cpu = Device::flex();
    let noise = noise_batch(config, device);
    let mut names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    let owned: Vec<&PackedTask> = tasks
        .iter()
        .filter(|t| shard.owns(names.binary_search(&t.name.as_str()).expect("listed")))
        .collect();
    let run_started = Instant::now();
    for (done, task) in owned.iter().enumerate() {
        let task_seed = tans_data::seed_for(config.seed, &task.name);
        let mut rng = StdRng::seed_from_u64(task_seed);
        let topologies: Vec<Topology> = (0..config.subnets_per_task)
            .map(|_| random_topology(&mut rng))
            .collect();
        if topologies.iter().all(|t| db.contains(&task.name, t)) {
            continue;
        }
        let started = Instant::now();
        let train = Images::split(task, false)?;
        let test = Images::split(task, true)?;
        let classes = task.classes.len();
        let mut supernet = tans_core::weights::load(
            supernet_with_classes(config, base_classes)?,
            &base_bytes,
            &base.display().to_string(),
        )?;
        let base_accuracy = match record.offsets.get(&task.name) {
            Some(&first) => Some(
                evaluate(
                    &supernet,
                    &Topology::largest(),
                    &train,
                    &test,
                    config,
                    Some(first..first + classes),
                    &mut rng,
                )?
                .0,
            ),
            None => None,
        };
        cpu.seed(task_seed);
        supernet = supernet.with_classifier(classes, &cpu);
        let checkpoint = zoo.join("supernets").join(format!("{}.bpk", task.name));
        let run = TrainingRun {
            origin: format!("task:{}:{}", task.name, sha256_hex(&base_bytes)),
            device,
            config: &config.task,
            seed: task_seed,
            checkpoint: &checkpoint,
            label: &task.name,
            stop_after_steps: None,
        };
        let tuned = train_supernet(supernet, &train, &run)?.supernet;
        let bytes = tans_core::weights::to_bytes(&tuned, &task.name)?;
        write_atomic(&checkpoint, &bytes)?;
        let supernet_sha256 = sha256_hex(&bytes);
        if let Some(base_accuracy) = base_accuracy {
            let tuning = TuningRecord {
                task: task.name.clone(),
                base_accuracy,
                tuned_accuracy: evaluate(
                    &tuned,
                    &Topology::largest(),
                    &train,
                    &test,
                    config,
                    None,
                    &mut rng,
                )?
                .0,
            };
            write_atomic(
                &checkpoint.with_extension("tuning.json"),
                serde_json::to_string_pretty(&tuning)?.as_bytes(),
            )?;
        }
        for topology in topologies {
            if db.contains(&task.name, &topology) {
                continue;
            }
            let (accuracy, subnet) =
                evaluate(&tuned, &topology, &train, &test, config, None, &mut rng)?;
            let embedding: Vec<f32> = subnet
                .features(noise.clone())
                .mean_dim(0)
                .into_data()
                .iter::<f32>()
                .collect();
            let cost = Cost::of(&config.space, &topology);
            db.append(ZooEntry {
                task: task.name.clone(),
                topology,
                accuracy,
                params: cost.params,
                flops: cost.flops,
                latency_ms: latency_ms(
                    &subnet.to_device(&cpu),
                    config.space.input_side,
                    config.latency_runs,
                    &cpu,
                ),
                functional_embedding: embedding,
                supernet: format!("supernets/{}.bpk", task.name),
                supernet_sha256: supernet_sha256.clone(),
            })?;
        }
        let per_task = run_started.elapsed().as_secs_f64() / (done + 1) as f64;
        eprintln!(
            "task {}/{} {}: {} subnets in {:.1} s (~{:.1} h left for this shard)",
            done + 1,
            owned.len(),
            task.name,
            config.subnets_per_task,
            started.elapsed().as_secs_f64(),
            per_task * (owned.len() - done - 1) as f64 / 3600.0
        );
    }
    Ok(())
}

/// The base supernet's weights and record in `zoo`; a missing or damaged one is an error
/// naming the file.
pub fn read_base(zoo: &Path) -> Result<(Vec<u8>, BaseRecord)> {
    let base = base_path(zoo);
    let bytes = std::fs::read(&base).with_context(|| {
        format!(
            "{}: train the base supernet first (`tans zoo base`)",
            base.display()
        )
    })?;
    let record = serde_json::from_slice(
        &std::fs::read(base.with_extension("json"))
            .with_context(|| format!("{}: the base supernet's record", base.display()))?,
    )
    .with_context(|| format!("{}: reading its record", base.display()))?;
    Ok((bytes, record))
}

/// What the base supernet was trained on, beside its weights.
#[derive(Debug, Serialize, Deserialize)]
pub struct BaseRecord {
    pub tasks: usize,
    pub classes: usize,
    pub images: usize,
    pub config: TrainConfig,
    /// Each task's first class in the pooled classifier.
    #[serde(default)]
    pub offsets: std::collections::BTreeMap<String, usize>,
}

/// How fine-tuning changed a task's largest subnet, written beside its supernet.
#[derive(Debug, Serialize, Deserialize)]
pub struct TuningRecord {
    pub task: String,
    /// The base supernet's largest subnet, predicting among the task's classes.
    pub base_accuracy: f64,
    /// The fine-tuned supernet's largest subnet.
    pub tuned_accuracy: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_space() -> SpaceConfig {
        SpaceConfig {
            input_side: 8,
            stem_width: 8,
            first_block_width: 8,
            stage_widths: [8, 8, 8, 8, 8],
            final_expand_width: 8,
            feature_mix_width: 8,
            classes: 2,
            ..SpaceConfig::default()
        }
    }

    #[test]
    fn an_epoch_draws_at_most_the_cap_of_each_class() {
        let pixels = vec![0u8; 10 * 2 * 2 * 3];
        let data = Images::new(&pixels, vec![0, 0, 0, 0, 0, 0, 1, 1, 2, 2], 2).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut capped = data.epoch_order(3, &mut rng);
        let per_class = |label: i64| capped.iter().filter(|&&i| data.labels[i] == label).count();
        assert_eq!([per_class(0), per_class(1), per_class(2)], [3, 2, 2]);
        capped.sort_unstable();
        capped.dedup();
        assert_eq!(capped.len(), 7, "no image twice");
        let mut all = data.epoch_order(0, &mut rng);
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    /// A test's run of `config`, seed 3, checkpointed at `checkpoint`.
    fn test_run<'a>(
        config: &'a TrainConfig,
        checkpoint: &'a Path,
        device: &'a Device,
        stop_after_steps: Option<usize>,
    ) -> TrainingRun<'a> {
        TrainingRun {
            origin: "test".into(),
            device,
            config,
            seed: 3,
            checkpoint,
            label: "test",
            stop_after_steps,
        }
    }

    /// A finished run found again is not retrained, whatever the fresh network it is handed:
    /// the checkpoint is what comes back.
    #[test]
    fn a_finished_training_run_resumes_from_its_checkpoint() {
        let _rng = crate::DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("tans-train-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pixels: Vec<u8> = (0..8 * 8 * 8 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let data = Images::new(&pixels, (0..8).map(|i| i % 2).collect(), 8).unwrap();
        let config = TrainConfig {
            epochs: 2,
            batch: 4,
            random_subnets: 0,
            ..TrainConfig::default()
        };
        let checkpoint = dir.join("net.bpk");
        let device = Device::flex();
        let run = test_run(&config, &checkpoint, &device, None);
        let fresh = || Supernet::new(&tiny_space(), &Device::flex()).unwrap();
        let first = train_supernet(fresh(), &data, &run).unwrap().supernet;
        let again = train_supernet(fresh(), &data, &run).unwrap();
        assert!(
            again.epoch_losses.is_empty(),
            "a finished run trains nothing more"
        );
        let again = again.supernet;
        let bytes = |n: &Supernet| tans_core::weights::to_bytes(n, "net").unwrap();
        assert_eq!(bytes(&first), bytes(&again));
        assert_eq!(std::fs::read(&checkpoint).unwrap(), bytes(&first));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A run stopped mid-epoch (as a kill between two saves leaves it) goes on at the step it
    /// saved, with the same data order and subnet draws: without momentum, whose buffer
    /// restarts, it ends with exactly the weights of a run never stopped.
    #[test]
    fn a_run_stopped_mid_epoch_resumes_at_its_step() {
        let _rng = crate::DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("tans-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pixels: Vec<u8> = (0..12 * 8 * 8 * 3).map(|i| (i * 53 % 251) as u8).collect();
        let data = Images::new(&pixels, (0..12).map(|i| i % 2).collect(), 8).unwrap();
        let config = TrainConfig {
            epochs: 2,
            batch: 4,
            momentum: 0.0,
            random_subnets: 1,
            ..TrainConfig::default()
        };
        let fresh = || {
            Device::flex().seed(9);
            Supernet::new(&tiny_space(), &Device::flex()).unwrap()
        };
        let train = |name: &str, stop_after_steps: Option<usize>| {
            let checkpoint = dir.join(format!("{name}.bpk"));
            let device = Device::flex();
            let run = test_run(&config, &checkpoint, &device, stop_after_steps);
            train_supernet(fresh(), &data, &run).unwrap()
        };
        let bytes = |n: &Supernet| tans_core::weights::to_bytes(n, "net").unwrap();
        let whole = train("whole", None);
        assert_eq!(whole.steps_trained, 6, "3 steps in each of 2 epochs");
        let stopped = train("stopped", Some(4));
        assert_eq!((stopped.steps_trained, stopped.epoch_losses.len()), (4, 1));
        let progress: Progress =
            serde_json::from_slice(&std::fs::read(dir.join("stopped.progress.json")).unwrap())
                .unwrap();
        assert_eq!((progress.epochs_done, progress.steps_done), (1, 1));
        let at_stop = std::fs::read(dir.join("stopped.bpk")).unwrap();
        assert_eq!(bytes(&stopped.supernet), at_stop);
        let resumed = train("stopped", None);
        assert_eq!(resumed.steps_trained, 2, "only the steps left");
        assert!(
            bytes(&resumed.supernet) != at_stop,
            "the resumed run trains"
        );
        assert!(
            bytes(&resumed.supernet) == bytes(&whole.supernet),
            "the same weights as a run never stopped"
        );
        let last = |t: &Trained| *t.epoch_losses.last().unwrap();
        assert!(
            (last(&resumed) - last(&whole)).abs() < 1e-9,
            "the epoch's mean loss counts the steps before the stop: {} vs {}",
            last(&resumed),
            last(&whole)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
