//! The meta-contrastive objective (paper eq. 3–5): a bidirectional margin hinge over every
//! in-batch negative on cosine similarities, plus λ times the predictor's MSE. Two weaker
//! objectives the paper ablates (Fig. 7b) are variants of it: the hardest negative only, and
//! the cosine similarity of the positive pairs alone.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Which negatives the contrastive part contrasts a positive pair with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negatives {
    /// Every other pair of the batch, in both directions (ours and the reference code's).
    #[default]
    All,
    /// Only the hardest negative of each query and of each model (VSE++ style).
    Hardest,
    /// None: `Σ (1 − S_ii)` pulls positive pairs together and nothing pushes others apart.
    CosineOnly,
}

/// Weights of the objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Margin α of the hinge.
    pub margin: f32,
    /// λ, the weight of the predictor's MSE.
    pub predictor_weight: f32,
    pub negatives: Negatives,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            margin: 0.2,
            predictor_weight: 1.0,
            negatives: Negatives::All,
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
    let contrastive = match config.negatives {
        Negatives::All => {
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
            query_side.add(model_side).mul(off_diagonal).sum()
        }
        Negatives::Hardest => {
            // Cosines lie in [-1, 1]: lowering the diagonal by 4 keeps it out of every maximum.
            let negatives = similarity.sub(eye.mul_scalar(4.0));
            let hardest_model = negatives.clone().max_dim(1); // [B, 1], per query
            let hardest_query = negatives.max_dim(0).transpose(); // [B, 1], per model
            let hinge = |hardest: Tensor<2>| {
                relu(hardest.add_scalar(config.margin).sub(positives.clone())).sum()
            };
            hinge(hardest_model).add(hinge(hardest_query))
        }
        Negatives::CosineOnly => positives.clone().neg().add_scalar(1.0).sum(),
    };
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
    use burn::module::{Module, Param};
    use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
    use burn::tensor::Device;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
            negatives: Negatives::All,
        };
        let loss = meta_contrastive_loss(q, m, predicted, truth, &config);
        let contrastive = (1.0 - s) + (0.9 - s) + 0.4;
        let mse = (0.04 + 0.0 + 0.09) / 3.0;
        assert!((scalar(loss.contrastive) - contrastive).abs() < 1e-5);
        assert!((scalar(loss.predictor_mse) - mse).abs() < 1e-6);
        assert!((scalar(loss.total) - (contrastive + 2.0 * mse)).abs() < 1e-5);
    }

    /// Every objective against a loop over the similarity matrix, on seeded random unit
    /// vectors (5 pairs, where several negatives per row are inside the margin).
    #[test]
    fn each_objective_matches_a_loop_over_the_similarities() {
        let device = Device::flex();
        let (b, d) = (5, 3);
        let mut rng = StdRng::seed_from_u64(9);
        let mut unit_rows = || {
            let mut v: Vec<f32> = (0..b * d).map(|_| rng.random_range(-1.0..1.0f32)).collect();
            for row in v.chunks_mut(d) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
            }
            v
        };
        let (q, m) = (unit_rows(), unit_rows());
        let s = |i: usize, j: usize| (0..d).map(|k| q[i * d + k] * m[j * d + k]).sum::<f32>();
        let alpha = 0.2;
        let hinge = |x: f32| x.max(0.0);
        let others = |i: usize| (0..b).filter(move |&j| j != i);
        let all: f32 = (0..b)
            .flat_map(|i| others(i).map(move |j| (i, j)))
            .map(|(i, j)| hinge(alpha + s(i, j) - s(i, i)) + hinge(alpha + s(i, j) - s(j, j)))
            .sum();
        let hardest: f32 = (0..b)
            .map(|i| {
                let row = others(i).map(|j| s(i, j)).fold(f32::MIN, f32::max);
                let column = others(i).map(|j| s(j, i)).fold(f32::MIN, f32::max);
                hinge(alpha + row - s(i, i)) + hinge(alpha + column - s(i, i))
            })
            .sum();
        let cosine: f32 = (0..b).map(|i| 1.0 - s(i, i)).sum();
        assert!(
            hardest < all - 0.1,
            "the example has several active negatives"
        );
        let acc = Tensor::<1>::from_floats([0.5; 5], &device);
        for (negatives, expected) in [
            (Negatives::All, all),
            (Negatives::Hardest, hardest),
            (Negatives::CosineOnly, cosine),
        ] {
            let config = LossConfig {
                negatives,
                ..LossConfig::default()
            };
            let loss = meta_contrastive_loss(
                matrix(q.clone(), b, d, &device),
                matrix(m.clone(), b, d, &device),
                acc.clone(),
                acc.clone(),
                &config,
            );
            let got = scalar(loss.contrastive);
            assert!(
                (got - expected).abs() < 1e-4,
                "{negatives:?}: {got} vs {expected}"
            );
        }
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

    /// Free query and model embeddings (3 pairs of 8-d vectors), normalised in the forward pass.
    #[derive(Module, Debug)]
    struct Embeddings {
        query: Param<Tensor<2>>,
        model: Param<Tensor<2>>,
    }

    impl Embeddings {
        fn pairs(&self) -> (Tensor<2>, Tensor<2>) {
            let unit = |x: Tensor<2>| x.clone().div(x.powi_scalar(2).sum_dim(1).sqrt());
            (unit(self.query.val()), unit(self.model.val()))
        }
    }

    /// One optimiser step on the meta-contrastive loss brings positive pairs closer: the hinge
    /// pulls each query towards its own model while a negative is within the margin. Checked on
    /// 8 seeded draws: the mean positive similarity rises, and so does every pair whose own
    /// hinge was active (a pair already clear of the margin is only nudged by the others').
    #[test]
    fn one_optimiser_step_brings_positive_pairs_closer() {
        let device = Device::flex().autodiff();
        let accuracy = Tensor::<1>::from_floats([0.5, 0.5, 0.5], &device);
        let similarities = |e: &Embeddings| {
            let (q, m) = e.pairs();
            q.matmul(m.transpose())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let margin = LossConfig::default().margin;
        for seed in 0..8 {
            // Drawn here rather than by burn, whose CPU generator other tests share.
            let mut rng = StdRng::seed_from_u64(seed);
            let mut draw = || {
                let values = (0..24).map(|_| rng.random_range(-1.0..1.0f32)).collect();
                Param::from_tensor(matrix(values, 3, 8, &device))
            };
            let embeddings = Embeddings {
                query: draw(),
                model: draw(),
            };
            let before = similarities(&embeddings);
            let (q, m) = embeddings.pairs();
            let loss = meta_contrastive_loss(
                q,
                m,
                accuracy.clone(),
                accuracy.clone(),
                &LossConfig::default(),
            );
            let grads = GradientsParams::from_grads(loss.total.backward(), &embeddings);
            let embeddings = SgdConfig::new().init().step(0.05, embeddings, grads);
            let after = similarities(&embeddings);
            let diagonal = |s: &[f32]| [s[0], s[4], s[8]];
            let (b, a) = (diagonal(&before), diagonal(&after));
            assert!(
                a.iter().sum::<f32>() > b.iter().sum::<f32>(),
                "seed {seed}: {b:?} → {a:?}"
            );
            for i in 0..3 {
                let active =
                    (0..3).any(|j| j != i && margin + before[i * 3 + j] - before[i * 4] > 0.0);
                assert!(
                    !active || a[i] > b[i],
                    "seed {seed} pair {i}: {} → {}",
                    b[i],
                    a[i]
                );
            }
        }
    }

    /// The same objective trains the networks: one small Adam step lowers it (8 inits).
    #[test]
    fn one_adam_step_lowers_the_loss_of_the_networks() {
        let device = Device::flex().autodiff();
        let config = NetworkConfig {
            embed_dim: 16,
            query_hidden: 32,
            predictor_hidden: 16,
            ..NetworkConfig::new(8, 12, QueryEncoderKind::Linear)
        };
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
        let loss = |networks: &TansNetworks| {
            let (q, m) = networks.embed(
                QueryTensors::new(&batch, &device),
                topology.clone(),
                functional.clone(),
            );
            let predicted = networks.query.predictor.forward(q.clone(), m.clone());
            meta_contrastive_loss(q, m, predicted, accuracy.clone(), &LossConfig::default()).total
        };
        for seed in 0..8 {
            let networks = TansNetworks::init(&config, &device);
            let before = loss(&networks);
            let value = scalar(before.clone());
            let grads = GradientsParams::from_grads(before.backward(), &networks);
            let networks = AdamConfig::new().init().step(1e-3, networks, grads);
            let after = scalar(loss(&networks.valid()));
            assert!(after < value, "seed {seed}: loss {value} → {after}");
        }
    }
}
