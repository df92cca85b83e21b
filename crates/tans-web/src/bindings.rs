//! The `#[wasm_bindgen]` surface: fetch bytes, choose the device, convert values. No model logic.
//! Every failure reaches JS as an `Error` with a `code` property; nothing here panics on input.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use tans_core::backbone::ImageEncoder;
use tans_core::{TansError, ZooManifest};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::engine::{Backend, Engine, SearchOptions};

/// Backbone input side used when a caller gives none.
const DEFAULT_SIDE: usize = 32;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(code: &str, message: impl AsRef<str>) -> JsValue {
    let error = js_sys::Error::new(message.as_ref());
    error.set_name("TansError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn tans_error(error: TansError) -> JsValue {
    js_error(error.code(), error.to_string())
}

/// Plain JS data, as `JSON.parse` would give it: integers past 2^53 (a u64 seed in a zoo's
/// provenance, say) come out as the nearest JS number instead of failing the whole call.
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value)
        .map_err(|e| js_error("internal", format!("converting the result for JS: {e}")))?;
    js_sys::JSON::parse(&json).map_err(|_| {
        js_error(
            "internal",
            "converting the result for JS: JSON.parse failed",
        )
    })
}

thread_local! {
    /// burn initialises its WebGPU runtime once per page; later engines reuse it.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The browser's WebGPU device, or why there is none.
async fn webgpu_device() -> Result<Device, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let navigator =
        Reflect::get(&js_sys::global(), &"navigator".into()).map_err(|_| "no navigator")?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("navigator.gpu is missing: this browser or context has no WebGPU".into());
    }
    let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter is not a function")?;
    let promise: Promise = request
        .call0(&gpu)
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter() did not return a promise")?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(
            "navigator.gpu.requestAdapter() found no adapter (WebGPU disabled or blocklisted)"
                .into(),
        );
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("burn could not start WebGPU: {e:?}"))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// `"auto"` (default): WebGPU when the browser has it, else CPU; `"webgpu"`: WebGPU or an error;
/// `"cpu"`: CPU. Returns the device, the backend and why that backend was chosen.
async fn choose_device(preference: Option<String>) -> Result<(Device, Backend, String), JsValue> {
    match preference.as_deref().unwrap_or("auto") {
        "cpu" => Ok((Device::flex(), Backend::Cpu, "CPU requested".into())),
        "webgpu" => match webgpu_device().await {
            Ok(device) => Ok((device, Backend::WebGpu, "WebGPU requested".into())),
            Err(why) => Err(js_error("webgpu_unavailable", why)),
        },
        "auto" => Ok(match webgpu_device().await {
            Ok(device) => (device, Backend::WebGpu, "WebGPU available".into()),
            Err(why) => (Device::flex(), Backend::Cpu, format!("CPU fallback: {why}")),
        }),
        other => Err(js_error(
            "invalid_argument",
            format!("backend `{other}`: expected \"auto\", \"webgpu\" or \"cpu\""),
        )),
    }
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, JsValue> {
    let response = gloo::net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| js_error("fetch_failed", format!("fetching {url}: {e}")))?;
    if !response.ok() {
        return Err(js_error(
            "fetch_failed",
            format!(
                "fetching {url}: HTTP {} {}",
                response.status(),
                response.status_text()
            ),
        ));
    }
    response
        .binary()
        .await
        .map_err(|e| js_error("fetch_failed", format!("reading {url}: {e}")))
}

fn resolve(path: &str, base: &str) -> Result<String, JsValue> {
    web_sys::Url::new_with_base(path, base)
        .map(|u| u.href())
        .map_err(|_| {
            js_error(
                "invalid_argument",
                format!("cannot resolve `{path}` against `{base}`"),
            )
        })
}

/// A TANS model zoo loaded in the page.
#[wasm_bindgen]
pub struct TansEngine {
    inner: Rc<Engine>,
    backend_note: String,
}

#[wasm_bindgen]
impl TansEngine {
    /// Fetches `zoo.json` at `zooUrl` and the files it names, checks their sizes and hashes and
    /// loads the networks on the chosen backend (`"auto"`, `"webgpu"` or `"cpu"`).
    pub async fn load(zoo_url: String, backend: Option<String>) -> Result<TansEngine, JsValue> {
        let base = resolve(&zoo_url, &page_base())?;
        let manifest_bytes = fetch_bytes(&base).await?;
        let manifest_json = String::from_utf8(manifest_bytes)
            .map_err(|_| js_error("load_failed", format!("{base} is not UTF-8 text")))?;
        let manifest = ZooManifest::from_json(&base, &manifest_json).map_err(tans_error)?;
        let networks = fetch_bytes(&resolve(&manifest.query_networks.path, &base)?).await?;
        let embeddings = fetch_bytes(&resolve(&manifest.model_embeddings.path, &base)?).await?;
        Self::build(manifest, &networks, &embeddings, backend).await
    }

    /// The same from bytes already in memory (a bundled or user-supplied zoo).
    #[wasm_bindgen(js_name = fromBytes)]
    pub async fn from_bytes(
        manifest_json: String,
        query_networks: Vec<u8>,
        model_embeddings: Vec<u8>,
        backend: Option<String>,
    ) -> Result<TansEngine, JsValue> {
        let manifest =
            ZooManifest::from_json("zoo manifest", &manifest_json).map_err(tans_error)?;
        Self::build(manifest, &query_networks, &model_embeddings, backend).await
    }

    async fn build(
        manifest: ZooManifest,
        networks: &[u8],
        embeddings: &[u8],
        backend: Option<String>,
    ) -> Result<TansEngine, JsValue> {
        let (device, backend, backend_note) = choose_device(backend).await?;
        let engine = Engine::from_parts(manifest, networks, embeddings, device, backend)
            .map_err(tans_error)?;
        Ok(TansEngine {
            inner: Rc::new(engine),
            backend_note,
        })
    }

    /// `"webgpu"` or `"cpu"`: the backend that runs the networks.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend().name().into()
    }

    /// Why that backend was chosen (e.g. the reason for a CPU fallback).
    #[wasm_bindgen(getter, js_name = backendNote)]
    pub fn backend_note(&self) -> String {
        self.backend_note.clone()
    }

    /// The per-image feature size a query must have.
    #[wasm_bindgen(getter, js_name = featureDim)]
    pub fn feature_dim(&self) -> usize {
        self.inner.manifest().network.feature_dim
    }

    /// The zoo's manifest (name, models with task, topology, costs and accuracy).
    pub fn manifest(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.manifest())
    }

    /// Ranks the zoo for one dataset: `features` is `n × featureDim` (row-major), `labels`
    /// optional (one class id per image), `options` `{ k, maxParams, maxFlops, maxLatencyMs,
    /// rerank }`. Resolves to `{ backend, queryEmbedding, candidates }`.
    pub fn search(
        &self,
        features: Vec<f32>,
        labels: Option<Vec<u32>>,
        options: JsValue,
    ) -> Promise {
        let engine = Rc::clone(&self.inner);
        future_to_promise(async move {
            let options: SearchOptions = if options.is_undefined() || options.is_null() {
                SearchOptions::default()
            } else {
                serde_wasm_bindgen::from_value(options)
                    .map_err(|e| js_error("invalid_argument", format!("search options: {e}")))?
            };
            let output = engine
                .search(&features, labels.as_deref(), &options)
                .await
                .map_err(tans_error)?;
            to_js(&output)
        })
    }
}

/// The image backbone (EfficientNet-Lite0) loaded in the page: turns the user's images into the
/// per-image features a search takes, on WebGPU or the CPU, without sending them anywhere.
#[wasm_bindgen]
pub struct TansBackbone {
    inner: Rc<ImageEncoder>,
    backend: Backend,
    backend_note: String,
}

#[wasm_bindgen]
impl TansBackbone {
    /// Fetches the converted weights (`tans backbone import` writes them) at `weightsUrl` and
    /// loads them on the chosen backend (`"auto"`, `"webgpu"` or `"cpu"`).
    pub async fn load(
        weights_url: String,
        backend: Option<String>,
    ) -> Result<TansBackbone, JsValue> {
        let url = resolve(&weights_url, &page_base())?;
        let bytes = fetch_bytes(&url).await?;
        Self::from_bytes(bytes, backend).await
    }

    /// The same from weights already in memory.
    #[wasm_bindgen(js_name = fromBytes)]
    pub async fn from_bytes(
        weights: Vec<u8>,
        backend: Option<String>,
    ) -> Result<TansBackbone, JsValue> {
        let (device, backend, backend_note) = choose_device(backend).await?;
        let encoder = ImageEncoder::from_bytes(&weights, &device).map_err(tans_error)?;
        Ok(TansBackbone {
            inner: Rc::new(encoder),
            backend,
            backend_note,
        })
    }

    /// `"webgpu"` or `"cpu"`: the backend that runs the backbone.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().into()
    }

    /// Why that backend was chosen (e.g. the reason for a CPU fallback).
    #[wasm_bindgen(getter, js_name = backendNote)]
    pub fn backend_note(&self) -> String {
        self.backend_note.clone()
    }

    /// Features (`n × 1280`, row-major) of encoded images (PNG, JPEG or TGA bytes of any size
    /// and mode), resized to `side` (default 32); `names` label the images in errors.
    pub fn embed(
        &self,
        images: Vec<js_sys::Uint8Array>,
        names: Option<Vec<String>>,
        side: Option<usize>,
    ) -> Promise {
        let encoder = Rc::clone(&self.inner);
        let named: Vec<(String, Vec<u8>)> = images
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(i).cloned())
                    .unwrap_or_else(|| format!("image {i}"));
                (name, bytes.to_vec())
            })
            .collect();
        future_to_promise(async move {
            let features = encoder
                .embed(&named, side.unwrap_or(DEFAULT_SIDE))
                .await
                .map_err(tans_error)?;
            Ok(js_sys::Float32Array::from(features.as_slice()).into())
        })
    }

    /// Features of `n` already normalised inputs (`n × 3 × side × side`, channel-first).
    #[wasm_bindgen(js_name = embedNormalized)]
    pub fn embed_normalized(&self, values: Vec<f32>, n: usize, side: usize) -> Promise {
        let encoder = Rc::clone(&self.inner);
        future_to_promise(async move {
            let features = encoder
                .features(values, n, side)
                .await
                .map_err(tans_error)?;
            Ok(js_sys::Float32Array::from(features.as_slice()).into())
        })
    }
}

/// The page's URL, against which a relative zoo URL is resolved.
fn page_base() -> String {
    Reflect::get(&js_sys::global(), &"location".into())
        .ok()
        .and_then(|l| Reflect::get(&l, &"href".into()).ok())
        .and_then(|h| h.as_string())
        .unwrap_or_default()
}
