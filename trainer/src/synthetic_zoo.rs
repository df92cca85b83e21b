//! `tans synthetic-zoo`: generate a synthetic world, meta-train on it, publish the zoo with sample
//! queries, and (optionally) record the native search results for those samples.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use tans_core::zoo::{ReferenceResults, ReferenceSearch, SampleQueries, SampleQuery};
use tans_core::{Constraints, QueryBatch, QueryEncoderKind, SearchRequest};

use crate::meta::publish_trained;
use crate::meta::train::{MetaTrainConfig, MetaTrainRun, train};
use crate::publish;
use crate::synthetic::{SyntheticConfig, SyntheticWorld};
use tans_data::files::write_atomic;

pub const SAMPLES: &str = "samples.json";

pub struct Options {
    pub out: PathBuf,
    pub seed: u64,
    pub steps: usize,
    pub query_encoder: String,
    pub reference: Option<PathBuf>,
}

pub fn run(options: Options) -> Result<()> {
    let kind = match options.query_encoder.as_str() {
        "linear" => QueryEncoderKind::Linear,
        "deep" => QueryEncoderKind::Deep,
        other => bail!("--query-encoder {other}: expected `linear` or `deep`"),
    };
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let world = SyntheticWorld::generate(SyntheticConfig::default(), &mut rng);
    let data = world.meta_data(20, 10, &mut rng)?;
    let config = MetaTrainConfig {
        steps: options.steps,
        query_encoder: kind,
        query_hidden: 64,
        predictor_hidden: 64,
        validate_every: 25,
        // Never stops early: there are fewer validations than steps.
        patience: options.steps,
        validation_draws: 2,
        seed: options.seed,
        ..MetaTrainConfig::default()
    };
    eprintln!(
        "meta-training on {} synthetic tasks, {} models, {} steps",
        world.config.tasks,
        world.models.len(),
        config.steps
    );
    let trained = train(
        &data,
        &MetaTrainRun {
            config: &config,
            device: &device,
            checkpoint: None,
            label: "synthetic",
        },
    )?;
    let provenance = json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "seed": options.seed,
        "generator": format!("tans-trainer {}", env!("CARGO_PKG_VERSION")),
        "burn": "0.22.1",
        "backend": "flex",
        "world": world.config,
        "training": config,
        "best_step": trained.history.best_step,
        "final_loss": trained.history.losses.last().map(|l| l.total),
    });
    let manifest = publish_trained(
        &options.out,
        "synthetic",
        "Synthetic test zoo: feature vectors stand in for images; not real networks.",
        &data,
        &trained,
        &device,
        provenance,
    )?;

    let mut sample_rng = StdRng::seed_from_u64(options.seed.wrapping_add(1));
    let samples = SampleQueries {
        feature_dim: world.config.feature_dim,
        samples: [0, 2, 5, 7]
            .iter()
            .map(|&task| {
                let (features, labels) = world.draw_query(task, 10, &mut sample_rng);
                let task = SyntheticWorld::task_name(task);
                SampleQuery {
                    name: format!("{task}, 10 per class"),
                    task: Some(task),
                    features,
                    labels: Some(labels),
                }
            })
            .collect(),
    };
    write_atomic(
        &options.out.join(SAMPLES),
        serde_json::to_string(&samples)?.as_bytes(),
    )?;
    eprintln!(
        "published {} models to {}",
        manifest.models.len(),
        options.out.display()
    );

    if let Some(path) = options.reference {
        let reference = reference_results(&options.out, &samples)?;
        report_own_task_hits(&reference, &samples);
        write_atomic(&path, serde_json::to_string_pretty(&reference)?.as_bytes())?;
    }
    Ok(())
}

/// How often the top candidate, by similarity and after re-ranking, comes from the task the
/// sample was drawn from (unconstrained searches only). A sanity line, not an evaluation.
fn report_own_task_hits(reference: &ReferenceResults, samples: &SampleQueries) {
    let (mut by_similarity, mut reranked, mut total) = (0, 0, 0);
    for search in reference
        .searches
        .iter()
        .filter(|s| s.request.constraints == Constraints::default())
    {
        let Some(task) = samples
            .samples
            .iter()
            .find(|q| q.name == search.sample)
            .and_then(|q| q.task.as_deref())
        else {
            continue;
        };
        let own = |id: &String| id.split('/').next() == Some(task);
        // Hits and ranking are in the same order; find the position of the most similar hit.
        let most_similar = (0..search.result.hits.len()).max_by(|&a, &b| {
            search.result.hits[a]
                .similarity
                .total_cmp(&search.result.hits[b].similarity)
                .then(b.cmp(&a))
        });
        total += 1;
        by_similarity += usize::from(most_similar.is_some_and(|p| own(&search.ranking[p])));
        reranked += usize::from(search.ranking.first().is_some_and(own));
    }
    eprintln!(
        "native reference: top-1 from the sample's own task: {by_similarity}/{total} by similarity, {reranked}/{total} after re-ranking"
    );
}

/// Loads the published zoo back from disk, through the same checks a browser runs, and searches
/// every sample with and without a parameter budget.
fn reference_results(dir: &std::path::Path, samples: &SampleQueries) -> Result<ReferenceResults> {
    let retriever = publish::open(dir, &Device::flex())?;
    let mut params: Vec<u64> = retriever
        .index()
        .manifest
        .models
        .iter()
        .map(|m| m.cost.params)
        .collect();
    params.sort_unstable();
    let budget = Constraints {
        max_params: Some(params[params.len() / 2]),
        ..Constraints::default()
    };
    let mut searches = Vec::new();
    for sample in &samples.samples {
        let query = QueryBatch::single(
            samples.feature_dim,
            &sample.features,
            sample.labels.as_deref(),
        )?;
        for constraints in [Constraints::default(), budget] {
            let request = SearchRequest {
                k: 5,
                constraints,
                rerank: true,
            };
            let result = pollster::block_on(retriever.search(&query, &request))?;
            let ranking = result
                .hits
                .iter()
                .map(|h| retriever.index().manifest.models[h.index].id.clone())
                .collect();
            searches.push(ReferenceSearch {
                sample: sample.name.clone(),
                request,
                result,
                ranking,
            });
        }
    }
    Ok(ReferenceResults {
        zoo: retriever.index().manifest.name.clone(),
        backend: "flex (native)".into(),
        searches,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn options(out: PathBuf, query_encoder: &str) -> Options {
        Options {
            reference: Some(out.join("reference.json")),
            out,
            seed: 3,
            steps: 5,
            query_encoder: query_encoder.into(),
        }
    }

    #[test]
    fn the_same_seed_publishes_the_same_bytes_and_the_zoo_loads_back() {
        let _rng = crate::DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("tans-synthetic-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        run(options(a.clone(), "deep")).unwrap();
        run(options(b.clone(), "deep")).unwrap();
        for file in [
            publish::MANIFEST,
            publish::QUERY_NETWORKS,
            publish::MODEL_EMBEDDINGS,
            SAMPLES,
            "reference.json",
        ] {
            assert_eq!(
                fs::read(a.join(file)).unwrap(),
                fs::read(b.join(file)).unwrap(),
                "{file} differs"
            );
        }
        let reference: ReferenceResults =
            serde_json::from_slice(&fs::read(a.join("reference.json")).unwrap()).unwrap();
        assert_eq!(
            reference.searches.len(),
            8,
            "4 samples, with and without a budget"
        );
        assert!(
            reference
                .searches
                .iter()
                .all(|s| s.ranking.len() == s.result.hits.len() && !s.ranking.is_empty())
        );
        let error = run(options(dir.join("c"), "transformer")).unwrap_err();
        assert!(
            error.to_string().contains("--query-encoder transformer"),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
