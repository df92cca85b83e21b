//! `tans meta-train` and `tans eval` end to end on a tiny zoo database and feature cache made
//! here: the published zoo loads back through the browser's checks and retrieves; a killed run
//! resumes from its checkpoint; a finished run is not trained again; out-of-sync and damaged
//! inputs are named.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use tans_core::backbone::FEATURE_DIM;
use tans_core::{QueryBatch, Retriever, SearchRequest, Topology, ZooIndex, ZooManifest};
use tans_trainer::zoo::db::ZooEntry;

const TASKS: [&str; 4] = ["ants", "bees", "cats", "dogs"];
const FUNCTIONAL: usize = 12;

const CONFIG: &str = r#"
steps = 60
per_class = 3
embed_dim = 16
query_hidden = 32
predictor_hidden = 16
validate_every = 10
patience = 100
validation_draws = 2
"#;

fn tans(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tans"));
    command.args(args);
    command
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A task's features: three classes around task- and class-specific centres.
fn write_features(dir: &Path, task: usize, rng: &mut StdRng, poison: bool) {
    let mut centre = |scale: f32| -> Vec<f32> {
        (0..FEATURE_DIM)
            .map(|_| scale * rng.random_range(-1.0..1.0f32))
            .collect()
    };
    let task_centre = centre(1.0);
    let classes: Vec<Vec<f32>> = (0..3).map(|_| centre(0.3)).collect();
    let mut split = |per_class: usize| -> (Vec<u8>, Vec<u8>, usize) {
        let (mut features, mut labels) = (Vec::new(), Vec::new());
        for (c, offset) in classes.iter().enumerate() {
            for _ in 0..per_class {
                for (t, o) in task_centre.iter().zip(offset) {
                    let v: f32 = t + o + 0.1 * rng.random_range(-1.0..1.0f32);
                    features.extend(v.to_le_bytes());
                }
                labels.extend((c as i64).to_le_bytes());
            }
        }
        (features, labels, 3 * per_class)
    };
    let (mut train_f, train_l, n_train) = split(8);
    let (test_f, test_l, n_test) = split(4);
    if poison {
        train_f[4 * 7..4 * 8].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let tensors = vec![
        (
            "train_features".to_string(),
            TensorView::new(Dtype::F32, vec![n_train, FEATURE_DIM], &train_f).unwrap(),
        ),
        (
            "train_labels".to_string(),
            TensorView::new(Dtype::I64, vec![n_train], &train_l).unwrap(),
        ),
        (
            "test_features".to_string(),
            TensorView::new(Dtype::F32, vec![n_test, FEATURE_DIM], &test_f).unwrap(),
        ),
        (
            "test_labels".to_string(),
            TensorView::new(Dtype::I64, vec![n_test], &test_l).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(tensors, Some(HashMap::new())).unwrap();
    std::fs::write(dir.join(format!("{}.safetensors", TASKS[task])), bytes).unwrap();
}

/// A pool's feature cache and a zoo database of three models per task.
fn make_inputs(root: &Path) -> (PathBuf, PathBuf) {
    let pool = root.join("pool");
    let zoo = root.join("zoo");
    let features = pool.join(".features/efficientnet-lite0-32");
    std::fs::create_dir_all(&features).unwrap();
    std::fs::create_dir_all(&zoo).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let mut lines = String::new();
    for (t, task) in TASKS.iter().enumerate() {
        write_features(&features, t, &mut rng, false);
        let signal: Vec<f32> = (0..FUNCTIONAL)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        for m in 0..3u8 {
            let entry = ZooEntry {
                task: task.to_string(),
                topology: Topology::uniform([3, 5, 7][m as usize], [3, 4, 6][t % 3], 2 + m % 3)
                    .unwrap(),
                accuracy: 0.5 + 0.1 * f64::from(m) + 0.05 * t as f64,
                params: 100_000 * (u64::from(m) + 1),
                flops: 1_000_000 * (u64::from(m) + 1),
                latency_ms: 1.0 + f64::from(m),
                functional_embedding: signal
                    .iter()
                    .map(|s| s + 0.05 * rng.random_range(-1.0..1.0f32))
                    .collect(),
                supernet: format!("supernets/{task}.bpk"),
                supernet_sha256: "0".repeat(64),
            };
            lines.push_str(&serde_json::to_string(&entry).unwrap());
            lines.push('\n');
        }
    }
    std::fs::write(zoo.join("zoo.jsonl"), lines).unwrap();
    std::fs::write(root.join("meta.toml"), CONFIG).unwrap();
    (pool, zoo)
}

fn meta_train(root: &Path, out: &Path, config: &Path) -> Command {
    let (pool, zoo) = (root.join("pool"), root.join("zoo"));
    tans(&[
        "meta-train",
        "--zoo",
        arg(&zoo),
        "--pool",
        arg(&pool),
        "--config",
        arg(config),
        "--out",
        arg(out),
    ])
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tans-meta-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn meta_training_publishes_a_zoo_that_retrieves_and_does_not_retrain() {
    let root = temp("train");
    make_inputs(&root);
    let out = root.join("out");
    let output = meta_train(&root, &out, &root.join("meta.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("meta-train.json")).unwrap()).unwrap();
    let validations = report["history"]["validations"].as_array().unwrap();
    assert_eq!(validations.len(), 6, "a validation every 10 of 60 steps");
    let best = report["history"]["best"]["recall_at_1"].as_f64().unwrap();
    assert!(
        best >= 75.0,
        "four separable tasks are retrieved: R@1 {best}"
    );

    // The published zoo loads through the checks a browser runs, and a query drawn from a
    // task's features retrieves that task's model first.
    let manifest_json = std::fs::read_to_string(out.join("zoo.json")).unwrap();
    let manifest = ZooManifest::from_json("zoo.json", &manifest_json).unwrap();
    assert_eq!(manifest.models.len(), 12);
    let device = burn::tensor::Device::flex();
    let networks = tans_core::QueryNetworks::from_bytes(
        &manifest.network,
        &manifest.query_networks,
        &std::fs::read(out.join(&manifest.query_networks.path)).unwrap(),
        &device,
    )
    .unwrap();
    let embeddings = std::fs::read(out.join(&manifest.model_embeddings.path)).unwrap();
    let retriever = Retriever::new(
        networks,
        ZooIndex::new(manifest, &embeddings).unwrap(),
        device,
    );
    let cached = tans_trainer::features::read_cached(&root.join("pool"), 32, "cats").unwrap();
    let query = QueryBatch::single(FEATURE_DIM, &cached.test.0, None).unwrap();
    let request = SearchRequest {
        k: 3,
        constraints: Default::default(),
        rerank: false,
    };
    let result = pollster::block_on(retriever.search(&query, &request)).unwrap();
    let top = &retriever.index().manifest.models[result.hits[0].index];
    assert_eq!(top.task, "cats", "{result:?}");

    // A finished run is not trained again and writes the same bytes.
    let before = std::fs::read(out.join("model-embeddings.f32")).unwrap();
    let again = meta_train(&root, &out, &root.join("meta.toml"))
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("resuming at step 60"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(out.join("model-embeddings.f32")).unwrap(),
        before
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint() {
    let root = temp("kill");
    make_inputs(&root);
    let config = root.join("long.toml");
    std::fs::write(
        &config,
        CONFIG
            .replace("steps = 60", "steps = 100000")
            .replace("patience = 100", "patience = 3"),
    )
    .unwrap();
    let out = root.join("out");
    let mut child = meta_train(&root, &out, &config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let progress = out.join(".meta-train/progress.json");
    let started = Instant::now();
    while !progress.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let output = meta_train(&root, &out, &config).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("resuming at step"),
        "{}",
        stderr(&output)
    );
    assert!(out.join("zoo.json").exists());
    // The checkpoint keeps only the weights its record names.
    let weights: Vec<_> = std::fs::read_dir(out.join(".meta-train"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bpk"))
        .collect();
    assert!((1..=2).contains(&weights.len()), "{weights:?}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn out_of_sync_and_damaged_inputs_are_named() {
    let root = temp("errors");
    let (pool, zoo) = make_inputs(&root);
    let config = root.join("meta.toml");
    let features = pool.join(".features/efficientnet-lite0-32");

    std::fs::remove_file(features.join("bees.safetensors")).unwrap();
    let output = meta_train(&root, &root.join("out"), &config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("task bees") && message.contains("bees.safetensors"),
        "{message}"
    );

    write_features(&features, 1, &mut StdRng::seed_from_u64(1), true);
    let message = stderr(
        &meta_train(&root, &root.join("out"), &config)
            .output()
            .unwrap(),
    );
    assert!(
        message.contains("bees.safetensors") && message.contains("NaN"),
        "{message}"
    );

    std::fs::remove_file(zoo.join("zoo.jsonl")).unwrap();
    let message = stderr(
        &meta_train(&root, &root.join("out"), &config)
            .output()
            .unwrap(),
    );
    assert!(message.contains("no zoo database"), "{message}");

    std::fs::write(&config, "steps = 0\n").unwrap();
    let message = stderr(
        &meta_train(&root, &root.join("out"), &config)
            .output()
            .unwrap(),
    );
    assert!(message.contains("steps"), "{message}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn evaluation_reports_every_row() {
    let root = temp("eval");
    let (pool, zoo) = make_inputs(&root);
    let config = root.join("short.toml");
    std::fs::write(&config, CONFIG.replace("steps = 60", "steps = 20")).unwrap();
    let out = root.join("report");
    let output = tans(&[
        "eval",
        "--zoo",
        arg(&zoo),
        "--pool",
        arg(&pool),
        "--config",
        arg(&config),
        "--out",
        arg(&out),
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "random",
            "largest model first",
            "TANS (as configured)",
            "deep query encoder",
            "without functional embedding",
            "without predictor (λ = 0)",
            "loss: hardest negative only",
            "loss: cosine similarity only"
        ]
    );
    // Every row scores every query of every draw.
    let largest = &report["rows"][1]["scores"]["one_model_per_task"];
    assert!(
        report["rows"][5]["predictor_mse"].is_null(),
        "no predictor, no error"
    );
    assert!(report["rows"][2]["predictor_mse"].as_f64().unwrap() >= 0.0);
    assert_eq!(largest["queries"].as_u64(), Some(20), "4 tasks × 5 draws");
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("| random | 32 |"), "{markdown}");
    let chart = std::fs::read_to_string(out.join("retrieval.svg")).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("largest model first @32"));
    std::fs::remove_dir_all(root).unwrap();
}
