//! The retrieval pipeline a user runs: embed the query set, take the top-K admissible models by
//! cosine similarity, re-rank them with the performance predictor. Tensor reads are async so the
//! same code runs on WebGPU in a browser; native callers block on the future.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TansError};
use crate::networks::{QueryNetworks, QueryTensors, matrix};
use crate::query::QueryBatch;
use crate::retrieval::{Constraints, Hit, rerank, top_k};
use crate::zoo::ZooIndex;

/// What to retrieve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Candidates retrieved by similarity (and re-ranked, when `rerank` is set).
    pub k: usize,
    #[serde(default)]
    pub constraints: Constraints,
    /// Re-rank the top-K by predicted accuracy (the paper's default).
    pub rerank: bool,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            k: 10,
            constraints: Constraints::default(),
            rerank: true,
        }
    }
}

/// The answer to one query set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub query_embedding: Vec<f32>,
    /// Best first; each hit carries its predicted accuracy (always computed for the top-K).
    pub hits: Vec<Hit>,
}

/// Query networks and a zoo index on one device.
#[derive(Debug)]
pub struct Retriever {
    networks: QueryNetworks,
    index: ZooIndex,
    device: Device,
}

/// Reads a tensor back (asynchronously, as WebGPU requires); `during` names the step in errors.
pub(crate) async fn read(tensor: Tensor<2>, during: &str) -> Result<Vec<f32>> {
    let backend = |reason: String| TansError::Backend {
        during: during.to_string(),
        reason,
    };
    tensor
        .into_data_async()
        .await
        .map_err(|e| backend(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| backend(format!("{e:?}")))
}

impl Retriever {
    pub fn new(networks: QueryNetworks, index: ZooIndex, device: Device) -> Self {
        Self {
            networks,
            index,
            device,
        }
    }

    pub fn index(&self) -> &ZooIndex {
        &self.index
    }

    /// Embeddings of every set in `query`, `sets × d` row-major.
    pub async fn encode(&self, query: &QueryBatch) -> Result<Vec<f32>> {
        let expected = self.index.manifest.network.feature_dim;
        if query.feature_dim() != expected {
            return Err(TansError::dims(
                "query feature dimension",
                expected,
                query.feature_dim(),
            ));
        }
        let embedding = self
            .networks
            .query_encoder
            .forward(QueryTensors::new(query, &self.device));
        read(embedding, "query encoding").await
    }

    /// Predicted accuracy of each zoo model in `models` (row indices) for one query embedding.
    pub async fn predict(&self, query_embedding: &[f32], models: &[usize]) -> Result<Vec<f32>> {
        let d = self.index.embeddings.dim();
        if query_embedding.len() != d {
            return Err(TansError::dims("query embedding", d, query_embedding.len()));
        }
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.index.embeddings.rows();
        if let Some(&bad) = models.iter().find(|&&i| i >= rows) {
            return Err(TansError::invalid(
                "model index",
                format!("{bad} ≥ zoo size {rows}"),
            ));
        }
        let model_values: Vec<f32> = models
            .iter()
            .flat_map(|&i| self.index.embeddings.row(i).iter().copied())
            .collect();
        let query_values: Vec<f32> = query_embedding.repeat(models.len());
        let tensor = |values| matrix(values, models.len(), d, &self.device);
        let predicted = self
            .networks
            .predictor
            .forward(tensor(query_values), tensor(model_values))
            .unsqueeze_dim::<2>(1);
        read(predicted, "accuracy prediction").await
    }

    /// Retrieves models for the single dataset in `query`.
    pub async fn search(
        &self,
        query: &QueryBatch,
        request: &SearchRequest,
    ) -> Result<SearchResult> {
        if query.sets() != 1 {
            return Err(TansError::invalid(
                "query",
                format!("search takes one set, got {}", query.sets()),
            ));
        }
        let query_embedding = self.encode(query).await?;
        let hits = top_k(
            &query_embedding,
            &self.index.embeddings,
            &self.index.costs,
            &request.constraints,
            request.k,
        )?;
        let rows: Vec<usize> = hits.iter().map(|h| h.index).collect();
        let predicted = self.predict(&query_embedding, &rows).await?;
        let hits = if request.rerank {
            rerank(&hits, &predicted)?
        } else {
            hits.iter()
                .zip(&predicted)
                .map(|(h, &p)| Hit {
                    predicted_accuracy: Some(p),
                    ..*h
                })
                .collect()
        };
        Ok(SearchResult {
            query_embedding,
            hits,
        })
    }
}
