//! Meta-contrastive training over a synthetic world: each step holds one (query set, model) pair
//! per task, with the other tasks' pairs as in-batch negatives (paper eq. 5).

use anyhow::Result;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use tans_core::loss::{LossConfig, meta_contrastive_loss};
use tans_core::networks::{QueryTensors, matrix};
use tans_core::topology::TOPOLOGY_LEN;
use tans_core::{NetworkConfig, QueryBatch, QuerySet, TansNetworks};

use crate::synthetic::SyntheticWorld;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub steps: usize,
    pub learning_rate: f64,
    /// Images per class in a training query.
    pub per_class: usize,
    pub loss: LossConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 150,
            learning_rate: 1e-2,
            per_class: 5,
            loss: LossConfig::default(),
        }
    }
}

/// Topology and functional-embedding tensors for the given zoo models.
pub fn model_inputs(
    world: &SyntheticWorld,
    models: &[usize],
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let topology = models
        .iter()
        .flat_map(|&i| world.models[i].topology.normalised())
        .collect();
    let functional = models
        .iter()
        .flat_map(|&i| world.models[i].functional.iter().copied())
        .collect();
    (
        matrix(topology, models.len(), TOPOLOGY_LEN, device),
        matrix(
            functional,
            models.len(),
            world.config.functional_dim,
            device,
        ),
    )
}

/// Trains all three networks; returns them (off autodiff) and the loss of every step.
pub fn train(
    world: &SyntheticWorld,
    network: &NetworkConfig,
    config: &TrainConfig,
    rng: &mut StdRng,
    device: &Device,
) -> Result<(TansNetworks, Vec<f32>)> {
    let device = device.clone().autodiff();
    let mut networks = TansNetworks::init(network, &device);
    let mut optimiser = AdamConfig::new().init();
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let tasks = 0..world.config.tasks;
        let models: Vec<usize> = tasks
            .clone()
            .map(|t| {
                *world
                    .models_of(t)
                    .choose(rng)
                    .expect("every task has models")
            })
            .collect();
        let queries: Vec<(Vec<f32>, Vec<u32>)> = tasks
            .map(|t| world.draw_query(t, config.per_class, rng))
            .collect();
        let sets: Vec<QuerySet> = queries
            .iter()
            .map(|(features, labels)| QuerySet {
                features,
                labels: Some(labels),
            })
            .collect();
        let batch = QueryBatch::new(world.config.feature_dim, &sets)?;
        let (topology, functional) = model_inputs(world, &models, &device);
        let accuracy: Vec<f32> = models.iter().map(|&i| world.models[i].accuracy).collect();
        let accuracy = Tensor::<1>::from_floats(accuracy.as_slice(), &device);

        let (q, m) = networks.embed(QueryTensors::new(&batch, &device), topology, functional);
        let predicted = networks.query.predictor.forward(q.clone(), m.clone());
        let loss = meta_contrastive_loss(q, m, predicted, accuracy, &config.loss);
        let value = loss
            .total
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?[0];
        anyhow::ensure!(
            value.is_finite(),
            "training diverged at step {step}: loss {value}"
        );
        losses.push(value);
        let grads = GradientsParams::from_grads(loss.total.backward(), &networks);
        networks = optimiser.step(config.learning_rate, networks, grads);
        if step % 50 == 0 || step + 1 == config.steps {
            eprintln!("  step {:>4}/{}  loss {value:.4}", step + 1, config.steps);
        }
    }
    Ok((networks.valid(), losses))
}
