//! `tans zoo space`: measures a search space — parameters, FLOPs and CPU latency of its
//! smallest, largest and randomly drawn subnets — so its widths can be justified by numbers.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::{Device, Distribution, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tans_core::Topology;
use tans_core::ofa::{Cost, SpaceConfig, Subnet, Supernet};

use crate::synthetic::random_topology;

/// A search space from a TOML file, or the default one.
pub fn load_space(path: Option<&Path>) -> Result<SpaceConfig> {
    let space: SpaceConfig = crate::config::load_toml(path)?;
    space.validate().with_context(|| match path {
        Some(path) => format!("search space in {}", path.display()),
        None => "default search space".into(),
    })?;
    Ok(space)
}

/// Median CPU latency (ms) of one image through `subnet` at `side`, over `runs` runs after a
/// warm-up.
pub fn latency_ms(subnet: &Subnet, side: usize, runs: usize, device: &Device) -> f64 {
    let image = Tensor::<4>::random([1, 3, side, side], Distribution::Default, device);
    let _ = subnet.forward(image.clone()).into_data();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            let _ = subnet.forward(image.clone()).into_data();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Parameters, FLOPs and latency of the smallest and largest subnet of `space` and of
/// `samples` random ones (seeded), as JSON.
pub fn space_report(space: &SpaceConfig, samples: usize, seed: u64) -> Result<serde_json::Value> {
    let device = Device::flex();
    let supernet = Supernet::new(space, &device)?;
    let side = space.input_side;
    let calibration = [Tensor::<4>::random(
        [8, 3, side, side],
        Distribution::Default,
        &device,
    )];
    let mut rng = StdRng::seed_from_u64(seed);
    let named = [
        ("smallest".to_string(), Topology::smallest()),
        ("largest".to_string(), Topology::largest()),
    ]
    .into_iter()
    .chain((0..samples).map(|i| (format!("random-{i}"), random_topology(&mut rng))));
    let mut rows = Vec::new();
    for (name, topology) in named {
        let stats = supernet.calibrate(&topology, &calibration)?;
        let subnet = supernet.extract(&topology, &stats)?;
        let cost = Cost::of(space, &topology);
        rows.push(serde_json::json!({
            "name": name,
            "params": cost.params,
            "mflops": cost.flops as f64 / 1e6,
            "latency_ms": latency_ms(&subnet, side, 30, &device),
            "topology": topology.values().to_vec(),
        }));
    }
    Ok(serde_json::json!({ "space": space, "subnets": rows }))
}
