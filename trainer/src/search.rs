//! `tans search`: the ranked candidates of a published zoo for any folder of images, encoded by
//! the image backbone on the CPU exactly as the browser encodes them — for spot checks on data
//! nobody trained on. A folder of class subfolders (an ImageFolder task, or its `train` split)
//! is a labelled query; a folder of images is one unlabelled set. Images that do not decode are
//! skipped and named.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use burn::tensor::Device;
use tans_core::backbone::{FEATURE_DIM, ImageEncoder};
use tans_core::{QueryBatch, SearchRequest};

use crate::publish;

pub struct Options {
    /// Folder of a published zoo (its `zoo.json`).
    pub zoo: PathBuf,
    pub query: PathBuf,
    pub weights: PathBuf,
    pub side: usize,
    pub request: SearchRequest,
    pub json: bool,
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path.extension().is_some_and(|e| {
            ["png", "jpg", "jpeg", "tga"].contains(&e.to_string_lossy().to_lowercase().as_str())
        })
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    paths.sort();
    Ok(paths)
}

/// The query's images with their class (`None` for an unlabelled folder).
pub fn query_images(dir: &Path) -> Result<Vec<(PathBuf, Option<u32>)>> {
    let dir = if dir.join("train").is_dir() {
        dir.join("train")
    } else {
        dir.to_path_buf()
    };
    let entries = sorted_entries(&dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut images = Vec::new();
    if classes.is_empty() {
        images.extend(
            entries
                .iter()
                .filter(|p| is_image(p))
                .map(|p| (p.clone(), None)),
        );
    } else {
        for (label, class) in classes.iter().enumerate() {
            for path in sorted_entries(class)? {
                if is_image(&path) {
                    images.push((path, Some(label as u32)));
                }
            }
        }
    }
    ensure!(
        !images.is_empty(),
        "{}: no PNG, JPEG or TGA images (directly, or in class subfolders)",
        dir.display()
    );
    Ok(images)
}

pub fn run(options: Options) -> Result<()> {
    let device = Device::flex();
    let retriever = publish::open(&options.zoo, &device)?;
    let dim = retriever.index().manifest.network.feature_dim;
    if dim != FEATURE_DIM {
        bail!(
            "{}: this zoo takes {dim}-d features, not the image backbone's {FEATURE_DIM}-d (a synthetic zoo?)",
            options.zoo.display()
        );
    }
    let weights = std::fs::read(&options.weights).with_context(|| {
        format!(
            "reading the backbone weights {} (`tans backbone import` writes them)",
            options.weights.display()
        )
    })?;
    let encoder = ImageEncoder::from_bytes(&weights, &device)?;
    let mut named = Vec::new();
    let mut labels = Vec::new();
    let mut skipped = 0;
    for (path, label) in query_images(&options.query)? {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.display().to_string();
        if let Err(e) = tans_core::preprocess::decode(&bytes, &name) {
            eprintln!("skipped {e}");
            skipped += 1;
            continue;
        }
        named.push((name, bytes));
        labels.extend(label);
    }
    ensure!(
        !named.is_empty(),
        "{}: none of its images decode",
        options.query.display()
    );
    let mut features = Vec::with_capacity(named.len() * FEATURE_DIM);
    for chunk in named.chunks(64) {
        features.extend(pollster::block_on(encoder.embed(chunk, options.side))?);
    }
    let labels = (!labels.is_empty()).then_some(labels.as_slice());
    let query = QueryBatch::single(FEATURE_DIM, &features, labels)?;
    let result = pollster::block_on(retriever.search(&query, &options.request))?;
    let models = &retriever.index().manifest.models;
    if options.json {
        let hits: Vec<_> = result
            .hits
            .iter()
            .map(|h| serde_json::json!({ "model": models[h.index], "hit": h }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "images": named.len(), "skipped": skipped, "classes": query.classes(), "hits": hits
            }))?
        );
        return Ok(());
    }
    println!(
        "{} images in {} class(es) ({skipped} skipped) against {} models of {}:",
        named.len(),
        query.classes(),
        models.len(),
        retriever.index().manifest.name
    );
    println!(
        "{:>4}  {:<28} {:<20} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "rank", "model", "trained on", "predicted", "similarity", "params", "MFLOPs", "ms"
    );
    for (rank, hit) in result.hits.iter().enumerate() {
        let model = &models[hit.index];
        println!(
            "{:>4}  {:<28} {:<20} {:>10.3} {:>10.3} {:>9} {:>8.1} {:>8.2}",
            rank + 1,
            model.id,
            model.task,
            hit.predicted_accuracy.unwrap_or(f32::NAN),
            hit.similarity,
            model.cost.params,
            model.cost.flops as f64 / 1e6,
            model.cost.latency_ms
        );
    }
    if result.hits.is_empty() {
        println!("no model meets the constraints");
    }
    Ok(())
}
