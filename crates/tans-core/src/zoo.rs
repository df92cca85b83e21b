//! The published zoo: a JSON manifest naming every model (task, topology, cost, accuracy) and
//! the two binary files a browser needs — the query networks (burnpack) and the precomputed
//! model embeddings (little-endian f32, one row per model). Every file is listed with its size
//! and SHA-256, and checked on load, so a truncated or tampered download is refused by name.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TansError};
use crate::networks::{NetworkConfig, QueryNetworks};
use crate::retrieval::{EmbeddingMatrix, ModelCost};
use crate::topology::Topology;

/// The `format` value of every manifest.
pub const ZOO_FORMAT: &str = "tans-zoo";
/// Bumped on every incompatible change of the layout.
pub const ZOO_FORMAT_VERSION: u32 = 1;

/// A file of the zoo, relative to the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl FileRef {
    /// Describes `contents` stored at `path`.
    pub fn describe(path: impl Into<String>, contents: &[u8]) -> Self {
        Self {
            path: path.into(),
            bytes: contents.len() as u64,
            sha256: sha256_hex(contents),
        }
    }

    /// Fails unless `contents` has this file's size and hash.
    pub fn verify(&self, contents: &[u8]) -> Result<()> {
        if contents.len() as u64 != self.bytes {
            return Err(TansError::load(
                &self.path,
                format!(
                    "{} bytes, the manifest says {} (truncated?)",
                    contents.len(),
                    self.bytes
                ),
            ));
        }
        let actual = sha256_hex(contents);
        if actual != self.sha256 {
            return Err(TansError::load(
                &self.path,
                format!(
                    "SHA-256 {actual} differs from the manifest's {} (tampered?)",
                    self.sha256
                ),
            ));
        }
        Ok(())
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(contents: &[u8]) -> String {
    Sha256::digest(contents)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One network of the zoo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    /// The dataset (task) it was trained on.
    pub task: String,
    pub topology: Topology,
    #[serde(flatten)]
    pub cost: ModelCost,
    /// Test accuracy on its own task, in [0, 1].
    pub accuracy: f32,
    /// Standalone weights, where the zoo publishes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<FileRef>,
}

/// `zoo.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZooManifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub description: String,
    pub network: NetworkConfig,
    pub query_networks: FileRef,
    pub model_embeddings: FileRef,
    pub models: Vec<ModelCard>,
    /// How the zoo was made: command, seed, versions.
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
}

impl ZooManifest {
    /// Parses and checks a manifest; `source` names it in errors.
    pub fn from_json(source: &str, json: &str) -> Result<Self> {
        let manifest: Self = serde_json::from_str(json).map_err(|e| TansError::load(source, e))?;
        if manifest.format != ZOO_FORMAT || manifest.format_version != ZOO_FORMAT_VERSION {
            return Err(TansError::load(
                source,
                format!(
                    "format {} v{} is not {ZOO_FORMAT} v{ZOO_FORMAT_VERSION}",
                    manifest.format, manifest.format_version
                ),
            ));
        }
        manifest
            .network
            .validate()
            .map_err(|e| TansError::load(source, e))?;
        if manifest.models.is_empty() {
            return Err(TansError::empty(format!("the model list of {source}")));
        }
        Ok(manifest)
    }

    pub fn costs(&self) -> Vec<ModelCost> {
        self.models.iter().map(|m| m.cost).collect()
    }
}

/// `samples.json`: ready-made query sets a demo offers ("pick a sample"), as backbone features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleQueries {
    pub feature_dim: usize,
    pub samples: Vec<SampleQuery>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleQuery {
    pub name: String,
    /// The zoo task it was drawn from, when it was.
    pub task: Option<String>,
    /// `n × feature_dim`, row-major.
    pub features: Vec<f32>,
    pub labels: Option<Vec<u32>>,
}

/// Native results for a zoo's samples: what any other runtime (a browser, another backend)
/// must reproduce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceResults {
    pub zoo: String,
    pub backend: String,
    pub searches: Vec<ReferenceSearch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSearch {
    pub sample: String,
    pub request: crate::search::SearchRequest,
    pub result: crate::search::SearchResult,
    /// Model ids, best first.
    pub ranking: Vec<String>,
}

/// Model embeddings as the bytes of `model_embeddings`.
pub fn embeddings_to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A manifest with its verified model embeddings: everything retrieval needs but the networks.
#[derive(Debug, Clone)]
pub struct ZooIndex {
    pub manifest: ZooManifest,
    pub embeddings: EmbeddingMatrix,
    pub costs: Vec<ModelCost>,
}

impl ZooIndex {
    pub fn new(manifest: ZooManifest, embedding_bytes: &[u8]) -> Result<Self> {
        let file = &manifest.model_embeddings;
        file.verify(embedding_bytes)?;
        let dim = manifest.network.embed_dim;
        let expected = manifest.models.len() * dim * 4;
        if embedding_bytes.len() != expected {
            return Err(TansError::dims(
                format!(
                    "{} ({} models × {dim} f32)",
                    file.path,
                    manifest.models.len()
                ),
                format!("{expected} bytes"),
                format!("{} bytes", embedding_bytes.len()),
            ));
        }
        let values = embedding_bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let embeddings =
            EmbeddingMatrix::new(dim, values).map_err(|e| TansError::load(&file.path, e))?;
        let costs = manifest.costs();
        Ok(Self {
            manifest,
            embeddings,
            costs,
        })
    }
}

impl QueryNetworks {
    /// Serialises the weights (burnpack); the same weights always give the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::weights::to_bytes(self, "query networks")
    }

    /// Builds the networks `config` describes on `device` and loads `bytes` into them, after
    /// checking them against `file`. A record for other shapes or with missing tensors fails.
    pub fn from_bytes(
        config: &NetworkConfig,
        file: &FileRef,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self> {
        file.verify(bytes)?;
        crate::weights::load(Self::init(config, device), bytes, &file.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::QueryEncoderKind;

    #[test]
    fn file_refs_catch_truncation_and_tampering() {
        let file = FileRef::describe("a.bin", b"hello world");
        file.verify(b"hello world").unwrap();
        assert!(
            file.verify(b"hello")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        let err = file.verify(b"hello worle").unwrap_err();
        assert!(
            err.to_string().contains("a.bin") && err.to_string().contains("tampered"),
            "{err}"
        );
    }

    #[test]
    fn query_networks_round_trip_and_refuse_other_shapes() {
        let device = Device::flex();
        let config = NetworkConfig::new(6, 10, QueryEncoderKind::Deep);
        let networks = QueryNetworks::init(&config, &device);
        let bytes = networks.to_bytes().unwrap();
        let file = FileRef::describe("query.bpk", &bytes);
        let loaded = QueryNetworks::from_bytes(&config, &file, &bytes, &device).unwrap();
        assert_eq!(loaded.to_bytes().unwrap(), bytes);

        let other = NetworkConfig::new(7, 10, QueryEncoderKind::Deep);
        let err = QueryNetworks::from_bytes(&other, &file, &bytes, &device).unwrap_err();
        assert_eq!(err.code(), "load_failed");
        let linear = NetworkConfig::new(6, 10, QueryEncoderKind::Linear);
        assert!(QueryNetworks::from_bytes(&linear, &file, &bytes, &device).is_err());

        let garbage = vec![7u8; 64];
        let file = FileRef::describe("garbage.bpk", &garbage);
        let err = QueryNetworks::from_bytes(&config, &file, &garbage, &device).unwrap_err();
        assert!(err.to_string().contains("garbage.bpk"), "{err}");
    }

    #[test]
    fn manifests_are_checked() {
        let err = ZooManifest::from_json("zoo.json", "{").unwrap_err();
        assert!(err.to_string().contains("zoo.json"));
        let err = ZooManifest::from_json("zoo.json", r#"{"format":"x"}"#).unwrap_err();
        assert_eq!(err.code(), "load_failed");
    }
}
