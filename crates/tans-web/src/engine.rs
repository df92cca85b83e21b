//! The browser-side engine as plain Rust: load a published zoo from bytes onto a device and
//! answer searches with plain data. The wasm facade (`bindings`) only fetches bytes, picks the
//! device and converts values; everything that can be tested natively lives here.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use tans_core::{
    Constraints, ModelCard, QueryBatch, QueryNetworks, Result, Retriever, SearchRequest, TansError,
    ZooIndex, ZooManifest,
};

/// Which tensor backend ran the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
    /// burn's flex backend on the CPU (wasm SIMD).
    Cpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::Cpu => "cpu",
        }
    }
}

/// Search options as JS passes them (`{ k, maxParams, maxFlops, maxLatencyMs, rerank }`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchOptions {
    pub k: Option<usize>,
    pub max_params: Option<u64>,
    pub max_flops: Option<u64>,
    pub max_latency_ms: Option<f32>,
    pub rerank: Option<bool>,
}

impl SearchOptions {
    pub fn request(&self) -> SearchRequest {
        let default = SearchRequest::default();
        SearchRequest {
            k: self.k.unwrap_or(default.k),
            constraints: Constraints {
                max_params: self.max_params,
                max_flops: self.max_flops,
                max_latency_ms: self.max_latency_ms,
            },
            rerank: self.rerank.unwrap_or(default.rerank),
        }
    }
}

/// One ranked model, with everything a UI shows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub rank: usize,
    pub id: String,
    pub task: String,
    pub similarity: f32,
    pub predicted_accuracy: Option<f32>,
    /// Accuracy on its own training task, from the zoo.
    pub zoo_accuracy: f32,
    pub params: u64,
    pub flops: u64,
    pub latency_ms: f32,
    pub checkpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutput {
    pub backend: Backend,
    pub query_embedding: Vec<f32>,
    pub candidates: Vec<Candidate>,
}

/// A loaded zoo on one backend.
#[derive(Debug)]
pub struct Engine {
    retriever: Retriever,
    backend: Backend,
}

impl Engine {
    /// Checks and loads a zoo: its manifest, query networks and model embeddings.
    pub fn from_parts(
        manifest: ZooManifest,
        query_networks: &[u8],
        model_embeddings: &[u8],
        device: Device,
        backend: Backend,
    ) -> Result<Self> {
        let networks = QueryNetworks::from_bytes(
            &manifest.network,
            &manifest.query_networks,
            query_networks,
            &device,
        )?;
        let index = ZooIndex::new(manifest, model_embeddings)?;
        Ok(Self {
            retriever: Retriever::new(networks, index, device),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn manifest(&self) -> &ZooManifest {
        &self.retriever.index().manifest
    }

    pub fn models(&self) -> &[ModelCard] {
        &self.manifest().models
    }

    /// Ranks the zoo for one dataset given as `n × feature_dim` features (row-major).
    pub async fn search(
        &self,
        features: &[f32],
        labels: Option<&[u32]>,
        options: &SearchOptions,
    ) -> Result<SearchOutput> {
        let feature_dim = self.manifest().network.feature_dim;
        let query = QueryBatch::single(feature_dim, features, labels)?;
        let result = self.retriever.search(&query, &options.request()).await?;
        let candidates = result
            .hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| {
                let card = self.models().get(hit.index).ok_or_else(|| {
                    TansError::invalid("hit", format!("model {} is outside the zoo", hit.index))
                })?;
                Ok(Candidate {
                    rank: rank + 1,
                    id: card.id.clone(),
                    task: card.task.clone(),
                    similarity: hit.similarity,
                    predicted_accuracy: hit.predicted_accuracy,
                    zoo_accuracy: card.accuracy,
                    params: card.cost.params,
                    flops: card.cost.flops,
                    latency_ms: card.cost.latency_ms,
                    checkpoint: card.checkpoint.as_ref().map(|c| c.path.clone()),
                })
            })
            .collect::<Result<_>>()?;
        Ok(SearchOutput {
            backend: self.backend,
            query_embedding: result.query_embedding,
            candidates,
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use tans_core::zoo::{ZOO_FORMAT, ZOO_FORMAT_VERSION, embeddings_to_bytes};
    use tans_core::{FileRef, ModelCost, NetworkConfig, QueryEncoderKind, Topology};

    use super::*;

    /// Three models with one-hot embeddings and 100, 200, 300 parameters.
    fn tiny_zoo() -> (ZooManifest, Vec<u8>, Vec<u8>) {
        let network = NetworkConfig {
            embed_dim: 4,
            query_hidden: 8,
            predictor_hidden: 8,
            ..NetworkConfig::new(3, 5, QueryEncoderKind::Linear)
        };
        let networks = QueryNetworks::init(&network, &Device::flex())
            .to_bytes()
            .unwrap();
        let embeddings = embeddings_to_bytes(&[1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0.]);
        let topology = Topology::new([3; 20], [3; 20], [2; 5]).unwrap();
        let models = (1..=3u64)
            .map(|i| ModelCard {
                id: format!("m{i}"),
                task: format!("t{i}"),
                topology: topology.clone(),
                cost: ModelCost {
                    params: 100 * i,
                    flops: 1000 * i,
                    latency_ms: i as f32,
                },
                accuracy: 0.5,
                checkpoint: None,
            })
            .collect();
        let manifest = ZooManifest {
            format: ZOO_FORMAT.into(),
            format_version: ZOO_FORMAT_VERSION,
            name: "tiny".into(),
            description: String::new(),
            network,
            query_networks: FileRef::describe("q.bpk", &networks),
            model_embeddings: FileRef::describe("e.f32", &embeddings),
            models,
            provenance: Default::default(),
        };
        (manifest, networks, embeddings)
    }

    #[test]
    fn search_returns_ranked_cards_within_constraints() {
        let (manifest, networks, embeddings) = tiny_zoo();
        let engine = Engine::from_parts(
            manifest,
            &networks,
            &embeddings,
            Device::flex(),
            Backend::Cpu,
        )
        .unwrap();
        let options = SearchOptions {
            k: Some(5),
            max_params: Some(200),
            ..Default::default()
        };
        let output =
            pollster::block_on(engine.search(&[0.1, 0.2, 0.3, 0.3, 0.2, 0.1], None, &options))
                .unwrap();
        assert_eq!(output.backend, Backend::Cpu);
        assert_eq!(output.query_embedding.len(), 4);
        let ids: Vec<&str> = output.candidates.iter().map(|c| c.id.as_str()).collect();
        assert!(
            ids.len() == 2 && ids.iter().all(|id| ["m1", "m2"].contains(id)),
            "{ids:?}"
        );
        assert_eq!(
            output.candidates.iter().map(|c| c.rank).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(output.candidates[0].predicted_accuracy >= output.candidates[1].predicted_accuracy);
        let error = pollster::block_on(engine.search(&[0.1, 0.2], None, &options)).unwrap_err();
        assert_eq!(error.code(), "dimension_mismatch");
    }

    #[test]
    fn a_zoo_whose_files_disagree_with_its_manifest_is_refused() {
        let (manifest, networks, embeddings) = tiny_zoo();
        let error = Engine::from_parts(
            manifest.clone(),
            &embeddings,
            &networks,
            Device::flex(),
            Backend::Cpu,
        )
        .unwrap_err();
        assert!(error.to_string().contains("q.bpk"), "{error}");
        let mut fewer = manifest;
        fewer.models.pop();
        let error = Engine::from_parts(fewer, &networks, &embeddings, Device::flex(), Backend::Cpu)
            .unwrap_err();
        assert_eq!(error.code(), "dimension_mismatch");
    }

    #[test]
    fn options_use_js_names_and_reject_typos() {
        let error = serde_json::from_str::<SearchOptions>(r#"{"maxparams": 5}"#).unwrap_err();
        assert!(error.to_string().contains("maxparams"), "{error}");
        let options: SearchOptions =
            serde_json::from_str(r#"{"k": 3, "maxLatencyMs": 2.5}"#).unwrap();
        let request = options.request();
        assert_eq!(
            (
                request.k,
                request.constraints.max_latency_ms,
                request.rerank
            ),
            (3, Some(2.5), true)
        );
    }
}
