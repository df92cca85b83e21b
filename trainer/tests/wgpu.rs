//! CPU (burn flex) and wgpu (a GPU, or Mesa's lavapipe in CI) train a supernet alike: from the
//! same weights and data, sandwich-rule SGD reaches the same loss at every step, within float
//! rounding that compounds over the steps.
//!
//! Without a wgpu adapter the test says so and passes, unless `TANS_REQUIRE_WGPU` is set, as
//! `cargo xtask test` sets it after installing lavapipe.

use burn::tensor::Device;
use tans_core::ofa::{SpaceConfig, Supernet};
use tans_trainer::compute::Compute;
use tans_trainer::zoo::build::{Images, TrainConfig, TrainingRun, train_supernet};

fn space() -> SpaceConfig {
    SpaceConfig {
        input_side: 16,
        stem_width: 8,
        first_block_width: 8,
        stage_widths: [8, 8, 16, 16, 16],
        final_expand_width: 16,
        feature_mix_width: 12,
        classes: 3,
        ..SpaceConfig::default()
    }
}

#[test]
fn cpu_and_wgpu_reach_the_same_training_losses() {
    let wgpu = match Compute::Wgpu.device() {
        Ok(device) => device,
        Err(why) if std::env::var_os("TANS_REQUIRE_WGPU").is_none() => {
            eprintln!("skipped, no wgpu device: {why:#}");
            return;
        }
        Err(why) => panic!("TANS_REQUIRE_WGPU is set: {why:#}"),
    };
    eprintln!("wgpu: {}", Compute::Wgpu.describe().unwrap());
    let side = 16;
    let count = 24;
    // Three classes told apart by which colour channel is bright, with texture on top.
    let labels: Vec<i64> = (0..count).map(|i| (i % 3) as i64).collect();
    let pixels: Vec<u8> = (0..count * side * side * 3)
        .map(|i| {
            let (image, channel) = (i / (side * side * 3), i % 3);
            let texture = (i * 37 % 61) as u8;
            if channel == image % 3 {
                160 + texture
            } else {
                texture
            }
        })
        .collect();
    let data = Images::new(&pixels, labels, side).unwrap();
    let config = TrainConfig {
        epochs: 4,
        batch: count,
        random_subnets: 1,
        ..TrainConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("tans-wgpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = {
        Device::flex().seed(11);
        Supernet::new(&space(), &Device::flex()).unwrap()
    };
    let mut losses = Vec::new();
    for (name, device) in [("cpu", Device::flex()), ("wgpu", wgpu)] {
        let checkpoint = dir.join(format!("{name}.bpk"));
        let run = TrainingRun {
            origin: name.into(),
            device: &device,
            config: &config,
            seed: 5,
            checkpoint: &checkpoint,
            label: name,
            stop_after_steps: None,
        };
        losses.push(
            train_supernet(start.clone(), &data, &run)
                .unwrap()
                .epoch_losses,
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let (cpu, wgpu) = (&losses[0], &losses[1]);
    eprintln!("losses per step, cpu {cpu:?}, wgpu {wgpu:?}");
    assert_eq!(cpu.len(), config.epochs);
    assert_eq!(wgpu.len(), config.epochs);
    // The first loss is the forward pass of the same weights, the second follows one update:
    // both agree to float rounding. Later steps drift apart as rounding differences compound
    // through batch norm over 24 images (measured here on lavapipe: 3e-4, then 3e-3).
    for (step, (a, b)) in cpu.iter().zip(wgpu).enumerate() {
        let tolerance = if step < 2 { 1e-4 } else { 1e-2 };
        assert!(
            (a - b).abs() <= tolerance * a.abs().max(1.0),
            "step {step}: cpu loss {a}, wgpu loss {b}"
        );
    }
    assert!(
        cpu[config.epochs - 1] < cpu[0],
        "training lowers the loss: {cpu:?}"
    );
}
