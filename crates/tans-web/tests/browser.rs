//! Runs in headless Chromium (wasm-bindgen-test): the JS-facing engine on WebGPU and on the CPU
//! fallback must reproduce the native results for the synthetic zoo that `cargo xtask` built
//! just before (`TANS_SYNTHETIC_ZOO`), and bad input must reject with coded JS errors.
#![cfg(target_arch = "wasm32")]

use serde::{Deserialize, Serialize};
use tans_core::zoo::{ReferenceResults, SampleQueries};
use tans_web::bindings::TansEngine;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::code;

wasm_bindgen_test_configure!(run_in_browser);

const MANIFEST: &str = include_str!(concat!(env!("TANS_SYNTHETIC_ZOO"), "/zoo.json"));
const NETWORKS: &[u8] = include_bytes!(concat!(env!("TANS_SYNTHETIC_ZOO"), "/query-networks.bpk"));
const EMBEDDINGS: &[u8] =
    include_bytes!(concat!(env!("TANS_SYNTHETIC_ZOO"), "/model-embeddings.f32"));
const SAMPLES: &str = include_str!(concat!(env!("TANS_SYNTHETIC_ZOO"), "/samples.json"));
const REFERENCE: &str = include_str!(concat!(env!("TANS_SYNTHETIC_ZOO"), "/../reference.json"));
const TOLERANCE: f32 = 1e-4;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    k: usize,
    max_params: Option<u64>,
    rerank: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    backend: String,
    query_embedding: Vec<f32>,
    candidates: Vec<Candidate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    id: String,
    similarity: f32,
    predicted_accuracy: f32,
}

async fn engine(backend: &str) -> Result<TansEngine, JsValue> {
    TansEngine::from_bytes(
        MANIFEST.into(),
        NETWORKS.to_vec(),
        EMBEDDINGS.to_vec(),
        Some(backend.into()),
    )
    .await
}

async fn search(
    engine: &TansEngine,
    features: Vec<f32>,
    labels: Option<Vec<u32>>,
    options: &impl Serialize,
) -> Result<JsValue, JsValue> {
    let options = serde_wasm_bindgen::to_value(options).unwrap();
    JsFuture::from(engine.search(features, labels, options)).await
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every reference search, rerun in the browser on `backend`, within TOLERANCE of native.
async fn matches_native(backend: &str) {
    let samples: SampleQueries = serde_json::from_str(SAMPLES).unwrap();
    let reference: ReferenceResults = serde_json::from_str(REFERENCE).unwrap();
    assert!(reference.searches.len() >= 4, "too few reference searches");
    let engine = engine(backend).await.unwrap();
    assert_eq!(
        engine.backend(),
        backend,
        "backend note: {}",
        engine.backend_note()
    );
    for expected in &reference.searches {
        let sample = samples
            .samples
            .iter()
            .find(|s| s.name == expected.sample)
            .unwrap();
        let options = Options {
            k: expected.request.k,
            max_params: expected.request.constraints.max_params,
            rerank: expected.request.rerank,
        };
        let output = search(
            &engine,
            sample.features.clone(),
            sample.labels.clone(),
            &options,
        )
        .await
        .unwrap();
        let output: Output = serde_wasm_bindgen::from_value(output).unwrap();
        assert_eq!(output.backend, backend);
        let embedding_diff =
            max_abs_diff(&output.query_embedding, &expected.result.query_embedding);
        assert!(
            embedding_diff <= TOLERANCE,
            "{backend} {}: query embedding differs by {embedding_diff}",
            sample.name
        );
        let ids: Vec<&str> = output.candidates.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, expected.ranking, "{backend} {}: ranking", sample.name);
        for (got, want) in output.candidates.iter().zip(&expected.result.hits) {
            let p = (got.predicted_accuracy - want.predicted_accuracy.unwrap()).abs();
            let s = (got.similarity - want.similarity).abs();
            assert!(
                p <= TOLERANCE && s <= TOLERANCE,
                "{backend} {}: {} differs (predictor {p}, similarity {s})",
                sample.name,
                got.id
            );
        }
    }
}

#[wasm_bindgen_test]
async fn webgpu_matches_native() {
    matches_native("webgpu").await;
}

#[wasm_bindgen_test]
async fn cpu_matches_native() {
    matches_native("cpu").await;
}

/// A zoo's provenance may hold integers JS numbers cannot represent exactly (a u64 seed); the
/// manifest still reads back, as `JSON.parse` gives it.
#[wasm_bindgen_test]
async fn manifest_with_large_integers_reads_back() {
    let mut manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    manifest["provenance"]["seed"] = serde_json::json!(u64::MAX);
    let engine = TansEngine::from_bytes(
        manifest.to_string(),
        NETWORKS.to_vec(),
        EMBEDDINGS.to_vec(),
        Some("cpu".into()),
    )
    .await
    .unwrap();
    let read = engine.manifest().unwrap();
    let seed = js_sys::Reflect::get(
        &js_sys::Reflect::get(&read, &"provenance".into()).unwrap(),
        &"seed".into(),
    )
    .unwrap();
    assert_eq!(seed.as_f64(), Some(u64::MAX as f64));
}

#[wasm_bindgen_test]
async fn bad_input_rejects_with_coded_errors() {
    let engine = engine("cpu").await.unwrap();
    let dim = engine.feature_dim();
    let options = Options {
        k: 3,
        max_params: None,
        rerank: true,
    };
    let error = search(&engine, vec![0.5; dim + 1], None, &options)
        .await
        .unwrap_err();
    assert_eq!(code(&error), "dimension_mismatch");
    let mut nan = vec![0.5; dim];
    nan[3] = f32::NAN;
    assert_eq!(
        code(&search(&engine, nan, None, &options).await.unwrap_err()),
        "non_finite"
    );
    assert_eq!(
        code(&search(&engine, vec![], None, &options).await.unwrap_err()),
        "empty_input"
    );
    let k0 = Options { k: 0, ..options };
    assert_eq!(
        code(
            &search(&engine, vec![0.5; dim], None, &k0)
                .await
                .unwrap_err()
        ),
        "invalid_argument"
    );
    let labels = Some(vec![1, 2]);
    assert_eq!(
        code(
            &search(&engine, vec![0.5; dim], labels, &options)
                .await
                .unwrap_err()
        ),
        "dimension_mismatch"
    );
    let nothing = Options {
        max_params: Some(1),
        ..options
    };
    let output: Output = serde_wasm_bindgen::from_value(
        search(&engine, vec![0.5; dim], None, &nothing)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        output.candidates.is_empty(),
        "a filter that admits nothing gives an empty answer"
    );

    let mut tampered = NETWORKS.to_vec();
    tampered[100] ^= 1;
    let error = TansEngine::from_bytes(
        MANIFEST.into(),
        tampered,
        EMBEDDINGS.to_vec(),
        Some("cpu".into()),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(code(&error), "load_failed");
    let truncated = EMBEDDINGS[..EMBEDDINGS.len() - 4].to_vec();
    let error = TansEngine::from_bytes(
        MANIFEST.into(),
        NETWORKS.to_vec(),
        truncated,
        Some("cpu".into()),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(code(&error), "load_failed");
    let error = TansEngine::from_bytes("{".into(), NETWORKS.to_vec(), EMBEDDINGS.to_vec(), None)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&error), "load_failed");
    let error = TansEngine::from_bytes(
        MANIFEST.into(),
        NETWORKS.to_vec(),
        EMBEDDINGS.to_vec(),
        Some("tpu".into()),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(code(&error), "invalid_argument");
    let error = TansEngine::load(
        "http://127.0.0.1:9/no-such-zoo/zoo.json".into(),
        Some("cpu".into()),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(code(&error), "fetch_failed");
}
