//! The three TANS networks (paper §3.2, appendix A.2–A.4): the query encoder that embeds a
//! dataset, the model encoder that embeds a network, and the performance predictor that scores
//! a (query, model) pair. All outputs of the encoders are L2-normalised, so a dot product is the
//! cosine similarity the retrieval space is trained with.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::query::QueryBatch;
use crate::topology::TOPOLOGY_LEN;

/// Which set encoder embeds a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryEncoderKind {
    /// The paper's: ρ = one Linear per instance, mean over the set, L2 norm.
    Linear,
    /// Deeper: a 2-layer MLP per instance, mean within each class, a Linear + ReLU per class,
    /// mean over classes, then a Linear to the embedding (MetaD2A-style hierarchical pooling).
    Deep,
}

/// Sizes of the networks; stored in every published zoo so a reader can rebuild them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Per-image feature size F from the frozen image backbone.
    pub feature_dim: usize,
    /// Functional-embedding size F_m of a zoo network.
    pub functional_dim: usize,
    /// Size d of the shared retrieval space.
    pub embed_dim: usize,
    pub query_encoder: QueryEncoderKind,
    /// Hidden width of the deep query encoder (unused by the linear one).
    pub query_hidden: usize,
    /// Hidden width of the performance predictor.
    pub predictor_hidden: usize,
}

/// Largest size any dimension of a published network may have; a manifest asking for more is
/// refused before anything is allocated.
pub const MAX_DIM: usize = 1 << 16;

impl NetworkConfig {
    /// Fails unless every size is in `1..=MAX_DIM`.
    pub fn validate(&self) -> crate::Result<()> {
        let sizes = [
            ("feature_dim", self.feature_dim),
            ("functional_dim", self.functional_dim),
            ("embed_dim", self.embed_dim),
            ("query_hidden", self.query_hidden),
            ("predictor_hidden", self.predictor_hidden),
        ];
        match sizes.iter().find(|(_, v)| !(1..=MAX_DIM).contains(v)) {
            Some((name, v)) => Err(crate::TansError::invalid(
                format!("network {name}"),
                format!("{v} is outside 1..={MAX_DIM}"),
            )),
            None => Ok(()),
        }
    }

    /// The paper's sizes (d = 128, predictor hidden 256) for the given input sizes.
    pub fn new(feature_dim: usize, functional_dim: usize, query_encoder: QueryEncoderKind) -> Self {
        Self {
            feature_dim,
            functional_dim,
            embed_dim: 128,
            query_encoder,
            query_hidden: 256,
            predictor_hidden: 256,
        }
    }
}

/// `[rows, cols]` f32 tensor from row-major values.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x.div(norm)
}

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out).init(device)
}

/// Embeds a batch of query sets: `[instances, F]` plus pooling matrices → `[sets, d]`.
#[derive(Module, Debug)]
pub struct QueryEncoder {
    /// Per-instance layers: one Linear (the linear variant) or an MLP with a ReLU after every
    /// layer (deep).
    instance: Vec<Linear>,
    /// Per-class layers after class pooling (empty for the linear variant).
    class: Vec<Linear>,
    /// Set-level output layer after set pooling (absent for the linear variant).
    output: Option<Linear>,
}

impl QueryEncoder {
    pub fn init(config: &NetworkConfig, device: &Device) -> Self {
        let (f, h, d) = (config.feature_dim, config.query_hidden, config.embed_dim);
        match config.query_encoder {
            QueryEncoderKind::Linear => Self {
                instance: vec![linear(f, d, device)],
                class: vec![],
                output: None,
            },
            QueryEncoderKind::Deep => Self {
                instance: vec![linear(f, h, device), linear(h, h, device)],
                class: vec![linear(h, h, device)],
                output: Some(linear(h, d, device)),
            },
        }
    }

    pub fn forward(&self, query: QueryTensors) -> Tensor<2> {
        let mut classes = match &self.output {
            // The linear encoder is affine, so the mean of its outputs is its output of the
            // mean: pooling first gives the same embedding for a fraction of the work.
            None => self.instance[0].forward(query.class_pooling.pool(query.features)),
            Some(_) => {
                let mut h = query.features;
                for layer in &self.instance {
                    h = relu(layer.forward(h));
                }
                query.class_pooling.pool(h)
            }
        };
        for layer in &self.class {
            classes = relu(layer.forward(classes));
        }
        let mut sets = query.set_pool.matmul(classes);
        if let Some(output) = &self.output {
            sets = output.forward(sets);
        }
        l2_normalise(sets)
    }
}

/// A [`QueryBatch`] moved onto a device.
#[derive(Debug, Clone)]
pub struct QueryTensors {
    /// `[instances, F]`, class by class.
    pub features: Tensor<2>,
    pub class_pooling: ClassPooling,
    /// `[sets, classes]`, each row averages the classes of one set.
    pub set_pool: Tensor<2>,
}

/// How rows of per-instance values `[instances, H]` become per-class means `[classes, H]`.
#[derive(Debug, Clone)]
pub enum ClassPooling {
    /// Every class has this many consecutive rows: a reshape and a mean.
    Uniform(usize),
    /// `[classes, instances]`, each row averages the instances of one class.
    Matrix(Box<Tensor<2>>),
}

impl ClassPooling {
    pub fn pool(&self, rows: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Uniform(size) => {
                let [instances, width] = rows.dims();
                rows.reshape([instances / size, *size, width])
                    .mean_dim(1)
                    .reshape([instances / size, width])
            }
            Self::Matrix(pool) => pool.as_ref().clone().matmul(rows),
        }
    }
}

impl QueryTensors {
    pub fn new(batch: &QueryBatch, device: &Device) -> Self {
        let sizes = batch.class_sizes();
        let class_pooling = if sizes.iter().all(|&n| n == sizes[0]) {
            ClassPooling::Uniform(sizes[0])
        } else {
            ClassPooling::Matrix(Box::new(matrix(
                batch.class_pool(),
                batch.classes(),
                batch.instances(),
                device,
            )))
        };
        Self {
            features: matrix(
                batch.features().to_vec(),
                batch.instances(),
                batch.feature_dim(),
                device,
            ),
            class_pooling,
            set_pool: matrix(
                batch.set_pool().to_vec(),
                batch.sets(),
                batch.classes(),
                device,
            ),
        }
    }
}

/// Embeds networks: `[topology (45, normalised), functional (F_m)]` → `[models, d]`.
#[derive(Module, Debug)]
pub struct ModelEncoder {
    projection: Linear,
}

impl ModelEncoder {
    pub fn init(config: &NetworkConfig, device: &Device) -> Self {
        Self {
            projection: linear(
                TOPOLOGY_LEN + config.functional_dim,
                config.embed_dim,
                device,
            ),
        }
    }

    /// `topology` is [`crate::Topology::normalised`] per row (each part already in [0, 1]);
    /// it is scaled to unit norm at most, and the functional embedding is L2-normalised, so
    /// neither part outweighs the other by the scale of its raw values.
    pub fn forward(&self, topology: Tensor<2>, functional: Tensor<2>) -> Tensor<2> {
        let topology = topology.div_scalar((TOPOLOGY_LEN as f32).sqrt());
        let x = Tensor::cat(vec![topology, l2_normalise(functional)], 1);
        l2_normalise(self.projection.forward(x))
    }
}

/// Predicts the accuracy in [0, 1] of a model on a dataset from their embeddings.
#[derive(Module, Debug)]
pub struct PerformancePredictor {
    hidden: Linear,
    output: Linear,
}

impl PerformancePredictor {
    pub fn init(config: &NetworkConfig, device: &Device) -> Self {
        Self {
            hidden: linear(2 * config.embed_dim, config.predictor_hidden, device),
            output: linear(config.predictor_hidden, 1, device),
        }
    }

    /// `[pairs, d]` × `[pairs, d]` → `[pairs]`.
    pub fn forward(&self, query: Tensor<2>, model: Tensor<2>) -> Tensor<1> {
        let x = relu(self.hidden.forward(Tensor::cat(vec![query, model], 1)));
        sigmoid(self.output.forward(x)).squeeze_dim::<1>(1)
    }
}

/// What a browser runs: the query encoder and the predictor. Model embeddings are precomputed
/// by the trainer, so the model encoder never ships.
#[derive(Module, Debug)]
pub struct QueryNetworks {
    pub query_encoder: QueryEncoder,
    pub predictor: PerformancePredictor,
}

impl QueryNetworks {
    pub fn init(config: &NetworkConfig, device: &Device) -> Self {
        Self {
            query_encoder: QueryEncoder::init(config, device),
            predictor: PerformancePredictor::init(config, device),
        }
    }
}

/// All three networks, trained together by the meta-contrastive objective.
#[derive(Module, Debug)]
pub struct TansNetworks {
    pub query: QueryNetworks,
    pub model_encoder: ModelEncoder,
}

impl TansNetworks {
    pub fn init(config: &NetworkConfig, device: &Device) -> Self {
        Self {
            query: QueryNetworks::init(config, device),
            model_encoder: ModelEncoder::init(config, device),
        }
    }

    /// Embeddings of paired query sets and models: `([sets, d], [models, d])`.
    pub fn embed(
        &self,
        query: QueryTensors,
        topology: Tensor<2>,
        functional: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        (
            self.query.query_encoder.forward(query),
            self.model_encoder.forward(topology, functional),
        )
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::query::QuerySet;

    fn embed(
        encoder: &QueryEncoder,
        features: &[f32],
        labels: Option<&[u32]>,
        device: &Device,
    ) -> Vec<f32> {
        let batch = QueryBatch::single(4, features, labels).unwrap();
        encoder
            .forward(QueryTensors::new(&batch, device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    fn config(kind: QueryEncoderKind) -> NetworkConfig {
        NetworkConfig {
            embed_dim: 8,
            query_hidden: 16,
            predictor_hidden: 8,
            ..NetworkConfig::new(4, 6, kind)
        }
    }

    const SET: [f32; 12] = [0.1, 0.2, 0.3, 0.4, 1.0, -1.0, 0.5, 0.0, -0.3, 0.8, 0.2, 0.9];
    const SHUFFLED: [f32; 12] = [-0.3, 0.8, 0.2, 0.9, 0.1, 0.2, 0.3, 0.4, 1.0, -1.0, 0.5, 0.0];

    #[test]
    fn both_encoders_are_permutation_invariant_and_unit_norm() {
        let device = Device::flex();
        for kind in [QueryEncoderKind::Linear, QueryEncoderKind::Deep] {
            let encoder = QueryEncoder::init(&config(kind), &device);
            let a = embed(&encoder, &SET, Some(&[0, 1, 0]), &device);
            let b = embed(&encoder, &SHUFFLED, Some(&[0, 0, 1]), &device);
            assert!(close(&a, &b), "{kind:?}: {a:?} vs {b:?}");
            let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{kind:?} norm {norm}");
        }
    }

    /// The paper's encoder has no nonlinearity: it is the normalised Linear of the mean feature.
    #[test]
    fn the_linear_encoder_is_linear_of_the_mean() {
        let device = Device::flex();
        let encoder = QueryEncoder::init(&config(QueryEncoderKind::Linear), &device);
        let mean: Vec<f32> = (0..4)
            .map(|j| (SET[j] + SET[4 + j] + SET[8 + j]) / 3.0)
            .collect();
        assert!(close(
            &embed(&encoder, &SET, None, &device),
            &embed(&encoder, &mean, None, &device)
        ));
    }

    /// Class-wise pooling weighs classes, not images: the deep encoder changes with the labels.
    #[test]
    fn labels_change_the_deep_embedding() {
        let device = Device::flex();
        let encoder = QueryEncoder::init(&config(QueryEncoderKind::Deep), &device);
        let one_class = embed(&encoder, &SET, None, &device);
        let two_classes = embed(&encoder, &SET, Some(&[0, 0, 1]), &device);
        assert!(!close(&one_class, &two_classes));
    }

    #[test]
    fn predictor_outputs_one_probability_per_pair() {
        let device = Device::flex();
        let config = config(QueryEncoderKind::Linear);
        let predictor = PerformancePredictor::init(&config, &device);
        let q = matrix(vec![0.3; 3 * 8], 3, 8, &device);
        let m = matrix(vec![-0.2; 3 * 8], 3, 8, &device);
        let p = predictor
            .forward(q, m)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn absurd_sizes_are_refused() {
        config(QueryEncoderKind::Deep).validate().unwrap();
        let zero = NetworkConfig {
            embed_dim: 0,
            ..config(QueryEncoderKind::Deep)
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("embed_dim")
        );
        let huge = NetworkConfig {
            feature_dim: MAX_DIM + 1,
            ..config(QueryEncoderKind::Deep)
        };
        assert_eq!(huge.validate().unwrap_err().code(), "invalid_argument");
    }

    /// Equal-sized classes pool by a reshape, others by a matrix: the two agree.
    #[test]
    fn uniform_and_matrix_class_pooling_agree() {
        let device = Device::flex();
        let batch = QueryBatch::single(4, &SET[..8], Some(&[3, 1])).unwrap();
        let tensors = QueryTensors::new(&batch, &device);
        assert!(matches!(tensors.class_pooling, ClassPooling::Uniform(1)));
        let matrix_pooled = QueryTensors {
            class_pooling: ClassPooling::Matrix(Box::new(matrix(
                batch.class_pool(),
                2,
                2,
                &device,
            ))),
            ..tensors.clone()
        };
        for kind in [QueryEncoderKind::Linear, QueryEncoderKind::Deep] {
            let encoder = QueryEncoder::init(&config(kind), &device);
            let read =
                |t: QueryTensors| encoder.forward(t).into_data().try_to_vec::<f32>().unwrap();
            let (a, b) = (read(tensors.clone()), read(matrix_pooled.clone()));
            assert!(close(&a, &b), "{kind:?}: {a:?} vs {b:?}");
        }
        let ragged = QueryBatch::single(4, &SET, Some(&[0, 1, 0])).unwrap();
        assert!(matches!(
            QueryTensors::new(&ragged, &device).class_pooling,
            ClassPooling::Matrix(_)
        ));
    }

    #[test]
    fn query_sets_in_one_batch_do_not_mix() {
        let device = Device::flex();
        let encoder = QueryEncoder::init(&config(QueryEncoderKind::Deep), &device);
        let batch = QueryBatch::new(
            4,
            &[
                QuerySet {
                    features: &SET,
                    labels: None,
                },
                QuerySet {
                    features: &SET[..4],
                    labels: None,
                },
            ],
        )
        .unwrap();
        let both = encoder
            .forward(QueryTensors::new(&batch, &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(close(&both[..8], &embed(&encoder, &SET, None, &device)));
        assert!(close(
            &both[8..],
            &embed(&encoder, &SET[..4], None, &device)
        ));
    }
}
