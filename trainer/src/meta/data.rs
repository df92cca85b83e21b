//! What meta-training reads, in memory: every meta-train task's backbone features split three
//! ways (training queries; a validation half and an evaluation half of its test images, so early
//! stopping never sees the images retrieval is scored on), and every zoo model with its task,
//! topology, functional embedding, accuracy and cost.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::index;
use tans_core::networks::matrix;
use tans_core::topology::TOPOLOGY_LEN;
use tans_core::{ModelCost, QueryBatch, QuerySet, Topology};

use crate::features;
use crate::zoo::db::{Shard, ZooDb};

/// Features of one split of a task, indexed by class.
#[derive(Debug, Clone)]
pub struct Split {
    dim: usize,
    features: Vec<f32>,
    /// Rows of each class, classes in label order.
    by_class: Vec<Vec<usize>>,
}

impl Split {
    /// `features` is `[labels.len(), dim]`; labels are any integers, renumbered in order.
    pub fn new(dim: usize, features: Vec<f32>, labels: &[u32]) -> Self {
        let mut classes: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (row, &label) in labels.iter().enumerate() {
            classes.entry(label).or_default().push(row);
        }
        Self {
            dim,
            features,
            by_class: classes.into_values().collect(),
        }
    }

    pub fn classes(&self) -> usize {
        self.by_class.len()
    }

    pub fn images(&self) -> usize {
        self.by_class.iter().map(Vec::len).sum()
    }

    /// `per_class` images of every class (without replacement where the class has that many,
    /// with replacement otherwise, so every class weighs the same), row-major, with labels.
    pub fn draw(&self, per_class: usize, rng: &mut StdRng) -> (Vec<f32>, Vec<u32>) {
        let mut features = Vec::with_capacity(self.classes() * per_class * self.dim);
        let mut labels = Vec::with_capacity(self.classes() * per_class);
        for (label, rows) in self.by_class.iter().enumerate() {
            let picks: Vec<usize> = if rows.len() >= per_class {
                index::sample(rng, rows.len(), per_class).into_vec()
            } else {
                (0..per_class)
                    .map(|_| rng.random_range(0..rows.len()))
                    .collect()
            };
            for pick in picks {
                let row = rows[pick];
                features.extend_from_slice(&self.features[row * self.dim..(row + 1) * self.dim]);
                labels.push(label as u32);
            }
        }
        (features, labels)
    }

    /// SHA-256 of the features and their classes.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let mut bytes = Vec::with_capacity(4 * 4096);
        for chunk in self.features.chunks(4096) {
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            hash.update(&bytes);
        }
        for rows in &self.by_class {
            hash.update((rows.len() as u64).to_le_bytes());
            for &row in rows {
                hash.update((row as u64).to_le_bytes());
            }
        }
        hash.finalize().into()
    }

    /// Halves of this split, alternating within each class (for validation and evaluation).
    fn halves(&self) -> (Self, Self) {
        let mut parts = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for (label, rows) in self.by_class.iter().enumerate() {
            for (i, &row) in rows.iter().enumerate() {
                let (features, labels) = &mut parts[i % 2];
                features.extend_from_slice(&self.features[row * self.dim..(row + 1) * self.dim]);
                labels.push(label as u32);
            }
        }
        let [(fa, la), (fb, lb)] = parts;
        (Self::new(self.dim, fa, &la), Self::new(self.dim, fb, &lb))
    }
}

/// A meta-train task.
#[derive(Debug, Clone)]
pub struct MetaTask {
    pub name: String,
    /// Training queries.
    pub train: Split,
    /// Early stopping's queries: every other test image of each class.
    pub validation: Split,
    /// Retrieval is scored on these: the other test images.
    pub evaluation: Split,
}

impl MetaTask {
    /// A task from its training and test features; each split must hold at least two classes
    /// and the test split two images of each of its classes.
    pub fn new(name: &str, train: Split, test: Split) -> Result<Self> {
        ensure!(
            train.images() > 0 && test.images() > 0,
            "task {name}: a query of zero images ({} training, {} test images)",
            train.images(),
            test.images()
        );
        ensure!(
            train.classes() >= 2 && test.classes() >= 2,
            "task {name}: {} training and {} test class(es); a task needs at least two",
            train.classes(),
            test.classes()
        );
        if let Some(class) = test.by_class.iter().position(|rows| rows.len() < 2) {
            bail!(
                "task {name}: test class {class} has one image; validation and evaluation need one each"
            );
        }
        let (validation, evaluation) = test.halves();
        Ok(Self {
            name: name.to_string(),
            train,
            validation,
            evaluation,
        })
    }
}

/// A zoo model as the model encoder sees it.
#[derive(Debug, Clone)]
pub struct MetaModel {
    pub id: String,
    pub task: usize,
    pub topology: Topology,
    pub functional: Vec<f32>,
    /// Test accuracy on its own task, in [0, 1].
    pub accuracy: f32,
    pub cost: ModelCost,
}

/// Tasks and models, checked to fit together.
#[derive(Debug, Clone)]
pub struct MetaData {
    pub feature_dim: usize,
    pub functional_dim: usize,
    pub tasks: Vec<MetaTask>,
    pub models: Vec<MetaModel>,
    by_task: Vec<Vec<usize>>,
}

impl MetaData {
    /// Every task must have a model and every model a task; functional embeddings must share
    /// one size and be finite, accuracies must lie in [0, 1].
    pub fn new(feature_dim: usize, tasks: Vec<MetaTask>, models: Vec<MetaModel>) -> Result<Self> {
        ensure!(!models.is_empty(), "the zoo has no models");
        let functional_dim = models[0].functional.len();
        let mut by_task = vec![Vec::new(); tasks.len()];
        for (i, model) in models.iter().enumerate() {
            let slot = by_task
                .get_mut(model.task)
                .with_context(|| format!("model {}: no such task", model.id))?;
            slot.push(i);
            ensure!(
                model.functional.len() == functional_dim && functional_dim > 0,
                "model {}: a functional embedding of {} values, the first model's has {functional_dim}",
                model.id,
                model.functional.len()
            );
            ensure!(
                model.functional.iter().all(|v| v.is_finite()),
                "model {}: a non-finite functional embedding",
                model.id
            );
            ensure!(
                (0.0..=1.0).contains(&model.accuracy),
                "model {}: accuracy {} is outside [0, 1]",
                model.id,
                model.accuracy
            );
        }
        if let Some(t) = by_task.iter().position(Vec::is_empty) {
            bail!("task {}: no zoo model", tasks[t].name);
        }
        ensure!(
            tasks.len() >= 2,
            "{} task(s): contrastive training needs at least two",
            tasks.len()
        );
        Ok(Self {
            feature_dim,
            functional_dim,
            tasks,
            models,
            by_task,
        })
    }

    /// The merged zoo database of `zoo` and the backbone features of its tasks in `pool` at
    /// input `side`. A zoo task without features, a feature file without its zoo task's
    /// classes, or damaged files are errors naming the task and file.
    pub fn from_zoo(zoo: &Path, pool: &Path, side: u32) -> Result<Self> {
        let path = Shard::WHOLE.database(zoo);
        ensure!(
            path.exists(),
            "{}: no zoo database (`tans zoo build`, then `tans zoo merge` for shards)",
            path.display()
        );
        let db = ZooDb::open(&path)?;
        let mut names: Vec<&str> = db.entries().iter().map(|e| e.task.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut tasks = Vec::with_capacity(names.len());
        for name in &names {
            let cached = features::read_cached(pool, side, name)?;
            let split = |(features, labels): (Vec<f32>, Vec<i64>)| -> Result<Split> {
                let labels = labels
                    .iter()
                    .map(|&l| u32::try_from(l).with_context(|| format!("task {name}: label {l}")))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Split::new(
                    tans_core::backbone::FEATURE_DIM,
                    features,
                    &labels,
                ))
            };
            tasks.push(MetaTask::new(
                name,
                split(cached.train)?,
                split(cached.test)?,
            )?);
        }
        let mut seen = vec![0usize; names.len()];
        let models = db
            .entries()
            .iter()
            .map(|entry| {
                let task = names
                    .binary_search(&entry.task.as_str())
                    .expect("names hold every task");
                seen[task] += 1;
                MetaModel {
                    id: format!("{}/{}", entry.task, seen[task] - 1),
                    task,
                    topology: entry.topology.clone(),
                    functional: entry.functional_embedding.clone(),
                    accuracy: entry.accuracy as f32,
                    cost: ModelCost {
                        params: entry.params,
                        flops: entry.flops,
                        latency_ms: entry.latency_ms as f32,
                    },
                }
            })
            .collect();
        Self::new(tans_core::backbone::FEATURE_DIM, tasks, models)
            .with_context(|| format!("{} and the features in {}", path.display(), pool.display()))
    }

    /// The models of task `task`.
    pub fn models_of(&self, task: usize) -> &[usize] {
        &self.by_task[task]
    }

    /// A batch of query sets, one per `(features, labels)` draw.
    pub fn query_batch(&self, draws: &[(Vec<f32>, Vec<u32>)]) -> Result<QueryBatch> {
        let sets: Vec<QuerySet> = draws
            .iter()
            .map(|(features, labels)| QuerySet {
                features,
                labels: Some(labels),
            })
            .collect();
        Ok(QueryBatch::new(self.feature_dim, &sets)?)
    }

    /// The model encoder's inputs for `models`: normalised topologies `[n, 45]` and functional
    /// embeddings `[n, F_m]` (zeros when `functional` is off, the ablation without them).
    pub fn model_inputs(
        &self,
        models: &[usize],
        functional: bool,
        device: &Device,
    ) -> (Tensor<2>, Tensor<2>) {
        let topology = models
            .iter()
            .flat_map(|&i| self.models[i].topology.normalised())
            .collect();
        let embedding = if functional {
            models
                .iter()
                .flat_map(|&i| self.models[i].functional.iter().copied())
                .collect()
        } else {
            vec![0.0; models.len() * self.functional_dim]
        };
        (
            matrix(topology, models.len(), TOPOLOGY_LEN, device),
            matrix(embedding, models.len(), self.functional_dim, device),
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn split(classes: u32, per_class: usize) -> Split {
        let labels: Vec<u32> = (0..classes)
            .flat_map(|c| std::iter::repeat_n(c * 10, per_class))
            .collect();
        let features = labels.iter().map(|&l| l as f32).collect();
        Split::new(1, features, &labels)
    }

    #[test]
    fn draws_weigh_every_class_the_same_and_halves_alternate() {
        let s = split(3, 4);
        let mut rng = StdRng::seed_from_u64(1);
        let (features, labels) = s.draw(6, &mut rng);
        assert_eq!(
            labels,
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
        );
        assert_eq!(features[6], 10.0, "class 1's rows carry its features");
        let (a, b) = s.halves();
        assert_eq!((a.images(), b.images(), a.classes()), (6, 6, 3));
    }

    #[test]
    fn bad_tasks_and_zoos_are_named() {
        let one = MetaTask::new("solo", split(1, 4), split(2, 2)).unwrap_err();
        assert!(one.to_string().contains("task solo"), "{one}");
        let thin = MetaTask::new("thin", split(2, 4), split(2, 1)).unwrap_err();
        assert!(thin.to_string().contains("one image"), "{thin}");
        let empty = MetaTask::new("empty", Split::new(1, vec![], &[]), split(2, 2)).unwrap_err();
        assert!(empty.to_string().contains("zero images"), "{empty}");
        let tasks = vec![
            MetaTask::new("a", split(2, 4), split(2, 2)).unwrap(),
            MetaTask::new("b", split(2, 4), split(2, 2)).unwrap(),
        ];
        let model = |task, functional: Vec<f32>| MetaModel {
            id: format!("m{task}"),
            task,
            topology: Topology::largest(),
            functional,
            accuracy: 0.5,
            cost: ModelCost {
                params: 1,
                flops: 1,
                latency_ms: 1.0,
            },
        };
        let lonely = MetaData::new(1, tasks.clone(), vec![model(0, vec![1.0])]).unwrap_err();
        assert!(
            lonely.to_string().contains("task b: no zoo model"),
            "{lonely}"
        );
        let nan = MetaData::new(
            1,
            tasks.clone(),
            vec![model(0, vec![1.0]), model(1, vec![f32::NAN])],
        )
        .unwrap_err();
        assert!(nan.to_string().contains("model m1"), "{nan}");
        MetaData::new(1, tasks, vec![model(0, vec![1.0]), model(1, vec![2.0])]).unwrap();
    }
}
