//! The image backbone in headless Chromium: the weights `tans backbone import` wrote
//! (`TANS_BACKBONE_WEIGHTS`) must reproduce PyTorch's features within 1e-3 on WebGPU and on the
//! CPU fallback, and bad input must reject with coded JS errors that name it.
#![cfg(target_arch = "wasm32")]

use js_sys::{Float32Array, Uint8Array};
use tans_core::backbone::{FEATURE_DIM, reference};
use tans_web::bindings::TansBackbone;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod common;
use common::{code, message};

wasm_bindgen_test_configure!(run_in_browser);

const WEIGHTS: &[u8] = include_bytes!(env!("TANS_BACKBONE_WEIGHTS"));
const GOLDENS: &str = include_str!("../../tans-core/tests/fixtures/backbone-goldens.json");
const TOLERANCE: f32 = 1e-3;

async fn backbone(backend: &str) -> Result<TansBackbone, JsValue> {
    TansBackbone::from_bytes(WEIGHTS.to_vec(), Some(backend.into())).await
}

async fn matches_pytorch(backend: &str) {
    let goldens: reference::Goldens = serde_json::from_str(GOLDENS).unwrap();
    // The 32 × 32 case: what the pool uses, and small enough for SwiftShader's WebGPU.
    let case = goldens.cases.iter().find(|c| c.side == 32).unwrap();
    let backbone = backbone(backend).await.unwrap();
    assert_eq!(backbone.backend(), backend, "{}", backbone.backend_note());
    let inputs = reference::probe_inputs(case.batch, case.side);
    let output = JsFuture::from(backbone.embed_normalized(inputs, case.batch, case.side))
        .await
        .unwrap();
    let features = Float32Array::from(output).to_vec();
    assert_eq!(features.len(), case.batch * FEATURE_DIM);
    let diff = features
        .iter()
        .zip(case.features.concat())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff <= TOLERANCE, "{backend}: features differ by {diff}");
}

#[wasm_bindgen_test]
async fn backbone_webgpu_matches_pytorch() {
    matches_pytorch("webgpu").await;
}

#[wasm_bindgen_test]
async fn backbone_cpu_matches_pytorch() {
    matches_pytorch("cpu").await;
}

/// A 1 × 1 RGBA PNG (one red pixel), written by hand so the test needs no encoder.
const ONE_PIXEL_PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[wasm_bindgen_test]
async fn backbone_bad_input_rejects_with_coded_errors() {
    let backbone = backbone("cpu").await.unwrap();
    let images = |list: &[&[u8]]| {
        list.iter()
            .map(|b| Uint8Array::from(*b))
            .collect::<Vec<_>>()
    };
    let names = Some(vec!["pixel.png".to_string(), "holiday.jpg".to_string()]);
    let features = JsFuture::from(backbone.embed(images(&[&ONE_PIXEL_PNG]), None, Some(8)))
        .await
        .unwrap();
    assert_eq!(Float32Array::from(features).length() as usize, FEATURE_DIM);
    let error =
        JsFuture::from(backbone.embed(images(&[&ONE_PIXEL_PNG, b"not an image"]), names, Some(8)))
            .await
            .unwrap_err();
    assert_eq!(code(&error), "invalid_argument");
    assert!(
        message(&error).contains("holiday.jpg"),
        "{}",
        message(&error)
    );
    let error = JsFuture::from(backbone.embed(vec![], None, None))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "invalid_argument");
    let error = JsFuture::from(backbone.embed_normalized(vec![0.0; 5], 1, 8))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "invalid_argument");
    let error = TansBackbone::from_bytes(WEIGHTS[..WEIGHTS.len() / 2].to_vec(), Some("cpu".into()))
        .await
        .err()
        .unwrap();
    assert_eq!(code(&error), "load_failed");
    let error = TansBackbone::load(
        "http://127.0.0.1:9/no-such/weights.bpk".into(),
        Some("cpu".into()),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(code(&error), "fetch_failed");
}
