//! Writes a zoo as static files a CDN (or `python -m http.server`) can serve: the query networks,
//! the model embeddings, then `zoo.json` last, each atomically, so a reader never sees a manifest
//! that names a missing or half-written file.

use std::path::Path;

use anyhow::{Context, Result};
use tans_core::zoo::{ZOO_FORMAT, ZOO_FORMAT_VERSION, embeddings_to_bytes};
use tans_core::{FileRef, ModelCard, NetworkConfig, QueryNetworks, ZooManifest};

use tans_data::files::write_atomic;

pub const MANIFEST: &str = "zoo.json";
pub const QUERY_NETWORKS: &str = "query-networks.bpk";
pub const MODEL_EMBEDDINGS: &str = "model-embeddings.f32";

pub struct ZooContents<'a> {
    pub name: String,
    pub description: String,
    pub network: NetworkConfig,
    pub query_networks: &'a QueryNetworks,
    /// One row of `network.embed_dim` per card.
    pub model_embeddings: &'a [f32],
    pub models: Vec<ModelCard>,
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

pub fn publish(dir: &Path, zoo: ZooContents<'_>) -> Result<ZooManifest> {
    anyhow::ensure!(
        zoo.model_embeddings.len() == zoo.models.len() * zoo.network.embed_dim,
        "{} model embedding values for {} models of dimension {}",
        zoo.model_embeddings.len(),
        zoo.models.len(),
        zoo.network.embed_dim
    );
    let networks = zoo.query_networks.to_bytes()?;
    let embeddings = embeddings_to_bytes(zoo.model_embeddings);
    write_atomic(&dir.join(QUERY_NETWORKS), &networks)?;
    write_atomic(&dir.join(MODEL_EMBEDDINGS), &embeddings)?;
    let manifest = ZooManifest {
        format: ZOO_FORMAT.into(),
        format_version: ZOO_FORMAT_VERSION,
        name: zoo.name,
        description: zoo.description,
        network: zoo.network,
        query_networks: FileRef::describe(QUERY_NETWORKS, &networks),
        model_embeddings: FileRef::describe(MODEL_EMBEDDINGS, &embeddings),
        models: zoo.models,
        provenance: zoo.provenance,
    };
    let json = serde_json::to_string_pretty(&manifest)?;
    write_atomic(&dir.join(MANIFEST), json.as_bytes()).context("writing the zoo manifest")?;
    Ok(manifest)
}

/// Opens the zoo published in `dir` through the checks a browser runs (format, sizes, SHA-256,
/// shapes) and returns its retriever on `device`.
pub fn open(dir: &Path, device: &burn::tensor::Device) -> Result<tans_core::Retriever> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .with_context(|| format!("reading {}", dir.join(name).display()))
    };
    let manifest_json = String::from_utf8(read(MANIFEST)?)
        .with_context(|| format!("{}: not UTF-8", dir.join(MANIFEST).display()))?;
    let manifest =
        ZooManifest::from_json(&dir.join(MANIFEST).display().to_string(), &manifest_json)?;
    let networks = QueryNetworks::from_bytes(
        &manifest.network,
        &manifest.query_networks,
        &read(&manifest.query_networks.path)?,
        device,
    )?;
    let embeddings = read(&manifest.model_embeddings.path)?;
    let index = tans_core::ZooIndex::new(manifest, &embeddings)?;
    Ok(tans_core::Retriever::new(networks, index, device.clone()))
}
