//! Retrieval over a zoo (paper §3.1.2): filter by the user's constraints, take the top-K models
//! by cosine similarity to the query embedding, then re-rank those K by predicted accuracy.
//! Plain Rust over f32 slices: it runs the same natively and in wasm, with no tensor backend.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TansError, ensure_finite};

/// What a zoo model costs to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    pub params: u64,
    pub flops: u64,
    pub latency_ms: f32,
}

/// Upper bounds a retrieved model must satisfy; `None` means unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    pub max_params: Option<u64>,
    pub max_flops: Option<u64>,
    pub max_latency_ms: Option<f32>,
}

impl Constraints {
    pub fn validate(&self) -> Result<()> {
        match self.max_latency_ms {
            Some(ms) if !(ms.is_finite() && ms >= 0.0) => Err(TansError::invalid(
                "max_latency_ms",
                format!("{ms} is not a finite, non-negative number"),
            )),
            _ => Ok(()),
        }
    }

    pub fn admits(&self, cost: &ModelCost) -> bool {
        self.max_params.is_none_or(|max| cost.params <= max)
            && self.max_flops.is_none_or(|max| cost.flops <= max)
            && self.max_latency_ms.is_none_or(|max| cost.latency_ms <= max)
    }
}

/// `rows × dim` model embeddings, row-major, validated finite.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingMatrix {
    dim: usize,
    values: Vec<f32>,
}

impl EmbeddingMatrix {
    pub fn new(dim: usize, values: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(TansError::invalid("embedding dimension", "must be > 0"));
        }
        if !values.len().is_multiple_of(dim) {
            return Err(TansError::dims(
                "model embeddings",
                format!("a multiple of {dim} values"),
                values.len(),
            ));
        }
        ensure_finite("model embeddings", &values)?;
        Ok(Self { dim, values })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.dim
    }

    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.dim..(index + 1) * self.dim]
    }
}

/// A model retrieved for a query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Row of the model in the zoo.
    pub index: usize,
    /// Cosine similarity of query and model embedding.
    pub similarity: f32,
    /// The predictor's accuracy estimate, once re-ranked.
    pub predicted_accuracy: Option<f32>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

/// Higher similarity first; ties keep zoo order, so the answer is deterministic.
fn by_similarity(a: &Hit, b: &Hit) -> Ordering {
    b.similarity
        .total_cmp(&a.similarity)
        .then(a.index.cmp(&b.index))
}

/// The `k` most similar models among those `constraints` admit. `k` larger than what is left
/// returns all of it; a filter that admits nothing returns an empty list.
pub fn top_k(
    query: &[f32],
    models: &EmbeddingMatrix,
    costs: &[ModelCost],
    constraints: &Constraints,
    k: usize,
) -> Result<Vec<Hit>> {
    if k == 0 {
        return Err(TansError::invalid("k", "must be at least 1"));
    }
    if query.len() != models.dim() {
        return Err(TansError::dims(
            "query embedding",
            models.dim(),
            query.len(),
        ));
    }
    if costs.len() != models.rows() {
        return Err(TansError::dims(
            "model costs (one per zoo model)",
            models.rows(),
            costs.len(),
        ));
    }
    ensure_finite("query embedding", query)?;
    constraints.validate()?;
    let mut hits: Vec<Hit> = (0..models.rows())
        .filter(|&i| constraints.admits(&costs[i]))
        .map(|index| Hit {
            index,
            similarity: cosine(query, models.row(index)),
            predicted_accuracy: None,
        })
        .collect();
    hits.sort_by(by_similarity);
    hits.truncate(k);
    Ok(hits)
}

/// Orders `hits` by predicted accuracy (one prediction per hit), highest first; ties fall back
/// to similarity, then zoo order.
pub fn rerank(hits: &[Hit], predicted_accuracy: &[f32]) -> Result<Vec<Hit>> {
    if hits.len() != predicted_accuracy.len() {
        return Err(TansError::dims(
            "predicted accuracies",
            hits.len(),
            predicted_accuracy.len(),
        ));
    }
    ensure_finite("predicted accuracies", predicted_accuracy)?;
    let mut ranked: Vec<Hit> = hits
        .iter()
        .zip(predicted_accuracy)
        .map(|(hit, &p)| Hit {
            predicted_accuracy: Some(p),
            ..*hit
        })
        .collect();
    ranked.sort_by(|a, b| {
        let (pa, pb) = (
            a.predicted_accuracy.unwrap_or(0.0),
            b.predicted_accuracy.unwrap_or(0.0),
        );
        pb.total_cmp(&pa).then_with(|| by_similarity(a, b))
    });
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(params: u64) -> ModelCost {
        ModelCost {
            params,
            flops: params * 10,
            latency_ms: params as f32 / 100.0,
        }
    }

    /// Four 2-D models: e₁, e₂, e₁ again (a tie with model 0) and (1, 1)/√2.
    fn zoo() -> (EmbeddingMatrix, Vec<ModelCost>) {
        let h = 0.5f32.sqrt();
        let m = EmbeddingMatrix::new(2, vec![1., 0., 0., 1., 1., 0., h, h]).unwrap();
        (m, vec![cost(100), cost(200), cost(300), cost(400)])
    }

    fn indices(hits: &[Hit]) -> Vec<usize> {
        hits.iter().map(|h| h.index).collect()
    }

    #[test]
    fn ranks_by_cosine_and_breaks_ties_by_zoo_order() {
        let (m, c) = zoo();
        let hits = top_k(&[2.0, 0.0], &m, &c, &Constraints::default(), 3).unwrap();
        assert_eq!(indices(&hits), vec![0, 2, 3]);
        assert!((hits[0].similarity - 1.0).abs() < 1e-6);
        assert!((hits[2].similarity - 0.5f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn k_larger_than_the_zoo_returns_everything() {
        let (m, c) = zoo();
        let hits = top_k(&[0.0, 1.0], &m, &c, &Constraints::default(), 99).unwrap();
        assert_eq!(indices(&hits), vec![1, 3, 0, 2]);
    }

    #[test]
    fn constraints_filter_before_the_top_k() {
        let (m, c) = zoo();
        let tight = Constraints {
            max_params: Some(250),
            ..Default::default()
        };
        assert_eq!(
            indices(&top_k(&[0.0, 1.0], &m, &c, &tight, 1).unwrap()),
            vec![1]
        );
        let flops = Constraints {
            max_flops: Some(1000),
            ..Default::default()
        };
        assert_eq!(
            indices(&top_k(&[0.0, 1.0], &m, &c, &flops, 9).unwrap()),
            vec![0]
        );
        let latency = Constraints {
            max_latency_ms: Some(3.5),
            ..Default::default()
        };
        assert_eq!(
            indices(&top_k(&[1.0, 1.0], &m, &c, &latency, 9).unwrap()),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn a_filter_that_leaves_nothing_gives_an_empty_answer() {
        let (m, c) = zoo();
        let none = Constraints {
            max_params: Some(10),
            ..Default::default()
        };
        assert!(top_k(&[1.0, 0.0], &m, &c, &none, 5).unwrap().is_empty());
        assert!(rerank(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn rerank_orders_by_prediction_then_similarity() {
        let (m, c) = zoo();
        let hits = top_k(&[1.0, 0.0], &m, &c, &Constraints::default(), 4).unwrap();
        assert_eq!(indices(&hits), vec![0, 2, 3, 1]);
        let ranked = rerank(&hits, &[0.5, 0.9, 0.5, 0.7]).unwrap();
        assert_eq!(indices(&ranked), vec![2, 1, 0, 3]);
        assert_eq!(ranked[0].predicted_accuracy, Some(0.9));
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        let (m, c) = zoo();
        let all = Constraints::default();
        assert_eq!(
            top_k(&[1.0, 0.0], &m, &c, &all, 0).unwrap_err().code(),
            "invalid_argument"
        );
        assert_eq!(
            top_k(&[1.0], &m, &c, &all, 1).unwrap_err().code(),
            "dimension_mismatch"
        );
        assert_eq!(
            top_k(&[f32::NAN, 0.0], &m, &c, &all, 1).unwrap_err().code(),
            "non_finite"
        );
        assert_eq!(
            top_k(&[1.0, 0.0], &m, &c[..2], &all, 1).unwrap_err().code(),
            "dimension_mismatch"
        );
        let bad = Constraints {
            max_latency_ms: Some(f32::NAN),
            ..Default::default()
        };
        assert_eq!(
            top_k(&[1.0, 0.0], &m, &c, &bad, 1).unwrap_err().code(),
            "invalid_argument"
        );
        assert_eq!(
            rerank(&[], &[0.5]).unwrap_err().code(),
            "dimension_mismatch"
        );
        assert!(EmbeddingMatrix::new(2, vec![1.0; 3]).is_err());
        assert!(EmbeddingMatrix::new(2, vec![1.0, f32::INFINITY]).is_err());
    }
}
