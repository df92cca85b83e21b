//! `tans eval`: how well retrieval works, measured the way the paper's Fig. 7b does and against
//! simple peers. Same-pair retrieval on unseen instances of the meta-train tasks (the evaluation
//! half of their test images, which neither training nor early stopping sees): R@1/5/10, mean
//! and median rank, among one model per task (fixed seeded draws) and over the whole zoo. Rows:
//! a random order, the largest model first, the configured TANS, and the ablations (the other
//! query encoder, no functional embedding, no predictor loss, the hardest negative only, cosine
//! similarity only),
//! each trained with everything else equal; and the configured TANS on every other backbone
//! input side asked for. Also the predictor's MSE on the evaluation pairs. Writes `report.md`,
//! `report.json` and `retrieval.svg`; every trained row checkpoints under `runs/`, so a killed evaluation resumes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tans_core::QueryEncoderKind;
use tans_core::loss::Negatives;
use tans_core::networks::QueryTensors;
use tans_data::files::write_atomic;

use super::data::MetaData;
use super::train::{
    DrawScores, History, Images, MetaTrainConfig, MetaTrainRun, PairDraws, Scorer, train,
};

/// Draws of (query, model) pairs per task the scores average over.
pub const EVALUATION_DRAWS: usize = 5;

pub struct Options {
    pub zoo: PathBuf,
    pub pool: PathBuf,
    /// Backbone input sides; the first is the one every ablation runs on.
    pub sides: Vec<u32>,
    pub config: Option<PathBuf>,
    pub out: PathBuf,
    pub device: Device,
    pub device_name: String,
}

/// One row of the retrieval table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub side: u32,
    pub scores: DrawScores,
    /// Mean squared error of the predicted accuracy on the evaluation pairs (trained rows).
    pub predictor_mse: Option<f64>,
    /// Training steps, the best validated step and seconds (trained rows).
    pub training: Option<(usize, usize, f64)>,
}

/// The ablations: a name and the change to the configured training.
fn variants(base: &MetaTrainConfig) -> Vec<(String, MetaTrainConfig)> {
    let mut rows = vec![("TANS (as configured)".to_string(), base.clone())];
    let other_encoder = match base.query_encoder {
        QueryEncoderKind::Deep => QueryEncoderKind::Linear,
        QueryEncoderKind::Linear => QueryEncoderKind::Deep,
    };
    rows.push((
        format!("{other_encoder:?} query encoder").to_lowercase(),
        MetaTrainConfig {
            query_encoder: other_encoder,
            ..base.clone()
        },
    ));
    if base.functional_embedding {
        rows.push((
            "without functional embedding".into(),
            MetaTrainConfig {
                functional_embedding: false,
                ..base.clone()
            },
        ));
    }
    if base.loss.predictor_weight > 0.0 {
        let mut config = base.clone();
        config.loss.predictor_weight = 0.0;
        rows.push(("without predictor (λ = 0)".into(), config));
    }
    for (name, negatives) in [
        ("all in-batch negatives", Negatives::All),
        ("hardest negative only", Negatives::Hardest),
        ("cosine similarity only", Negatives::CosineOnly),
    ] {
        if negatives != base.loss.negatives {
            let mut config = base.clone();
            config.loss.negatives = negatives;
            rows.push((format!("loss: {name}"), config));
        }
    }
    rows
}

fn slug(name: &str, side: u32) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    format!("{}-{side}", slug.trim_matches('-'))
}

/// Mean squared error of the predictor on every draw's positive pairs.
fn predictor_mse(
    networks: &tans_core::TansNetworks,
    data: &MetaData,
    draws: &PairDraws,
    functional: bool,
    device: &Device,
) -> Result<f64> {
    let (mut sum, mut count) = (0.0, 0usize);
    for (models, queries) in &draws.draws {
        let q = networks
            .query
            .query_encoder
            .forward(QueryTensors::new(queries, device));
        let (topology, embedding) = data.model_inputs(models, functional, device);
        let m = networks.model_encoder.forward(topology, embedding);
        let predicted: Tensor<1> = networks.query.predictor.forward(q, m);
        let predicted = predicted
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))?;
        for (p, &model) in predicted.iter().zip(models) {
            sum += f64::from(p - data.models[model].accuracy).powi(2);
            count += 1;
        }
    }
    Ok(sum / count.max(1) as f64)
}

/// Trains (or resumes) one configuration and scores it.
fn trained_row(
    name: &str,
    side: u32,
    config: &MetaTrainConfig,
    data: &MetaData,
    draws: &PairDraws,
    options: &Options,
) -> Result<(Row, History)> {
    let dir = options.out.join("runs").join(slug(name, side));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let label = format!("{name} @{side}");
    let trained = train(
        data,
        &MetaTrainRun {
            config,
            device: &options.device,
            checkpoint: Some(&dir),
            label: &label,
        },
    )?;
    let scorer = Scorer::Networks {
        networks: &trained.networks,
        functional: config.functional_embedding,
    };
    let row = Row {
        name: name.to_string(),
        side,
        scores: draws.score(data, &scorer, &options.device)?,
        // An untrained predictor's error says nothing.
        predictor_mse: if config.loss.predictor_weight > 0.0 {
            Some(predictor_mse(
                &trained.networks,
                data,
                draws,
                config.functional_embedding,
                &options.device,
            )?)
        } else {
            None
        },
        training: Some((
            trained.history.steps_done,
            trained.history.best_step,
            trained.history.seconds,
        )),
    };
    Ok((row, trained.history))
}

pub fn run(options: Options) -> Result<()> {
    anyhow::ensure!(!options.sides.is_empty(), "--sides: at least one side");
    let base = MetaTrainConfig::load(options.config.as_deref())?;
    let mut rows = Vec::new();
    for (i, &side) in options.sides.iter().enumerate() {
        let data = MetaData::from_zoo(&options.zoo, &options.pool, side)?;
        let draws = PairDraws::new(
            &data,
            Images::Evaluation,
            base.per_class,
            EVALUATION_DRAWS,
            base.seed.wrapping_add(2),
        )?;
        eprintln!(
            "evaluating on {} tasks, {} zoo models, backbone side {side}",
            data.tasks.len(),
            data.models.len()
        );
        if i == 0 {
            for (name, scorer) in [
                ("random", Scorer::Random { seed: base.seed }),
                ("largest model first", Scorer::LargestParams),
            ] {
                rows.push(Row {
                    name: name.into(),
                    side,
                    scores: draws.score(&data, &scorer, &options.device)?,
                    predictor_mse: None,
                    training: None,
                });
            }
            for (name, config) in variants(&base) {
                rows.push(trained_row(&name, side, &config, &data, &draws, &options)?.0);
            }
        } else {
            rows.push(trained_row("TANS (as configured)", side, &base, &data, &draws, &options)?.0);
        }
    }
    let report = json!({
        "zoo": options.zoo.display().to_string(),
        "pool": options.pool.display().to_string(),
        "device": options.device_name,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "config": base,
        "evaluation_draws": EVALUATION_DRAWS,
        "rows": rows,
    });
    write_atomic(
        &options.out.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let chart = crate::plot::bars(
        "Same-pair retrieval R@1 (%) on unseen instances of meta-train tasks",
        &["one model per task", "whole zoo"],
        &rows
            .iter()
            .map(|r| {
                (
                    format!("{} @{}", r.name, r.side),
                    vec![
                        r.scores.one_model_per_task.recall_at_1,
                        r.scores.whole_zoo.recall_at_1,
                    ],
                )
            })
            .collect::<Vec<_>>(),
        100.0,
    );
    write_atomic(&options.out.join("retrieval.svg"), chart.as_bytes())?;
    let markdown = markdown(&options, &base, &rows);
    write_atomic(&options.out.join("report.md"), markdown.as_bytes())?;
    print!("{markdown}");
    Ok(())
}

fn markdown(options: &Options, base: &MetaTrainConfig, rows: &[Row]) -> String {
    let mut md = format!(
        "# TANS evaluation\n\nZoo `{}`, pool `{}`, on {}; `{}`.\n\n\
         ## Same-pair retrieval on unseen instances of the meta-train tasks\n\n\
         Queries: {} images per class from the half of each task's test images that training \
         and early stopping never see; {EVALUATION_DRAWS} seeded draws of one model per task. \
         \"Per task\": the own model's rank among one model of every task (the paper's Fig. 7b). \
         \"Whole zoo\": the rank of the best-ranked model of the query's own task among all.\n\n\
         | selector | side | R@1 | R@5 | R@10 | mean rank | median | whole zoo R@1 | R@10 | mean rank | predictor MSE | steps (best) | s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        options.zoo.display(),
        options.pool.display(),
        options.device_name,
        std::env::args().collect::<Vec<_>>().join(" "),
        base.per_class,
    );
    for row in rows {
        let (p, z) = (row.scores.one_model_per_task, row.scores.whole_zoo);
        let mse = row.predictor_mse.map_or("–".into(), |m| format!("{m:.4}"));
        let training = row
            .training
            .map_or(("–".into(), "–".into()), |(steps, best, s)| {
                (format!("{steps} ({best})"), format!("{s:.0}"))
            });
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {mse} | {} | {} |\n",
            row.name,
            row.side,
            p.recall_at_1,
            p.recall_at_5,
            p.recall_at_10,
            p.mean_rank,
            p.median_rank,
            z.recall_at_1,
            z.recall_at_10,
            z.mean_rank,
            training.0,
            training.1
        ));
    }
    md.push_str("\n![R@1 per selector](retrieval.svg)\n");
    if let Some(first) = rows.first() {
        md.push_str(&format!(
            "\n{} queries per row over {} tasks and {} zoo models.\n",
            first.scores.one_model_per_task.queries,
            first.scores.one_model_per_task.candidates,
            first.scores.whole_zoo.candidates
        ));
    }
    md
}
