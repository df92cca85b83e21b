//! Meta-training (`tans meta-train`): the cross-modal retrieval space over a built zoo.
//!
//! - [`bench`]: `tans meta-bench`, the training step's time for the PyTorch comparison;
//! - [`data`]: the zoo database and the pool's cached backbone features, in memory and checked
//!   against each other;
//! - [`train`]: the meta-contrastive loop with seeded validation, early stopping and resumable
//!   checkpoints;
//! - [`metrics`]: R@k and ranks;
//! - [`eval`]: `tans eval`, retrieval against peers and ablations;
//! - [`predictor_fit`]: the predictor ablation, refitted on frozen embeddings;
//! - [`logme`]: the LogME transferability score, a selector TANS is compared with;
//! - [`transfer`]: `tans transfer`, every selector's pick fine-tuned on the meta-test tasks.
//!
//! [`run`] trains and writes, into one folder: the published zoo a browser loads (`zoo.json`,
//! `query-networks.bpk`, `model-embeddings.f32`), all three networks (`networks.bpk`, for
//! evaluation) and `meta-train.json` (configuration, history, provenance).

pub mod bench;
pub mod data;
pub mod eval;
pub mod logme;
pub mod metrics;
pub mod predictor_fit;
pub mod train;
pub mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde_json::json;
use tans_core::ModelCard;
use tans_core::zoo::sha256_hex;
use tans_data::files::write_atomic;

use crate::publish::{self, ZooContents};
use data::MetaData;
use train::{MetaTrainConfig, MetaTrainRun, MetaTrained};

pub const NETWORKS: &str = "networks.bpk";
pub const REPORT: &str = "meta-train.json";

pub struct Options {
    pub zoo: PathBuf,
    pub pool: PathBuf,
    pub side: u32,
    pub config: Option<PathBuf>,
    pub out: PathBuf,
    pub device: Device,
    /// What computes, for the provenance.
    pub device_name: String,
}

/// The published model cards of `data`'s models, in zoo order.
pub fn model_cards(data: &MetaData) -> Vec<ModelCard> {
    data.models
        .iter()
        .map(|m| ModelCard {
            id: m.id.clone(),
            task: data.tasks[m.task].name.clone(),
            topology: m.topology.clone(),
            cost: m.cost,
            accuracy: m.accuracy,
            checkpoint: None,
        })
        .collect()
}

/// Writes the published zoo of `trained` over `data` into `out`.
pub fn publish_trained(
    out: &Path,
    name: &str,
    description: &str,
    data: &MetaData,
    trained: &MetaTrained,
    device: &Device,
    provenance: serde_json::Value,
) -> Result<tans_core::ZooManifest> {
    let all: Vec<usize> = (0..data.models.len()).collect();
    let embeddings = train::embed_models(
        &trained.networks,
        data,
        &all,
        trained.functional_embedding,
        device,
    )?;
    publish::publish(
        out,
        ZooContents {
            name: name.into(),
            description: description.into(),
            network: trained.network.clone(),
            query_networks: &trained.networks.query,
            model_embeddings: &embeddings,
            models: model_cards(data),
            provenance: provenance.as_object().cloned().unwrap_or_default(),
        },
    )
}

pub fn run(options: Options) -> Result<()> {
    let config = MetaTrainConfig::load(options.config.as_deref())?;
    let data = MetaData::from_zoo(&options.zoo, &options.pool, options.side)?;
    eprintln!(
        "meta-training on {} tasks and {} zoo models ({} features per image, functional embeddings of {}) on {}",
        data.tasks.len(),
        data.models.len(),
        data.feature_dim,
        data.functional_dim,
        options.device_name
    );
    let checkpoint = options.out.join(".meta-train");
    std::fs::create_dir_all(&checkpoint)
        .with_context(|| format!("creating {}", checkpoint.display()))?;
    let trained = train::train(
        &data,
        &MetaTrainRun {
            config: &config,
            device: &options.device,
            checkpoint: Some(&checkpoint),
            label: "meta-train",
        },
    )?;
    let database = crate::zoo::db::Shard::WHOLE.database(&options.zoo);
    let zoo_sha256 = sha256_hex(
        &std::fs::read(&database).with_context(|| format!("reading {}", database.display()))?,
    );
    let provenance = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "generator": format!("tans-trainer {}", env!("CARGO_PKG_VERSION")),
        "burn": "0.22.1",
        "device": options.device_name,
        "zoo_database": database.display().to_string(),
        "zoo_database_sha256": zoo_sha256,
        "features": crate::features::cache_dir(&options.pool, options.side).display().to_string(),
        "backbone_side": options.side,
        "config": config,
        "best_step": trained.history.best_step,
        "validation": trained.history.best,
    });
    let zoo_name = options
        .zoo
        .file_name()
        .map_or_else(|| "zoo".into(), |n| n.to_string_lossy().into_owned());
    let manifest = publish_trained(
        &options.out,
        &zoo_name,
        &format!(
            "{} networks from {} tasks, meta-trained by TANS",
            data.models.len(),
            data.tasks.len()
        ),
        &data,
        &trained,
        &options.device,
        provenance.clone(),
    )?;
    write_atomic(
        &options.out.join(NETWORKS),
        &tans_core::weights::to_bytes(&trained.networks, "networks")?,
    )?;
    let report = json!({
        "provenance": provenance,
        "history": trained.history,
    });
    write_atomic(
        &options.out.join(REPORT),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let best = trained
        .history
        .best
        .expect("training validates at least once");
    eprintln!(
        "best validation at step {} of {}: R@1 {:.1}, R@5 {:.1}, mean rank {:.2} of {} ({:.0} s); published {} models to {}",
        trained.history.best_step,
        trained.history.steps_done,
        best.recall_at_1,
        best.recall_at_5,
        best.mean_rank,
        best.candidates,
        trained.history.seconds,
        manifest.models.len(),
        options.out.display()
    );
    Ok(())
}
