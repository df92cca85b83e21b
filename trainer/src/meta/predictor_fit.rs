//! The performance predictor's input ablation (the paper's Fig. 7c): predictors of the shipped
//! predictor's shape fitted after meta-training on the frozen query and model embeddings of the
//! meta-train pairs, from both embeddings, from the model embedding only and from the query
//! embedding only (the other input zeroed). Fitting all three the same way makes the
//! comparison about the inputs alone; `tans transfer` scores them on the meta-test tasks.

use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tans_core::networks::{PerformancePredictor, matrix};
use tans_core::{NetworkConfig, Retriever};

use super::data::MetaData;

/// What a fitted predictor sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inputs {
    Both,
    ModelOnly,
    QueryOnly,
}

impl Inputs {
    pub const ALL: [Inputs; 3] = [Self::Both, Self::ModelOnly, Self::QueryOnly];

    pub fn label(self) -> &'static str {
        match self {
            Self::Both => "refitted, query and model",
            Self::ModelOnly => "refitted, without the query embedding",
            Self::QueryOnly => "refitted, without the model embedding",
        }
    }

    /// `(query, model)` with the input it does not see zeroed.
    fn mask(self, query: Tensor<2>, model: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Self::Both => (query, model),
            Self::ModelOnly => (query.zeros_like(), model),
            Self::QueryOnly => (query, model.zeros_like()),
        }
    }
}

/// Training pairs: a query embedding, a model embedding (`d` each) and the model's accuracy on
/// the query's task.
pub struct Pairs {
    dim: usize,
    queries: Vec<f32>,
    models: Vec<f32>,
    accuracy: Vec<f32>,
}

impl Pairs {
    pub fn len(&self) -> usize {
        self.accuracy.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accuracy.is_empty()
    }

    /// Every zoo model of every meta-train task with `draws` seeded queries of its task's
    /// training images (`per_class` per class), embedded by `retriever`'s query encoder; model
    /// embeddings are the published ones (the zoo database's order, which `data` shares).
    pub fn meta_train(
        data: &MetaData,
        retriever: &Retriever,
        per_class: usize,
        draws: usize,
        seed: u64,
    ) -> Result<Self> {
        let embeddings = &retriever.index().embeddings;
        ensure!(
            embeddings.rows() == data.models.len(),
            "the published zoo embeds {} models, the zoo database holds {}",
            embeddings.rows(),
            data.models.len()
        );
        let dim = embeddings.dim();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pairs = Self {
            dim,
            queries: Vec::new(),
            models: Vec::new(),
            accuracy: Vec::new(),
        };
        for (t, task) in data.tasks.iter().enumerate() {
            let sets: Vec<_> = (0..draws)
                .map(|_| task.train.draw(per_class, &mut rng))
                .collect();
            let encoded = pollster::block_on(retriever.encode(&data.query_batch(&sets)?))
                .with_context(|| format!("task {}: encoding its queries", task.name))?;
            for query in encoded.chunks_exact(dim) {
                for &model in data.models_of(t) {
                    pairs.queries.extend_from_slice(query);
                    pairs.models.extend_from_slice(embeddings.row(model));
                    pairs.accuracy.push(data.models[model].accuracy);
                }
            }
        }
        ensure!(
            !pairs.is_empty(),
            "no meta-train pairs to fit predictors on"
        );
        Ok(pairs)
    }
}

/// Fits a predictor of `network`'s shape on `pairs` seeing `inputs`: Adam, mean squared
/// error, `epochs` shuffled passes in batches of 256.
pub fn fit(
    pairs: &Pairs,
    inputs: Inputs,
    network: &NetworkConfig,
    epochs: usize,
    seed: u64,
) -> PerformancePredictor {
    const BATCH: usize = 256;
    const LEARNING_RATE: f64 = 1e-3;
    let cpu = Device::flex();
    cpu.seed(seed);
    let device = cpu.clone().autodiff();
    let mut predictor = PerformancePredictor::init(network, &cpu)
        .to_device(&device)
        .train();
    let mut optimiser = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let d = pairs.dim;
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            let rows = |values: &[f32]| {
                let picked: Vec<f32> = batch
                    .iter()
                    .flat_map(|&i| values[i * d..(i + 1) * d].iter().copied())
                    .collect();
                matrix(picked, batch.len(), d, &device)
            };
            let (query, model) = inputs.mask(rows(&pairs.queries), rows(&pairs.models));
            let target: Vec<f32> = batch.iter().map(|&i| pairs.accuracy[i]).collect();
            let target = Tensor::<1>::from_data(
                burn::tensor::TensorData::new(target, [batch.len()]),
                &device,
            );
            let loss = (predictor.forward(query, model) - target).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &predictor);
            predictor = optimiser.step(LEARNING_RATE, predictor, grads);
        }
    }
    predictor.valid()
}

/// `predictor`'s accuracy for each of `models` (`d` each, row-major) on one query embedding.
pub fn predict(
    predictor: &PerformancePredictor,
    inputs: Inputs,
    query: &[f32],
    models: &[f32],
) -> Result<Vec<f32>> {
    let d = query.len();
    let rows = models.len() / d.max(1);
    let device = Device::flex();
    let (query, model) = inputs.mask(
        matrix(query.repeat(rows), rows, d, &device),
        matrix(models.to_vec(), rows, d, &device),
    );
    predictor
        .forward(query, model)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))
}

/// Mean squared error of `predicted` against `truth`.
pub fn mse(predicted: &[f32], truth: &[f64]) -> f64 {
    let n = predicted.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    predicted
        .iter()
        .zip(truth)
        .map(|(&p, &t)| (f64::from(p) - t).powi(2))
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On pairs whose accuracy is a function of the model embedding alone, the predictor that
    /// sees the model learns it and the one that sees only the query cannot.
    #[test]
    fn the_model_blind_predictor_cannot_learn_a_model_property() {
        let d = 4;
        let mut pairs = Pairs {
            dim: d,
            queries: Vec::new(),
            models: Vec::new(),
            accuracy: Vec::new(),
        };
        for task in 0..8 {
            for model in 0..8 {
                let m: Vec<f32> = (0..d).map(|j| ((model * 3 + j) % 5) as f32 / 4.0).collect();
                pairs
                    .queries
                    .extend((0..d).map(|j| ((task + j) % 3) as f32));
                pairs.accuracy.push(0.2 + 0.6 * m[0]);
                pairs.models.extend(m);
            }
        }
        let network = NetworkConfig {
            embed_dim: d,
            predictor_hidden: 16,
            ..NetworkConfig::new(8, 8, tans_core::QueryEncoderKind::Linear)
        };
        let error = |inputs| {
            let predictor = fit(&pairs, inputs, &network, 1000, 7);
            let predicted = predict(
                &predictor,
                inputs,
                &pairs.queries[..d],
                &pairs.models[..8 * d],
            )
            .unwrap();
            let truth: Vec<f64> = pairs.accuracy[..8].iter().map(|&a| f64::from(a)).collect();
            mse(&predicted, &truth)
        };
        let (seeing, blind) = (error(Inputs::ModelOnly), error(Inputs::QueryOnly));
        assert!(seeing < 0.002, "model-seeing MSE {seeing}");
        assert!(blind > 5.0 * seeing, "query-only MSE {blind} vs {seeing}");
    }
}
