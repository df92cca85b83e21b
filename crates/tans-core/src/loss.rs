//! The meta-contrastive objective (paper eq. 3–5): a bidirectional margin hinge over every
//! in-batch negative on cosine similarities, plus λ times the predictor's MSE.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Weights of the objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Margin α of the hinge.
    pub margin: f32,
    /// λ, the weight of the predictor's MSE.
    pub predictor_weight: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            margin: 0.2,
            predictor_weight: 1.0,
        }
    }
}

/// The objective and its parts, each a one-element tensor.
#[derive(Debug, Clone)]
pub struct MetaContrastiveLoss {
    pub total: Tensor<1>,
    pub contrastive: Tensor<1>,
    pub predictor_mse: Tensor<1>,
}

/// Row i of `query` and row i of `model` are a positive pair; every other row of the batch is a
/// negative. Both inputs must be L2-normalised (the encoders' outputs are), so their dot product
/// is the cosine similarity. With S = Q Mᵀ, each off-diagonal S_ij adds
/// `[α + S_ij − S_ii]₊` (the query contrasted over models) and `[α + S_ij − S_jj]₊` (the model
/// contrasted over queries); the hinge terms are summed, as in the reference code.
pub fn meta_contrastive_loss(
    query: Tensor<2>,
    model: Tensor<2>,
    predicted_accuracy: Tensor<1>,
    true_accuracy: Tensor<1>,
    config: &LossConfig,
) -> MetaContrastiveLoss {
    let device = query.device();
    let batch = query.dims()[0];
    let similarity = query.matmul(model.transpose());
    let eye = Tensor::<2>::eye(batch, &device);
    let positives = similarity.clone().mul(eye.clone()).sum_dim(1); // [B, 1]: S_ii
    let off_diagonal = Tensor::<2>::ones([batch, batch], &device).sub(eye);
    let query_side = relu(
        similarity
            .clone()
            .add_scalar(config.margin)
            .sub(positives.clone()),
    );
    let model_side = relu(
        similarity
            .add_scalar(config.margin)
            .sub(positives.transpose()),
    );
    let contrastive = query_side.add(model_side).mul(off_diagonal).sum();
    let predictor_mse = predicted_accuracy.sub(true_accuracy).powi_scalar(2).mean();
    let total = contrastive
        .clone()
        .add(predictor_mse.clone().mul_scalar(config.predictor_weight));
    MetaContrastiveLoss {
        total,
        contrastive,
        predictor_mse,
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::Device;

    use super::*;
    use crate::networks::{NetworkConfig, QueryEncoderKind, QueryTensors, TansNetworks, matrix};
    use crate::query::QueryBatch;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    /// Q = I₃; M's rows e₁, (0.7, √0.51, 0), (0, 0.8, 0.6), so S = Mᵀ:
    /// S = [[1, 0.7, 0], [0, √0.51, 0.8], [0, 0, 0.6]], α = 0.2.
    /// Query side: only (2,3): 0.2 + 0.8 − √0.51. Model side: (1,2): 0.2 + 0.7 − √0.51 and
    /// (2,3): 0.2 + 0.8 − 0.6. Every other term is below zero.
    #[test]
    fn loss_matches_a_hand_computed_3x3_example() {
        let device = Device::flex();
        let s = 0.51f32.sqrt();
        let q = matrix(vec![1., 0., 0., 0., 1., 0., 0., 0., 1.], 3, 3, &device);
        let m = matrix(vec![1., 0., 0., 0.7, s, 0., 0., 0.8, 0.6], 3, 3, &device);
        let predicted = Tensor::<1>::from_floats([0.5, 0.9, 0.2], &device);
        let truth = Tensor::<1>::from_floats([0.7, 0.9, 0.5], &device);
        let config = LossConfig {
            margin: 0.2,
            predictor_weight: 2.0,
        };
        let loss = meta_contrastive_loss(q, m, predicted, truth, &config);
        let contrastive = (1.0 - s) + (0.9 - s) + 0.4;
        let mse = (0.04 + 0.0 + 0.09) / 3.0;
        assert!((scalar(loss.contrastive) - contrastive).abs() < 1e-5);
        assert!((scalar(loss.predictor_mse) - mse).abs() < 1e-6);
        assert!((scalar(loss.total) - (contrastive + 2.0 * mse)).abs() < 1e-5);
    }

    #[test]
    fn perfectly_separated_pairs_cost_nothing() {
        let device = Device::flex();
        let eye = matrix(vec![1., 0., 0., 1.], 2, 2, &device);
        let acc = Tensor::<1>::from_floats([0.5, 0.5], &device);
        let loss =
            meta_contrastive_loss(eye.clone(), eye, acc.clone(), acc, &LossConfig::default());
        assert_eq!(scalar(loss.total), 0.0);
    }

    /// One Adam step on the meta-contrastive loss raises the cosine similarity of a positive
    /// (query, model) pair.
    #[test]
    fn one_optimiser_step_brings_a_positive_pair_closer() {
        let device = Device::flex().autodiff();
        let config = NetworkConfig {
            embed_dim: 16,
            query_hidden: 32,
            predictor_hidden: 16,
            ..NetworkConfig::new(8, 12, QueryEncoderKind::Linear)
        };
        let mut networks = TansNetworks::init(&config, &device);
        let features: Vec<f32> = (0..3 * 4 * 8)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let sets: Vec<_> = features
            .chunks(4 * 8)
            .map(|f| crate::query::QuerySet {
                features: f,
                labels: None,
            })
            .collect();
        let batch = QueryBatch::new(8, &sets).unwrap();
        let topology = matrix(
            (0..3 * 45).map(|i| (i % 5) as f32 / 5.0).collect(),
            3,
            45,
            &device,
        );
        let functional = matrix(
            (0..3 * 12).map(|i| ((i * 11 % 7) as f32) - 3.0).collect(),
            3,
            12,
            &device,
        );
        let accuracy = Tensor::<1>::from_floats([0.6, 0.7, 0.8], &device);
        let embed = |networks: &TansNetworks| {
            networks.embed(
                QueryTensors::new(&batch, &device),
                topology.clone(),
                functional.clone(),
            )
        };
        let positive_similarity = |networks: &TansNetworks| {
            let (q, m) = embed(networks);
            q.mul(m).sum_dim(1).into_data().try_to_vec::<f32>().unwrap()
        };
        let before = positive_similarity(&networks);
        let mut optimiser = AdamConfig::new().init();
        let (q, m) = embed(&networks);
        let predicted = networks.query.predictor.forward(q.clone(), m.clone());
        let loss = meta_contrastive_loss(q, m, predicted, accuracy, &LossConfig::default());
        let grads = GradientsParams::from_grads(loss.total.backward(), &networks);
        networks = optimiser.step(1e-2, networks, grads);
        let after = positive_similarity(&networks.valid());
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(
            mean(&after) > mean(&before),
            "before {before:?}, after {after:?}"
        );
    }
}
