//! Efficient zoo construction (the paper's §3.3 and Algorithm 1) against random construction,
//! replayed over a built zoo as the paper's appendix B.3 does: every (task, subnet) pair of the
//! database is a candidate whose accuracy is revealed only once it is picked.
//!
//! Random construction picks pairs uniformly. Efficient construction starts from `initial`
//! random pairs, then repeatedly picks the candidate with the largest expected gain of its
//! task's hypervolume of (error, normalised latency, normalised parameters), the expectation
//! taken over `mc_samples` predictions of an accuracy predictor with MC dropout (p = 0.5),
//! retrained from scratch every `retrain_every` additions. Latency and size are known before
//! training, so only accuracy is predicted. The predictor sees a pair as its normalised
//! topology and a description of its task that needs no training: the mean backbone feature
//! of the task's training images.

use std::collections::HashMap;

use anyhow::{Result, bail};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tans_core::topology::TOPOLOGY_LEN;

use super::db::ZooEntry;
use crate::pareto::{Point, REFERENCE, hypervolume, objectives};

/// Hyper-parameters of efficient construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConstructConfig {
    /// Random pairs before the predictor takes over.
    pub initial: usize,
    pub retrain_every: usize,
    pub mc_samples: usize,
    pub dropout: f64,
    pub hidden: usize,
    /// Full-batch Adam steps per (re)training of the predictor.
    pub steps: usize,
    pub learning_rate: f64,
    /// Random construction is averaged over this many seeds.
    pub random_repeats: usize,
    pub seed: u64,
}

impl Default for ConstructConfig {
    fn default() -> Self {
        Self {
            initial: 150,
            retrain_every: 64,
            mc_samples: 10,
            dropout: 0.5,
            hidden: 64,
            steps: 300,
            learning_rate: 1e-3,
            random_repeats: 3,
            seed: 777,
        }
    }
}

/// Accuracy predictor: two hidden ReLU layers with dropout, sigmoid output. Weights and
/// dropout masks come from the caller's seeded generator, so construction is reproducible.
#[derive(Module, Debug)]
struct Predictor {
    first: Linear,
    second: Linear,
    out: Linear,
    dropout: f64,
}

fn seeded_linear(inputs: usize, outputs: usize, rng: &mut StdRng, device: &Device) -> Linear {
    let bound = (1.0 / inputs as f64).sqrt() as f32;
    let values: Vec<f32> = (0..inputs * outputs)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    // Zeros first: the weights below replace them, and burn's shared RNG is left alone.
    let mut layer = LinearConfig::new(inputs, outputs)
        .with_initializer(burn::nn::Initializer::Zeros)
        .init(device);
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [inputs, outputs]),
        device,
    ));
    layer.bias = Some(Param::from_tensor(Tensor::zeros([outputs], device)));
    layer
}

impl Predictor {
    fn new(inputs: usize, config: &ConstructConfig, rng: &mut StdRng, device: &Device) -> Self {
        Self {
            first: seeded_linear(inputs, config.hidden, rng, device),
            second: seeded_linear(config.hidden, config.hidden, rng, device),
            out: seeded_linear(config.hidden, 1, rng, device),
            dropout: config.dropout,
        }
    }

    /// Inverted dropout with a mask drawn from `rng`.
    fn drop(&self, x: Tensor<2>, rng: &mut StdRng) -> Tensor<2> {
        let keep = 1.0 - self.dropout;
        let dims = x.dims();
        let mask: Vec<f32> = (0..dims[0] * dims[1])
            .map(|_| {
                if rng.random::<f64>() < keep {
                    (1.0 / keep) as f32
                } else {
                    0.0
                }
            })
            .collect();
        x.clone() * Tensor::from_data(TensorData::new(mask, dims), &x.device())
    }

    /// Predicted accuracies, with dropout active (training and MC sampling alike).
    fn forward(&self, x: Tensor<2>, rng: &mut StdRng) -> Tensor<1> {
        let x = self.drop(relu(self.first.forward(x)), rng);
        let x = self.drop(relu(self.second.forward(x)), rng);
        let [n, _] = x.dims();
        sigmoid(self.out.forward(x)).reshape([n])
    }
}

/// The candidate pairs of a zoo, their predictor inputs and their known costs.
pub struct Candidates<'a> {
    entries: &'a [ZooEntry],
    tasks: Vec<String>,
    task_of: Vec<usize>,
    inputs: Vec<f32>,
    width: usize,
    /// (normalised latency, normalised params) per entry.
    costs: Vec<(f64, f64)>,
}

impl<'a> Candidates<'a> {
    /// `descriptors`: a vector per task (all the same length) describing it.
    pub fn new(entries: &'a [ZooEntry], descriptors: &HashMap<String, Vec<f32>>) -> Result<Self> {
        if entries.is_empty() {
            bail!("the zoo database is empty");
        }
        let mut tasks: Vec<String> = entries.iter().map(|e| e.task.clone()).collect();
        tasks.sort();
        tasks.dedup();
        let width = descriptors.values().next().map_or(0, Vec::len);
        for task in &tasks {
            match descriptors.get(task) {
                Some(d) if d.len() == width => {}
                Some(d) => bail!(
                    "task {task}: descriptor of {} values, others {width}",
                    d.len()
                ),
                None => bail!("task {task}: no descriptor"),
            }
        }
        let all: Vec<(f64, f64)> = entries
            .iter()
            .map(|e| (e.latency_ms, e.params as f64))
            .collect();
        let costs = entries
            .iter()
            .map(|e| {
                let [_, latency, params] = objectives(0.0, e.latency_ms, e.params as f64, &all);
                (latency, params)
            })
            .collect();
        let task_of: Vec<usize> = entries
            .iter()
            .map(|e| tasks.binary_search(&e.task).expect("listed"))
            .collect();
        let mut inputs = Vec::with_capacity(entries.len() * (TOPOLOGY_LEN + width));
        for entry in entries {
            inputs.extend(entry.topology.normalised());
            inputs.extend(&descriptors[&entry.task]);
        }
        Ok(Self {
            entries,
            tasks,
            task_of,
            inputs,
            width: TOPOLOGY_LEN + width,
            costs,
        })
    }

    fn point(&self, i: usize, accuracy: f64) -> Point {
        let (latency, params) = self.costs[i];
        [1.0 - accuracy, latency, params]
    }

    fn matrix(&self, rows: &[usize], device: &Device) -> Tensor<2> {
        let values: Vec<f32> = rows
            .iter()
            .flat_map(|&i| {
                self.inputs[i * self.width..(i + 1) * self.width]
                    .iter()
                    .copied()
            })
            .collect();
        Tensor::from_data(TensorData::new(values, [rows.len(), self.width]), device)
    }

    /// Mean best accuracy over all tasks (0 for a task without a pick) and the summed
    /// hypervolume of every task's picks.
    pub fn summarise(&self, picks: &[usize]) -> Summary {
        let mut best = vec![0.0f64; self.tasks.len()];
        let mut points: Vec<Vec<Point>> = vec![Vec::new(); self.tasks.len()];
        for &i in picks {
            let task = self.task_of[i];
            best[task] = best[task].max(self.entries[i].accuracy);
            points[task].push(self.point(i, self.entries[i].accuracy));
        }
        Summary {
            size: picks.len(),
            mean_best_accuracy: best.iter().sum::<f64>() / best.len() as f64,
            hypervolume: points.iter().map(|p| hypervolume(p, REFERENCE)).sum(),
        }
    }
}

/// A constructed zoo's quality at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub size: usize,
    pub mean_best_accuracy: f64,
    pub hypervolume: f64,
}

/// All candidates in a seeded random order.
pub fn random_order(candidates: &Candidates, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.entries.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

fn train_predictor(
    candidates: &Candidates,
    picks: &[usize],
    config: &ConstructConfig,
    seed: u64,
) -> Predictor {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut predictor = Predictor::new(candidates.width, config, &mut rng, &device).train();
    let x = candidates.matrix(picks, &device);
    let y: Vec<f32> = picks
        .iter()
        .map(|&i| candidates.entries[i].accuracy as f32)
        .collect();
    let y = Tensor::<1>::from_data(TensorData::new(y, [picks.len()]), &device);
    let mut adam = AdamConfig::new().init();
    for _ in 0..config.steps {
        let loss = (predictor.forward(x.clone(), &mut rng) - y.clone())
            .square()
            .mean();
        let grads = GradientsParams::from_grads(loss.backward(), &predictor);
        predictor = adam.step(config.learning_rate, predictor, grads);
    }
    predictor
}

/// Efficient construction: the order in which pairs are picked, `size` of them.
pub fn efficient_order(
    candidates: &Candidates,
    size: usize,
    config: &ConstructConfig,
) -> Vec<usize> {
    let size = size.min(candidates.entries.len());
    let mut picks: Vec<usize> = random_order(candidates, config.seed)
        .into_iter()
        .take(config.initial.min(size))
        .collect();
    let mut picked = vec![false; candidates.entries.len()];
    for &i in &picks {
        picked[i] = true;
    }
    let mut per_task: Vec<Vec<Point>> = vec![Vec::new(); candidates.tasks.len()];
    for &i in &picks {
        per_task[candidates.task_of[i]].push(candidates.point(i, candidates.entries[i].accuracy));
    }
    let mut predictor = None;
    let mut since_training = usize::MAX;
    while picks.len() < size {
        if since_training >= config.retrain_every.max(1) {
            predictor = Some(train_predictor(
                candidates,
                &picks,
                config,
                config.seed ^ picks.len() as u64,
            ));
            since_training = 0;
        }
        let predictor = predictor.as_ref().expect("trained above").valid();
        let open: Vec<usize> = (0..candidates.entries.len())
            .filter(|&i| !picked[i])
            .collect();
        let x = candidates.matrix(&open, &Device::flex());
        let mut rng = StdRng::seed_from_u64(config.seed ^ ((picks.len() as u64) << 20));
        let samples: Vec<Vec<f32>> = (0..config.mc_samples.max(1))
            .map(|_| {
                predictor
                    .forward(x.clone(), &mut rng)
                    .into_data()
                    .iter::<f32>()
                    .collect()
            })
            .collect();
        let base: Vec<f64> = per_task.iter().map(|p| hypervolume(p, REFERENCE)).collect();
        let mut best = (f64::NEG_INFINITY, open[0]);
        for (k, &i) in open.iter().enumerate() {
            let task = candidates.task_of[i];
            let mut front = per_task[task].clone();
            front.push([0.0; 3]);
            let gain: f64 = samples
                .iter()
                .map(|s| {
                    *front.last_mut().expect("pushed") = candidates.point(i, f64::from(s[k]));
                    hypervolume(&front, REFERENCE) - base[task]
                })
                .sum::<f64>()
                / samples.len() as f64;
            if gain > best.0 {
                best = (gain, i);
            }
        }
        let chosen = best.1;
        picked[chosen] = true;
        picks.push(chosen);
        per_task[candidates.task_of[chosen]]
            .push(candidates.point(chosen, candidates.entries[chosen].accuracy));
        since_training += 1;
    }
    picks
}

/// Random against efficient construction at each size, as JSON rows.
pub fn compare(
    candidates: &Candidates,
    sizes: &[usize],
    config: &ConstructConfig,
) -> Result<serde_json::Value> {
    let largest = *sizes.iter().max().unwrap_or(&0);
    if largest == 0 || largest > candidates.entries.len() {
        bail!(
            "sizes {sizes:?}: each must be in 1..={} (the zoo's pairs)",
            candidates.entries.len()
        );
    }
    let efficient = efficient_order(candidates, largest, config);
    let randoms: Vec<Vec<usize>> = (0..config.random_repeats.max(1))
        .map(|r| random_order(candidates, config.seed + 1 + r as u64))
        .collect();
    let rows: Vec<serde_json::Value> = sizes
        .iter()
        .map(|&size| {
            let random: Vec<Summary> = randoms
                .iter()
                .map(|o| candidates.summarise(&o[..size]))
                .collect();
            let mean =
                |f: fn(&Summary) -> f64| random.iter().map(f).sum::<f64>() / random.len() as f64;
            serde_json::json!({
                "size": size,
                "efficient": candidates.summarise(&efficient[..size]),
                "random_mean": {
                    "mean_best_accuracy": mean(|s| s.mean_best_accuracy),
                    "hypervolume": mean(|s| s.hypervolume),
                },
                "random_runs": random,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "tasks": candidates.tasks.len(),
        "pairs": candidates.entries.len(),
        "config": config,
        "sizes": rows,
    }))
}

/// The comparison as a Markdown table.
pub fn markdown(report: &serde_json::Value) -> String {
    let mut text = format!(
        "# Zoo construction: efficient (Pareto) against random\n\n{} tasks, {} candidate pairs; \
         random construction averaged over {} seeds. Mean best accuracy counts a task without \
         a pair as 0; hypervolume is summed over tasks (error, normalised latency, normalised \
         parameters; reference 1.1 each).\n\n\
         | pairs | efficient: mean best acc. | random: mean best acc. | efficient: hypervolume | random: hypervolume |\n\
         | --- | --- | --- | --- | --- |\n",
        report["tasks"], report["pairs"], report["config"]["random_repeats"]
    );
    for row in report["sizes"].as_array().into_iter().flatten() {
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        text.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.3} | {:.3} |\n",
            row["size"],
            f(&row["efficient"]["mean_best_accuracy"]),
            f(&row["random_mean"]["mean_best_accuracy"]),
            f(&row["efficient"]["hypervolume"]),
            f(&row["random_mean"]["hypervolume"]),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tans_core::Topology;

    /// A zoo where accuracy follows depth (up for even tasks, down for odd ones) and latency
    /// and size follow the kernel.
    fn synthetic(tasks: usize, per_task: usize) -> (Vec<ZooEntry>, HashMap<String, Vec<f32>>) {
        let mut entries = Vec::new();
        let mut descriptors = HashMap::new();
        for t in 0..tasks {
            let task = format!("task-{t}");
            descriptors.insert(
                task.clone(),
                vec![if t % 2 == 0 { 1.0 } else { -1.0 }, t as f32],
            );
            for m in 0..per_task {
                let depth = [2, 3, 4][m % 3];
                let kernel = [3, 5, 7][(m / 3) % 3];
                let topology =
                    Topology::new([kernel; 20], [3 + (m % 2) as u8 * 3; 20], [depth; 5]).unwrap();
                let accuracy = if t % 2 == 0 {
                    0.3 + 0.15 * f64::from(depth)
                } else {
                    1.1 - 0.15 * f64::from(depth)
                };
                entries.push(ZooEntry {
                    task: task.clone(),
                    topology,
                    accuracy: accuracy - 0.01 * m as f64 / per_task as f64,
                    params: 1000 * u64::from(kernel) + m as u64,
                    flops: 1,
                    latency_ms: f64::from(kernel) + 0.1 * f64::from(depth),
                    functional_embedding: vec![],
                    supernet: String::new(),
                    supernet_sha256: String::new(),
                });
            }
        }
        (entries, descriptors)
    }

    #[test]
    fn efficient_construction_picks_distinct_pairs_reproducibly() {
        let (entries, descriptors) = synthetic(4, 12);
        let candidates = Candidates::new(&entries, &descriptors).unwrap();
        let config = ConstructConfig {
            initial: 8,
            retrain_every: 8,
            mc_samples: 4,
            steps: 40,
            ..ConstructConfig::default()
        };
        let order = efficient_order(&candidates, 24, &config);
        assert_eq!(order.len(), 24);
        let mut unique = order.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 24, "no pair twice");
        assert_eq!(order, efficient_order(&candidates, 24, &config), "seeded");
        // Growing a zoo never shrinks its hypervolume or its best accuracies.
        let summaries: Vec<Summary> = (1..=24)
            .map(|n| candidates.summarise(&order[..n]))
            .collect();
        for pair in summaries.windows(2) {
            assert!(pair[1].hypervolume >= pair[0].hypervolume - 1e-12);
            assert!(pair[1].mean_best_accuracy >= pair[0].mean_best_accuracy);
        }
        let everything: Vec<usize> = (0..entries.len()).collect();
        let all = candidates.summarise(&everything);
        assert!(all.hypervolume >= summaries[23].hypervolume);
    }

    #[test]
    fn compare_reports_every_size_and_refuses_impossible_ones() {
        let (entries, descriptors) = synthetic(3, 6);
        let candidates = Candidates::new(&entries, &descriptors).unwrap();
        let config = ConstructConfig {
            initial: 3,
            retrain_every: 4,
            mc_samples: 2,
            steps: 10,
            ..ConstructConfig::default()
        };
        let report = compare(&candidates, &[6, 12, 18], &config).unwrap();
        let sizes = report["sizes"].as_array().unwrap();
        assert_eq!(sizes.len(), 3);
        // At the full size both constructions hold every pair.
        let hypervolume = |k: &str| sizes[2][k]["hypervolume"].as_f64().unwrap();
        assert!((hypervolume("efficient") - hypervolume("random_mean")).abs() < 1e-9);
        assert!(compare(&candidates, &[19], &config).is_err());
        let mut missing = descriptors.clone();
        missing.remove("task-1");
        assert!(Candidates::new(&entries, &missing).is_err());
    }
}
