//! `tans zoo bench`: supernet training throughput on the CPU for `scripts/bench-supernet.sh`,
//! which runs PyTorch on the same architecture alongside. One step = forward, cross-entropy,
//! backward and an SGD-with-momentum update at batch `batch`; the largest subnet trained
//! through the supernet (the architecture PyTorch gets), and the sandwich step (largest,
//! smallest and two random subnets) that zoo building runs.

use anyhow::Result;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tans_core::Topology;
use tans_core::ofa::{SpaceConfig, Supernet};

use crate::synthetic::random_topology;

/// Median images per second of `batch`-image training steps for at least `seconds` (and 5
/// steps), as JSON; `sandwich` trains four subnets per step instead of the largest alone.
pub fn train_throughput(
    space: &SpaceConfig,
    batch: usize,
    seconds: f64,
    sandwich: bool,
) -> Result<serde_json::Value> {
    let device = Device::flex().autodiff();
    let model = Supernet::new(space, &Device::flex())?
        .to_device(&device)
        .train();
    let mut optimiser = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .init();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let side = space.input_side;
    let images = Tensor::<4>::random([batch, 3, side, side], Distribution::Default, &device);
    let labels: Vec<i64> = (0..batch).map(|i| (i % space.classes) as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let mut rng = StdRng::seed_from_u64(7);
    let mut step = |model: Supernet| -> (Supernet, f64) {
        let started = std::time::Instant::now();
        let topologies: Vec<Topology> = if sandwich {
            let mut t = vec![Topology::largest(), Topology::smallest()];
            t.extend((0..2).map(|_| random_topology(&mut rng)));
            t
        } else {
            vec![Topology::largest()]
        };
        let total = topologies
            .iter()
            .map(|t| loss.forward(model.forward(images.clone(), t), labels.clone()))
            .reduce(|a, b| a + b)
            .expect("one subnet or more");
        let grads = GradientsParams::from_grads(total.backward(), &model);
        let model = optimiser.step(0.01, model, grads);
        (model, started.elapsed().as_secs_f64())
    };
    let mut model = Some(model);
    let (steps, median) = crate::timing::median_seconds(2, seconds, || {
        let (next, time) = step(model.take().expect("put back after every step"));
        model = Some(next);
        Ok(time)
    })?;
    Ok(serde_json::json!({
        "runtime": if sandwich { "burn 0.22.1 flex, sandwich step (4 subnets)" } else { "burn 0.22.1 flex, largest subnet" },
        "threads": rayon::current_num_threads(),
        "batch": batch,
        "side": side,
        "steps": steps,
        "median_step_s": median,
        "images_per_s": batch as f64 / median,
    }))
}
