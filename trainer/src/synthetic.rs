//! A synthetic world for the foundation: tasks whose images are stood in for by feature vectors
//! drawn around per-class centres, and zoo models whose functional embeddings carry their task's
//! signal. It exercises training, publishing and retrieval end to end before the real pool,
//! backbone and zoo exist; nothing here claims to be real data.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use tans_core::topology::{DEPTHS, EXPANDS, KERNELS, MAX_DEPTH, STAGES};
use tans_core::{ModelCost, Topology};

use crate::meta::data::{MetaData, MetaModel, MetaTask, Split};

/// Sizes of the synthetic world.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyntheticConfig {
    pub tasks: usize,
    pub models_per_task: usize,
    pub classes: usize,
    pub feature_dim: usize,
    pub functional_dim: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            tasks: 8,
            models_per_task: 3,
            classes: 4,
            feature_dim: 32,
            functional_dim: 24,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyntheticModel {
    pub task: usize,
    pub topology: Topology,
    pub functional: Vec<f32>,
    pub cost: ModelCost,
    pub accuracy: f32,
}

#[derive(Debug, Clone)]
pub struct SyntheticWorld {
    pub config: SyntheticConfig,
    /// task → class → centre (feature_dim).
    class_centres: Vec<Vec<Vec<f32>>>,
    pub models: Vec<SyntheticModel>,
}

fn gaussian(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| scale * Distribution::<f32>::sample(&StandardNormal, rng))
        .collect()
}

/// A topology drawn uniformly from the search space.
pub fn random_topology(rng: &mut StdRng) -> Topology {
    let mut kernels = [0u8; STAGES * MAX_DEPTH];
    let mut expands = [0u8; STAGES * MAX_DEPTH];
    let mut depths = [0u8; STAGES];
    for k in &mut kernels {
        *k = *KERNELS.choose(rng).expect("non-empty");
    }
    for e in &mut expands {
        *e = *EXPANDS.choose(rng).expect("non-empty");
    }
    for d in &mut depths {
        *d = *DEPTHS.choose(rng).expect("non-empty");
    }
    Topology::new(kernels, expands, depths).expect("choices are valid")
}

/// A stand-in cost model: parameters grow with kernel² × expand of every active layer.
fn synthetic_cost(topology: &Topology) -> ModelCost {
    let v = topology.values();
    let n = STAGES * MAX_DEPTH;
    let params: u64 = (0..n)
        .map(|i| (u64::from(v[i]) * u64::from(v[i]) + 16) * u64::from(v[n + i]) * 512)
        .sum::<u64>()
        + 20_000;
    ModelCost {
        params,
        flops: params * 24,
        latency_ms: params as f32 / 150_000.0,
    }
}

impl SyntheticWorld {
    pub fn generate(config: SyntheticConfig, rng: &mut StdRng) -> Self {
        let f = config.feature_dim;
        let class_centres: Vec<Vec<Vec<f32>>> = (0..config.tasks)
            .map(|_| {
                let centre = gaussian(rng, f, 1.0);
                (0..config.classes)
                    .map(|_| {
                        centre
                            .iter()
                            .zip(gaussian(rng, f, 0.5))
                            .map(|(c, n)| c + n)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        // Functional embeddings: a fixed random map of the task's mean feature, plus noise.
        let projection = gaussian(rng, config.functional_dim * f, 1.0 / (f as f32).sqrt());
        let mut models = Vec::new();
        for (task, classes) in class_centres.iter().enumerate() {
            let mean: Vec<f32> = (0..f)
                .map(|j| classes.iter().map(|c| c[j]).sum::<f32>() / classes.len() as f32)
                .collect();
            let difficulty = rng.random_range(0.55..0.85f32);
            for _ in 0..config.models_per_task {
                let topology = random_topology(rng);
                let cost = synthetic_cost(&topology);
                let functional = projection
                    .chunks(f)
                    .map(|row| {
                        row.iter().zip(&mean).map(|(a, b)| a * b).sum::<f32>()
                            + 0.1 * gaussian(rng, 1, 1.0)[0]
                    })
                    .collect();
                let size_bonus = 0.08 * (cost.params as f32 / 400_000.0).min(1.0);
                let accuracy =
                    (difficulty + size_bonus + 0.02 * gaussian(rng, 1, 1.0)[0]).clamp(0.05, 0.99);
                models.push(SyntheticModel {
                    task,
                    topology,
                    functional,
                    cost,
                    accuracy,
                });
            }
        }
        Self {
            config,
            class_centres,
            models,
        }
    }

    pub fn task_name(task: usize) -> String {
        format!("synthetic-{task:02}")
    }

    /// `per_class` fresh feature vectors per class of `task`, row-major, with their labels.
    pub fn draw_query(
        &self,
        task: usize,
        per_class: usize,
        rng: &mut StdRng,
    ) -> (Vec<f32>, Vec<u32>) {
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for (label, centre) in self.class_centres[task].iter().enumerate() {
            for _ in 0..per_class {
                features.extend(
                    centre
                        .iter()
                        .zip(gaussian(rng, centre.len(), 0.3))
                        .map(|(c, n)| c + n),
                );
                labels.push(label as u32);
            }
        }
        (features, labels)
    }

    /// The world as meta-training data: `train` and `test` fresh draws per class of every task.
    pub fn meta_data(
        &self,
        train: usize,
        test: usize,
        rng: &mut StdRng,
    ) -> anyhow::Result<MetaData> {
        let dim = self.config.feature_dim;
        let tasks = (0..self.config.tasks)
            .map(|t| {
                let (features, labels) = self.draw_query(t, train, rng);
                let train = Split::new(dim, features, &labels);
                let (features, labels) = self.draw_query(t, test, rng);
                MetaTask::new(
                    &Self::task_name(t),
                    train,
                    Split::new(dim, features, &labels),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        let mut per_task = vec![0usize; self.config.tasks];
        let models = self
            .models
            .iter()
            .map(|m| {
                per_task[m.task] += 1;
                MetaModel {
                    id: format!("{}/m{}", Self::task_name(m.task), per_task[m.task] - 1),
                    task: m.task,
                    topology: m.topology.clone(),
                    functional: m.functional.clone(),
                    accuracy: m.accuracy,
                    cost: m.cost,
                }
            })
            .collect();
        MetaData::new(dim, tasks, models)
    }

    pub fn models_of(&self, task: usize) -> Vec<usize> {
        (0..self.models.len())
            .filter(|&i| self.models[i].task == task)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn generation_is_deterministic_and_well_formed() {
        let make =
            || SyntheticWorld::generate(SyntheticConfig::default(), &mut StdRng::seed_from_u64(5));
        let (a, b) = (make(), make());
        assert_eq!(a.models.len(), 24);
        assert_eq!(a.models[7].functional, b.models[7].functional);
        assert!(a.models.iter().all(|m| (0.05..=0.99).contains(&m.accuracy)));
        let (features, labels) = a.draw_query(2, 5, &mut StdRng::seed_from_u64(1));
        assert_eq!((features.len(), labels.len()), (4 * 5 * 32, 20));
        assert_eq!(a.models_of(1), vec![3, 4, 5]);
    }
}
