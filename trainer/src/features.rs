//! `tans backbone features`: the backbone's features of every image of a pool, computed once and
//! stored beside the pool (`<pool>/.features/<backbone>-<side>/<task>.safetensors`: f32
//! `train_features` / `test_features` `[n, 1280]` and i64 labels), so meta-training never runs
//! the backbone again. A task is recomputed only when its packed images or the weights change;
//! each file is written atomically, so a killed run resumes where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use safetensors::tensor::{Dtype, TensorView};
use sha2::{Digest, Sha256};
use tans_core::backbone::{EfficientNetLite0, FEATURE_DIM};
use tans_core::preprocess;
use tans_core::zoo::sha256_hex;
use tans_data::files::write_atomic;
use tans_data::packed::PackedTask;
use tans_data::pool;

const BACKBONE: &str = "efficientnet-lite0";
const METADATA_KEY: &str = "tans";

pub fn cache_dir(pool: &Path, side: u32) -> PathBuf {
    pool.join(".features").join(format!("{BACKBONE}-{side}"))
}

/// What a task's features depend on: its images and labels, the weights, the input side and
/// the form the network runs in.
fn fingerprint(task: &PackedTask, weights_sha: &str, side: u32) -> String {
    let mut hash = Sha256::new();
    for part in [&task.train_images, &task.test_images] {
        hash.update(part);
    }
    for labels in [&task.train_labels, &task.test_labels] {
        for l in labels.iter() {
            hash.update(l.to_le_bytes());
        }
    }
    // "bn-folded+channels-last": the features come from the folded network on the channels-last
    // CPU path (`for_inference` on flex); the tag changes when that arithmetic does.
    hash.update(format!(
        "{weights_sha}:{side}:{}:bn-folded+channels-last",
        task.image_size
    ));
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn recorded_fingerprint(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    metadata.metadata().as_ref()?.get(METADATA_KEY).cloned()
}

/// The backbone input at `side` of one packed RGB image of `size` × `size`.
pub fn packed_input(pixels: &[u8], size: u32, side: u32) -> Vec<f32> {
    let image = image::RgbImage::from_raw(size, size, pixels.to_vec())
        .expect("packed images have size × size × 3 bytes");
    preprocess::to_input(&image::DynamicImage::ImageRgb8(image), side)
}

/// Features `[n, 1280]` of `n` packed RGB images of `size`, in batches of `batch`.
fn embed(
    network: &EfficientNetLite0,
    images: &[u8],
    size: u32,
    side: u32,
    batch: usize,
    device: &Device,
    progress: &ProgressBar,
) -> Result<Vec<f32>> {
    let bytes = (size * size * 3) as usize;
    let mut out = Vec::with_capacity(images.len() / bytes * FEATURE_DIM);
    for chunk in images.chunks(bytes * batch) {
        let inputs: Vec<Vec<f32>> = chunk
            .chunks(bytes)
            .map(|pixels| packed_input(pixels, size, side))
            .collect();
        let features = network.features(preprocess::batch(&inputs, side, device)?);
        out.extend(features.into_data().iter::<f32>());
        progress.inc(inputs.len() as u64);
    }
    Ok(out)
}

/// One task's cached features: `[n, 1280]` row-major per split, with labels.
pub struct CachedFeatures {
    pub train: (Vec<f32>, Vec<i64>),
    pub test: (Vec<f32>, Vec<i64>),
}

/// Reads the features `compute` wrote for `task`; a missing, damaged or non-finite file is an
/// error naming it (and the command that makes it).
pub fn read_cached(pool: &Path, side: u32, task: &str) -> Result<CachedFeatures> {
    let path = cache_dir(pool, side).join(format!("{task}.safetensors"));
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "task {task}: no features at {} (`tans backbone features --pool {} --side {side}` computes them)",
            path.display(),
            pool.display()
        )
    })?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("task {task}: reading {}", path.display()))?;
    let split = |name: &str| -> Result<(Vec<f32>, Vec<i64>)> {
        let features = tensors
            .tensor(&format!("{name}_features"))
            .with_context(|| format!("{}: no {name}_features", path.display()))?;
        let labels = tensors
            .tensor(&format!("{name}_labels"))
            .with_context(|| format!("{}: no {name}_labels", path.display()))?;
        let rows = labels.shape().first().copied().unwrap_or(0);
        anyhow::ensure!(
            features.dtype() == Dtype::F32
                && labels.dtype() == Dtype::I64
                && features.shape() == [rows, FEATURE_DIM],
            "{}: {name} features {:?} {:?} and labels {:?} {:?}, expected F32 [n, {FEATURE_DIM}] and I64 [n]",
            path.display(),
            features.dtype(),
            features.shape(),
            labels.dtype(),
            labels.shape()
        );
        let values: Vec<f32> = features
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            anyhow::bail!(
                "{}: {name} feature {} of image {} is {}",
                path.display(),
                at % FEATURE_DIM,
                at / FEATURE_DIM,
                values[at]
            );
        }
        let labels = labels
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok((values, labels))
    };
    Ok(CachedFeatures {
        train: split("train")?,
        test: split("test")?,
    })
}

/// The mean backbone feature of a task's training images, from the cache `compute` wrote: a
/// description of the task that needs no training on it.
pub fn task_mean(pool: &Path, side: u32, task: &str) -> Result<Vec<f32>> {
    let (values, _) = read_cached(pool, side, task)?.train;
    let rows = values.len() / FEATURE_DIM;
    anyhow::ensure!(rows > 0, "task {task}: no training features");
    let mut mean = vec![0f32; FEATURE_DIM];
    for row in values.chunks_exact(FEATURE_DIM) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / rows as f32;
        }
    }
    Ok(mean)
}

fn labels_bytes(labels: &[i64]) -> Vec<u8> {
    labels.iter().flat_map(|l| l.to_le_bytes()).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Computes (or reuses) the features of every task of `pool` at input `side`.
pub fn compute(pool: &Path, weights: &Path, side: u32, batch: usize) -> Result<()> {
    let weight_bytes =
        std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
    let weights_sha = sha256_hex(&weight_bytes);
    let device = Device::flex();
    let network = EfficientNetLite0::from_bytes(&weight_bytes, &device)
        .with_context(|| format!("loading {}", weights.display()))?
        .for_inference(&device);
    let tasks = pool::open(pool, 32).with_context(|| format!("opening {}", pool.display()))?;
    let dir = cache_dir(pool, side);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let total: usize = tasks
        .iter()
        .map(|t| t.task.train_labels.len() + t.task.test_labels.len())
        .sum();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, ETA {eta} {msg}")
            .expect("a valid template"),
    );
    let (mut computed, mut reused) = (0, 0);
    for opened in &tasks {
        let task = &opened.task;
        let path = dir.join(format!("{}.safetensors", task.name));
        let fingerprint = fingerprint(task, &weights_sha, side);
        progress.set_message(task.name.clone());
        if recorded_fingerprint(&path).as_deref() == Some(fingerprint.as_str()) {
            progress.inc((task.train_labels.len() + task.test_labels.len()) as u64);
            reused += 1;
            continue;
        }
        let mut buffers = Vec::new();
        for (split, images, labels) in [
            ("test", &task.test_images, &task.test_labels),
            ("train", &task.train_images, &task.train_labels),
        ] {
            let features = embed(
                &network,
                images,
                task.image_size,
                side,
                batch,
                &device,
                &progress,
            )?;
            buffers.push((
                split,
                labels.len(),
                f32_bytes(&features),
                labels_bytes(labels),
            ));
        }
        let mut tensors = Vec::new();
        for (split, n, features, labels) in &buffers {
            tensors.push((
                format!("{split}_features"),
                TensorView::new(Dtype::F32, vec![*n, FEATURE_DIM], features)?,
            ));
            tensors.push((
                format!("{split}_labels"),
                TensorView::new(Dtype::I64, vec![*n], labels)?,
            ));
        }
        let metadata = HashMap::from([(METADATA_KEY.to_string(), fingerprint)]);
        let bytes = safetensors::serialize(tensors, Some(metadata))?;
        write_atomic(&path, &bytes)?;
        computed += 1;
    }
    progress.finish_and_clear();
    eprintln!(
        "features of {} tasks in {} ({computed} computed, {reused} reused)",
        tasks.len(),
        dir.display()
    );
    Ok(())
}
