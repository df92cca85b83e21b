//! `tans meta-bench`: meta-training step time on the CPU for `scripts/bench-meta.sh`, which
//! runs a PyTorch implementation of the same three networks, objective and Adam update at the
//! same batch alongside (issue 6). One step is [`train_step`] — what `tans meta-train` runs —
//! on a fixed random batch of `tasks` pairs: a query set of `classes` × `per_class` feature
//! rows and one model per task, as meta-training draws them with every task in every step.

use std::time::Instant;

use anyhow::{Result, ensure};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Distribution, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tans_core::networks::QueryTensors;
use tans_core::topology::TOPOLOGY_LEN;
use tans_core::{QueryBatch, QueryEncoderKind, QuerySet, TansNetworks};

use super::train::{MetaTrainConfig, StepBatch, train_step};

/// The batch one benchmarked step trains on.
#[derive(Debug, Clone, Copy)]
pub struct BenchShape {
    /// Pairs per step (every meta-train task of the full pool: 149).
    pub tasks: usize,
    pub classes: usize,
    pub per_class: usize,
    /// Backbone feature size (EfficientNet-Lite0: 1280).
    pub feature_dim: usize,
    /// Functional-embedding size (the search space's feature-mix width: 512).
    pub functional_dim: usize,
    pub query_encoder: QueryEncoderKind,
}

/// Median seconds per step over at least `seconds` (and 5 steps, after 2 warm-up steps), as
/// JSON, with the networks and loss of the default [`MetaTrainConfig`].
pub fn step_time(shape: BenchShape, seconds: f64) -> Result<serde_json::Value> {
    let BenchShape {
        tasks,
        classes,
        per_class,
        feature_dim,
        functional_dim,
        query_encoder,
    } = shape;
    ensure!(
        tasks >= 2 && classes >= 1 && per_class >= 1 && feature_dim >= 1 && functional_dim >= 1,
        "meta-bench needs at least 2 tasks and one class, image, feature and functional value"
    );
    let config = MetaTrainConfig {
        query_encoder,
        ..MetaTrainConfig::default()
    };
    let network = config.network_for(feature_dim, functional_dim);
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let mut optimiser = AdamConfig::new().init();
    let normal = Distribution::Normal(0.0, 1.0);
    // One query set per task, `per_class` rows of every class, as meta-training draws them.
    let mut rng = StdRng::seed_from_u64(config.seed);
    let rows = classes * per_class;
    let features: Vec<f32> = (0..tasks * rows * feature_dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let labels: Vec<u32> = (0..rows).map(|row| (row / per_class) as u32).collect();
    let sets: Vec<QuerySet> = features
        .chunks(rows * feature_dim)
        .map(|features| QuerySet {
            features,
            labels: Some(&labels),
        })
        .collect();
    let batch = QueryBatch::new(feature_dim, &sets)?;
    let pairs = StepBatch {
        query: QueryTensors::new(&batch, &device),
        topology: Tensor::random([tasks, TOPOLOGY_LEN], Distribution::Default, &device),
        functional: Tensor::random([tasks, functional_dim], normal, &device),
        accuracy: Tensor::random([tasks], Distribution::Default, &device),
    };
    let mut networks = Some(TansNetworks::init(&network, &device));
    let (steps, median) = crate::timing::median_seconds(2, seconds, || {
        let started = Instant::now();
        let current = networks.take().expect("put back after every step");
        let (next, _) = train_step(current, &mut optimiser, pairs.clone(), &config)?;
        networks = Some(next);
        Ok(started.elapsed().as_secs_f64())
    })?;
    Ok(serde_json::json!({
        "runtime": "burn 0.22.1 flex",
        "threads": rayon::current_num_threads(),
        "query_encoder": query_encoder,
        "tasks": tasks,
        "classes": classes,
        "per_class": per_class,
        "feature_dim": feature_dim,
        "functional_dim": functional_dim,
        "steps": steps,
        "median_step_s": median,
        "steps_per_s": 1.0 / median,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_bench_reports_its_shape_and_a_positive_step_time() {
        let shape = BenchShape {
            tasks: 3,
            classes: 2,
            per_class: 2,
            feature_dim: 8,
            functional_dim: 4,
            query_encoder: QueryEncoderKind::Deep,
        };
        let result = step_time(shape, 0.0).unwrap();
        assert_eq!(result["tasks"], 3);
        assert_eq!(result["steps"], 5);
        assert!(result["median_step_s"].as_f64().unwrap() > 0.0);
        let one_task = BenchShape { tasks: 1, ..shape };
        assert!(step_time(one_task, 0.0).is_err());
    }
}
