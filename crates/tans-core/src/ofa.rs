//! The zoo's search space: once-for-all (OFA) MobileNetV3 (Cai et al., ICLR 2020) scaled to
//! small inputs, as an elastic supernet in burn, and the standalone subnets cut out of it.
//!
//! A subnet is a [`Topology`]: per stage a depth in {2, 3, 4}, per active layer a kernel in
//! {3, 5, 7} and an expand ratio in {3, 4, 6}. The supernet holds the largest of everything:
//! - elastic kernel: a layer's 7×7 depthwise weights; 5×5 is their centre times a learned 25×25
//!   transform, 3×3 the centre of that times a 9×9 transform (OFA's kernel-transform matrices);
//! - elastic width: the expand ratio keeps the first `make_divisible(in × ratio)` middle
//!   channels, which [`Supernet::sort_channels`] orders by importance (L1 norm of the projection
//!   weights that read them);
//! - elastic depth: a stage runs its first `depth` layers.
//!
//! Batch norm in the supernet always normalises with the statistics of the batch (training);
//! a subnet's running statistics are recalibrated on training data for it alone
//! ([`Supernet::calibrate`]) and travel with the extracted network ([`Supernet::extract`]).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{hard_sigmoid, hard_swish, relu};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::depthwise_training::depthwise_conv2d;
use crate::error::{Result, TansError};
use crate::norm_training::{Activation, batch_norm_activation};
use crate::topology::{MAX_DEPTH, STAGES, Topology};

const BN_EPSILON: f64 = 1e-5;
const LARGEST_KERNEL: usize = 7;

/// The architecture every subnet shares: widths, strides and where squeeze-excite and
/// hard-swish are, as in OFA MobileNetV3 but narrower for 32×32 and 64×64 inputs. The default
/// widths put the largest subnet at 1.0M weights and the smallest at 0.27M (`tans zoo space`
/// measures them, with FLOPs and latency; the README records a run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceConfig {
    /// Input side the latency and FLOPs are measured at (the networks accept any side).
    pub input_side: usize,
    pub stem_width: usize,
    pub stem_stride: usize,
    /// The fixed first block (3×3 depthwise, expand 1).
    pub first_block_width: usize,
    pub stage_widths: [usize; STAGES],
    pub stage_strides: [usize; STAGES],
    pub stage_squeeze_excite: [bool; STAGES],
    pub stage_hard_swish: [bool; STAGES],
    /// The 1×1 convolution after the last stage.
    pub final_expand_width: usize,
    /// The penultimate layer: its output is the functional embedding.
    pub feature_mix_width: usize,
    pub classes: usize,
}

impl Default for SpaceConfig {
    fn default() -> Self {
        Self {
            input_side: 32,
            stem_width: 16,
            stem_stride: 1,
            first_block_width: 16,
            stage_widths: [16, 24, 32, 40, 56],
            stage_strides: [2, 2, 2, 1, 2],
            stage_squeeze_excite: [false, true, false, true, true],
            stage_hard_swish: [false, false, true, true, true],
            final_expand_width: 256,
            feature_mix_width: 512,
            classes: 20,
        }
    }
}

impl SpaceConfig {
    /// Refuses a space no network can be built from, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Err(TansError::invalid(field, reason));
        let widths = [
            ("stem_width", self.stem_width),
            ("first_block_width", self.first_block_width),
            ("final_expand_width", self.final_expand_width),
            ("feature_mix_width", self.feature_mix_width),
        ];
        for (field, width) in widths {
            if width == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if let Some(stage) = self.stage_widths.iter().position(|&w| w == 0) {
            return bad("stage_widths", format!("stage {stage} has width 0"));
        }
        for (field, stride) in std::iter::once(("stem_stride", self.stem_stride))
            .chain(self.stage_strides.iter().map(|&s| ("stage_strides", s)))
        {
            if !(1..=2).contains(&stride) {
                return bad(field, format!("stride {stride}; strides are 1 or 2"));
            }
        }
        if self.classes < 2 {
            return bad(
                "classes",
                format!("{}; a classifier needs 2 or more", self.classes),
            );
        }
        if self.input_side == 0 {
            return bad("input_side", "must be at least 1".into());
        }
        Ok(())
    }

    /// Middle (expanded) width of a layer reading `input` channels at `expand` ratio.
    pub fn middle_width(input: usize, expand: usize) -> usize {
        make_divisible(input * expand)
    }

    /// Squeeze-excite width for a middle width.
    pub fn squeeze_width(middle: usize) -> usize {
        make_divisible(middle / 4)
    }

    /// Input width of layer `layer` of `stage`.
    fn layer_input(&self, stage: usize, layer: usize) -> usize {
        match (stage, layer) {
            (0, 0) => self.first_block_width,
            (s, 0) => self.stage_widths[s - 1],
            (s, _) => self.stage_widths[s],
        }
    }

    fn layer_stride(&self, stage: usize, layer: usize) -> usize {
        if layer == 0 {
            self.stage_strides[stage]
        } else {
            1
        }
    }
}

/// OFA's rounding of channel counts to multiples of 8, never below 8 nor 10 % under `value`.
pub fn make_divisible(value: usize) -> usize {
    let rounded = ((value + 4) / 8 * 8).max(8);
    if rounded * 10 < value * 9 {
        rounded + 8
    } else {
        rounded
    }
}

/// Output side of a convolution with `kernel`, `stride` and padding `kernel / 2`.
fn conv_side(side: usize, kernel: usize, stride: usize) -> usize {
    (side + 2 * (kernel / 2) - kernel) / stride + 1
}

/// Exact size and cost of a subnet: weights (batch-norm scale and shift included, running
/// statistics not) and multiply-accumulates of one forward pass at the space's input side
/// (FLOPs counted as multiply-accumulates, as OFA reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub params: u64,
    pub flops: u64,
}

impl Cost {
    fn conv(&mut self, side: usize, input: usize, output: usize, kernel: usize, groups: usize) {
        let weights = (output * input / groups * kernel * kernel) as u64;
        self.params += weights;
        self.flops += weights * (side * side) as u64;
    }

    fn batch_norm(&mut self, channels: usize) {
        self.params += 2 * channels as u64;
    }

    fn linear(&mut self, input: usize, output: usize, bias: bool) {
        self.params += (input * output + if bias { output } else { 0 }) as u64;
        self.flops += (input * output) as u64;
    }

    /// The cost of `topology` in `space`.
    pub fn of(space: &SpaceConfig, topology: &Topology) -> Cost {
        let mut cost = Cost {
            params: 0,
            flops: 0,
        };
        let mut side = conv_side(space.input_side, 3, space.stem_stride);
        cost.conv(side, 3, space.stem_width, 3, 1);
        cost.batch_norm(space.stem_width);
        cost.conv(
            side,
            space.stem_width,
            space.stem_width,
            3,
            space.stem_width,
        );
        cost.batch_norm(space.stem_width);
        cost.conv(side, space.stem_width, space.first_block_width, 1, 1);
        cost.batch_norm(space.first_block_width);
        for stage in 0..STAGES {
            for layer in 0..topology.depth(stage) {
                let input = space.layer_input(stage, layer);
                let output = space.stage_widths[stage];
                let kernel = topology.kernel(stage, layer);
                let middle = SpaceConfig::middle_width(input, topology.expand(stage, layer));
                cost.conv(side, input, middle, 1, 1);
                cost.batch_norm(middle);
                side = conv_side(side, kernel, space.layer_stride(stage, layer));
                cost.conv(side, middle, middle, kernel, middle);
                cost.batch_norm(middle);
                if space.stage_squeeze_excite[stage] {
                    let squeeze = SpaceConfig::squeeze_width(middle);
                    cost.linear(middle, squeeze, true);
                    cost.linear(squeeze, middle, true);
                }
                cost.conv(side, middle, output, 1, 1);
                cost.batch_norm(output);
            }
        }
        let last = space.stage_widths[STAGES - 1];
        cost.conv(side, last, space.final_expand_width, 1, 1);
        cost.batch_norm(space.final_expand_width);
        cost.linear(space.final_expand_width, space.feature_mix_width, false);
        cost.linear(space.feature_mix_width, space.classes, true);
        cost
    }
}

/// Batch-norm statistics `(mean, variance)` per normalisation, in forward order.
pub type NormStatistics = Vec<(Tensor<1>, Tensor<1>)>;

/// How the supernet normalises: with batch statistics (training), recording them
/// (calibration), or with given statistics (a calibrated subnet).
enum Norming<'a> {
    Batch,
    Record(&'a mut NormStatistics),
    Given(&'a mut std::slice::Iter<'a, (Tensor<1>, Tensor<1>)>),
}

/// Batch norm over the first `channels` of its learned scale and shift.
#[derive(Module, Debug)]
struct ElasticNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
}

impl ElasticNorm {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
        }
    }

    /// The batch norm of `x`, then `activation`: with batch statistics (fused on flex, see
    /// [`crate::norm_training`]), recording them, or with given ones.
    fn forward(&self, x: Tensor<4>, norming: &mut Norming, activation: Activation) -> Tensor<4> {
        let [_, channels, _, _] = x.dims();
        let gamma = self.gamma.val().narrow(0, 0, channels);
        let beta = self.beta.val().narrow(0, 0, channels);
        if let Norming::Given(stats) = norming {
            let (mean, var) = stats
                .next()
                .cloned()
                .expect("the statistics were recorded for this subnet");
            let shape = [1, channels, 1, 1];
            let y = (x - mean.reshape(shape)) / (var.reshape(shape) + BN_EPSILON).sqrt()
                * gamma.reshape(shape)
                + beta.reshape(shape);
            return activation.apply(y);
        }
        let (y, mean, var) = batch_norm_activation(x, gamma, beta, BN_EPSILON as f32, activation);
        if let Norming::Record(stats) = norming {
            stats.push((mean, var));
        }
        y
    }

    /// A standalone batch norm of the first `channels`, with running statistics `stats`.
    fn extract(&self, channels: usize, stats: &(Tensor<1>, Tensor<1>)) -> BatchNorm {
        let device = self.gamma.device();
        let mut norm = BatchNormConfig::new(channels)
            .with_epsilon(BN_EPSILON)
            .init(&device);
        norm.gamma = Param::from_tensor(self.gamma.val().narrow(0, 0, channels));
        norm.beta = Param::from_tensor(self.beta.val().narrow(0, 0, channels));
        norm.running_mean = burn::module::RunningState::new(stats.0.clone());
        norm.running_var = burn::module::RunningState::new(stats.1.clone());
        norm
    }
}

/// MobileNetV3's activation of a layer: hard-swish in the later stages, ReLU before.
fn activation(hard_swish_on: bool) -> Activation {
    if hard_swish_on {
        Activation::HardSwish
    } else {
        Activation::Relu
    }
}

fn weight(shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    let [_, fan_in, h, w] = shape;
    let bound = (6.0 / (fan_in * h * w) as f64).sqrt();
    Param::from_tensor(Tensor::random(
        shape,
        burn::tensor::Distribution::Uniform(-bound, bound),
        device,
    ))
}

/// One elastic MBConv layer: 1×1 expand → k×k depthwise → (squeeze-excite) → 1×1 project.
#[derive(Module, Debug)]
struct ElasticLayer {
    expand: Param<Tensor<4>>,
    expand_norm: ElasticNorm,
    /// `[middle, 1, 7, 7]`.
    depthwise: Param<Tensor<4>>,
    /// 25×25 (7 → 5) and 9×9 (5 → 3) kernel transforms, identity at first.
    transform_5: Param<Tensor<2>>,
    transform_3: Param<Tensor<2>>,
    depthwise_norm: ElasticNorm,
    squeeze: Option<(Linear, Linear)>,
    project: Param<Tensor<4>>,
    project_norm: ElasticNorm,
    stride: usize,
    hard_swish: bool,
    residual: bool,
}

impl ElasticLayer {
    fn new(
        input: usize,
        output: usize,
        stride: usize,
        squeeze_excite: bool,
        hard_swish: bool,
        device: &Device,
    ) -> Self {
        let middle = SpaceConfig::middle_width(input, 6);
        let squeeze = squeeze_excite.then(|| {
            let width = SpaceConfig::squeeze_width(middle);
            (
                LinearConfig::new(middle, width).init(device),
                LinearConfig::new(width, middle).init(device),
            )
        });
        Self {
            expand: weight([middle, input, 1, 1], device),
            expand_norm: ElasticNorm::new(middle, device),
            depthwise: weight([middle, 1, LARGEST_KERNEL, LARGEST_KERNEL], device),
            transform_5: Param::from_tensor(Tensor::eye(25, device)),
            transform_3: Param::from_tensor(Tensor::eye(9, device)),
            depthwise_norm: ElasticNorm::new(middle, device),
            squeeze,
            project: weight([output, middle, 1, 1], device),
            project_norm: ElasticNorm::new(output, device),
            stride,
            hard_swish,
            residual: stride == 1 && input == output,
        }
    }

    fn middle(&self, expand: usize) -> usize {
        let [_, input, _, _] = self.expand.dims();
        SpaceConfig::middle_width(input, expand)
    }

    /// The depthwise weights `[middle, 1, kernel, kernel]` for an active kernel size.
    fn depthwise_weight(&self, middle: usize, kernel: usize) -> Tensor<4> {
        let full = self.depthwise.val().narrow(0, 0, middle);
        let centre = |w: Tensor<4>, from: usize, to: usize| {
            let start = (from - to) / 2;
            w.narrow(2, start, to).narrow(3, start, to)
        };
        let transform = |w: Tensor<4>, matrix: Tensor<2>, side: usize| {
            w.reshape([middle, side * side])
                .matmul(matrix)
                .reshape([middle, 1, side, side])
        };
        if kernel == LARGEST_KERNEL {
            return full;
        }
        let five = transform(centre(full, 7, 5), self.transform_5.val(), 5);
        if kernel == 5 {
            return five;
        }
        transform(centre(five, 5, 3), self.transform_3.val(), 3)
    }

    fn squeeze_weights(&self, middle: usize) -> Option<[Tensor<2>; 2]> {
        let (reduce, expand) = self.squeeze.as_ref()?;
        let width = SpaceConfig::squeeze_width(middle);
        Some([
            reduce.weight.val().narrow(0, 0, middle).narrow(1, 0, width),
            expand.weight.val().narrow(0, 0, width).narrow(1, 0, middle),
        ])
    }

    fn squeeze_biases(&self, middle: usize) -> Option<[Tensor<1>; 2]> {
        let (reduce, expand) = self.squeeze.as_ref()?;
        let width = SpaceConfig::squeeze_width(middle);
        let bias = |l: &Linear| l.bias.as_ref().expect("squeeze-excite has biases").val();
        Some([
            bias(reduce).narrow(0, 0, width),
            bias(expand).narrow(0, 0, middle),
        ])
    }

    fn forward(
        &self,
        x: Tensor<4>,
        kernel: usize,
        expand: usize,
        norming: &mut Norming,
    ) -> Tensor<4> {
        let middle = self.middle(expand);
        let input = x.clone();
        let expand_weight = self.expand.val().narrow(0, 0, middle);
        let mut y = conv2d(
            x,
            expand_weight,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        y = self
            .expand_norm
            .forward(y, norming, activation(self.hard_swish));
        y = depthwise_conv2d(
            y,
            self.depthwise_weight(middle, kernel),
            self.stride,
            kernel / 2,
        );
        y = self
            .depthwise_norm
            .forward(y, norming, activation(self.hard_swish));
        if let (Some([reduce, expand]), Some([reduce_bias, expand_bias])) =
            (self.squeeze_weights(middle), self.squeeze_biases(middle))
        {
            let [n, c, _, _] = y.dims();
            let pooled = y.clone().mean_dim(2).mean_dim(3).reshape([n, c]);
            let width = reduce_bias.dims()[0];
            let hidden = relu(pooled.matmul(reduce) + reduce_bias.reshape([1, width]));
            let gate = hard_sigmoid(
                hidden.matmul(expand) + expand_bias.reshape([1, c]),
                1.0 / 6.0,
                0.5,
            );
            y = y * gate.reshape([n, c, 1, 1]);
        }
        let project_weight = self.project.val().narrow(1, 0, middle);
        y = conv2d(
            y,
            project_weight,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        y = self.project_norm.forward(y, norming, Activation::Identity);
        if self.residual { y + input } else { y }
    }
}

impl ElasticLayer {
    /// The layer at `kernel` and `expand` as standalone modules with the statistics `stats`
    /// (expand, depthwise, project, in forward order).
    fn extract(
        &self,
        kernel: usize,
        expand: usize,
        stats: &mut std::slice::Iter<(Tensor<1>, Tensor<1>)>,
    ) -> SubnetLayer {
        let middle = self.middle(expand);
        let [output, _, _, _] = self.project.dims();
        let [_, input, _, _] = self.expand.dims();
        let mut next = || stats.next().expect("one statistic per normalisation");
        let expand_norm = self.expand_norm.extract(middle, next());
        let depthwise_norm = self.depthwise_norm.extract(middle, next());
        let squeeze = match (self.squeeze_weights(middle), self.squeeze_biases(middle)) {
            (Some([reduce, expand]), Some([reduce_bias, expand_bias])) => Some((
                linear(reduce, Some(reduce_bias)),
                linear(expand, Some(expand_bias)),
            )),
            _ => None,
        };
        let project_norm = self.project_norm.extract(output, next());
        SubnetLayer {
            expand: fixed_conv(self.expand.val().narrow(0, 0, middle), 1, 1),
            expand_norm,
            depthwise: fixed_conv(self.depthwise_weight(middle, kernel), self.stride, middle),
            depthwise_norm,
            squeeze,
            project: fixed_conv(self.project.val().narrow(1, 0, middle), 1, 1),
            project_norm,
            hard_swish: self.hard_swish,
            residual: self.residual && input == output,
        }
    }

    /// Reorders the middle channels by importance (L1 norm of the projection weights that read
    /// each), most important first, permuting every tensor that touches them: the largest
    /// subnet computes the same function, and smaller expand ratios keep the important channels.
    fn sort_channels(&mut self) {
        let [_, middle, _, _] = self.project.dims();
        let importance = self.project.val().abs().sum_dim(0).reshape([middle]);
        let order = importance.argsort_descending(0);
        let pick4 = |w: Tensor<4>, dim: usize| w.select(dim, order.clone());
        self.expand = Param::from_tensor(pick4(self.expand.val(), 0));
        self.depthwise = Param::from_tensor(pick4(self.depthwise.val(), 0));
        self.project = Param::from_tensor(pick4(self.project.val(), 1));
        for norm in [&mut self.expand_norm, &mut self.depthwise_norm] {
            norm.gamma = Param::from_tensor(norm.gamma.val().select(0, order.clone()));
            norm.beta = Param::from_tensor(norm.beta.val().select(0, order.clone()));
        }
        if let Some((reduce, expand)) = &mut self.squeeze {
            reduce.weight = Param::from_tensor(reduce.weight.val().select(0, order.clone()));
            expand.weight = Param::from_tensor(expand.weight.val().select(1, order.clone()));
            if let Some(bias) = &mut expand.bias {
                *bias = Param::from_tensor(bias.val().select(0, order.clone()));
            }
        }
    }
}

/// A convolution with fixed weights `[out, in / groups, k, k]`, padding `k / 2`, no bias.
fn fixed_conv(weight: Tensor<4>, stride: usize, groups: usize) -> Conv2d {
    let [output, per_group, kernel, _] = weight.dims();
    let pad = kernel / 2;
    let mut conv = Conv2dConfig::new([per_group * groups, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(&weight.device());
    conv.weight = Param::from_tensor(weight);
    conv
}

/// A depthwise [`fixed_conv`] applied through [`depthwise_conv2d`] (its own CPU kernels).
fn depthwise(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    depthwise_conv2d(
        x,
        conv.weight.val(),
        conv.stride[0],
        conv.kernel_size[0] / 2,
    )
}

/// A linear layer with fixed weights `[in, out]` and bias.
fn linear(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Linear {
    let [input, output] = weight.dims();
    let mut layer = LinearConfig::new(input, output)
        .with_bias(bias.is_some())
        .init(&weight.device());
    layer.weight = Param::from_tensor(weight);
    layer.bias = bias.map(Param::from_tensor);
    layer
}

/// The elastic supernet of the search space.
#[derive(Module, Debug)]
pub struct Supernet {
    stem: Param<Tensor<4>>,
    stem_norm: ElasticNorm,
    first_depthwise: Param<Tensor<4>>,
    first_depthwise_norm: ElasticNorm,
    first_project: Param<Tensor<4>>,
    first_project_norm: ElasticNorm,
    /// `STAGES × MAX_DEPTH` layers, stage-major.
    layers: Vec<ElasticLayer>,
    final_expand: Param<Tensor<4>>,
    final_expand_norm: ElasticNorm,
    feature_mix: Linear,
    classifier: Linear,
    stem_stride: usize,
}

impl Supernet {
    /// A randomly initialised supernet of `space` (which must validate).
    pub fn new(space: &SpaceConfig, device: &Device) -> Result<Self> {
        space.validate()?;
        let mut layers = Vec::with_capacity(STAGES * MAX_DEPTH);
        for stage in 0..STAGES {
            for layer in 0..MAX_DEPTH {
                layers.push(ElasticLayer::new(
                    space.layer_input(stage, layer),
                    space.stage_widths[stage],
                    space.layer_stride(stage, layer),
                    space.stage_squeeze_excite[stage],
                    space.stage_hard_swish[stage],
                    device,
                ));
            }
        }
        let stem = space.stem_width;
        Ok(Self {
            stem: weight([stem, 3, 3, 3], device),
            stem_norm: ElasticNorm::new(stem, device),
            first_depthwise: weight([stem, 1, 3, 3], device),
            first_depthwise_norm: ElasticNorm::new(stem, device),
            first_project: weight([space.first_block_width, stem, 1, 1], device),
            first_project_norm: ElasticNorm::new(space.first_block_width, device),
            layers,
            final_expand: weight(
                [
                    space.final_expand_width,
                    space.stage_widths[STAGES - 1],
                    1,
                    1,
                ],
                device,
            ),
            final_expand_norm: ElasticNorm::new(space.final_expand_width, device),
            feature_mix: LinearConfig::new(space.final_expand_width, space.feature_mix_width)
                .with_bias(false)
                .init(device),
            classifier: LinearConfig::new(space.feature_mix_width, space.classes).init(device),
            stem_stride: space.stem_stride,
        })
    }

    fn run(&self, images: Tensor<4>, topology: &Topology, norming: &mut Norming) -> Tensor<2> {
        let stem_width = self.stem.dims()[0];
        let mut x = conv2d(
            images,
            self.stem.val(),
            None,
            ConvOptions::new([self.stem_stride; 2], [1, 1], [1, 1], 1),
        );
        x = self.stem_norm.forward(x, norming, Activation::HardSwish);
        let input = x.clone();
        let mut y = depthwise_conv2d(x, self.first_depthwise.val(), 1, 1);
        y = self
            .first_depthwise_norm
            .forward(y, norming, Activation::Relu);
        y = conv2d(
            y,
            self.first_project.val(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        y = self
            .first_project_norm
            .forward(y, norming, Activation::Identity);
        x = if self.first_project.dims()[0] == stem_width {
            y + input
        } else {
            y
        };
        for stage in 0..STAGES {
            for layer in 0..topology.depth(stage) {
                x = self.layers[stage * MAX_DEPTH + layer].forward(
                    x,
                    topology.kernel(stage, layer),
                    topology.expand(stage, layer),
                    norming,
                );
            }
        }
        x = conv2d(
            x,
            self.final_expand.val(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        x = self
            .final_expand_norm
            .forward(x, norming, Activation::HardSwish);
        let [n, c, _, _] = x.dims();
        let pooled = x.mean_dim(2).mean_dim(3).reshape([n, c]);
        burn::tensor::activation::hard_swish(self.feature_mix.forward(pooled))
    }

    /// The functional features (penultimate layer) of the subnet `topology`, normalising with
    /// batch statistics (training).
    pub fn features(&self, images: Tensor<4>, topology: &Topology) -> Tensor<2> {
        self.run(images, topology, &mut Norming::Batch)
    }

    /// Logits of the subnet `topology`, normalising with batch statistics (training).
    pub fn forward(&self, images: Tensor<4>, topology: &Topology) -> Tensor<2> {
        self.classifier.forward(self.features(images, topology))
    }

    /// Logits of the subnet `topology` with the recalibrated statistics `stats`.
    pub fn forward_calibrated(
        &self,
        images: Tensor<4>,
        topology: &Topology,
        stats: &NormStatistics,
    ) -> Tensor<2> {
        let mut iter = stats.iter();
        let features = self.run(images, topology, &mut Norming::Given(&mut iter));
        self.classifier.forward(features)
    }

    /// The subnet `topology` as a standalone network, with its recalibrated statistics `stats`
    /// (from [`Self::calibrate`] for the same topology).
    pub fn extract(&self, topology: &Topology, stats: &NormStatistics) -> Result<Subnet> {
        let expected = 4 + 3 * (0..STAGES).map(|s| topology.depth(s)).sum::<usize>();
        if stats.len() != expected {
            return Err(TansError::dims(
                "subnet batch-norm statistics",
                expected,
                stats.len(),
            ));
        }
        let mut stats = stats.iter();
        let mut next = || stats.next().expect("counted above");
        let stem_width = self.stem.dims()[0];
        let first_width = self.first_project.dims()[0];
        let stem_norm = self.stem_norm.extract(stem_width, next());
        let first_depthwise_norm = self.first_depthwise_norm.extract(stem_width, next());
        let first_project_norm = self.first_project_norm.extract(first_width, next());
        let mut layers = Vec::new();
        for stage in 0..STAGES {
            for layer in 0..topology.depth(stage) {
                layers.push(self.layers[stage * MAX_DEPTH + layer].extract(
                    topology.kernel(stage, layer),
                    topology.expand(stage, layer),
                    &mut stats,
                ));
            }
        }
        let final_width = self.final_expand.dims()[0];
        let final_expand_norm = self
            .final_expand_norm
            .extract(final_width, stats.next().expect("counted above"));
        Ok(Subnet {
            stem: fixed_conv(self.stem.val(), self.stem_stride, 1),
            stem_norm,
            first_depthwise: fixed_conv(self.first_depthwise.val(), 1, stem_width),
            first_depthwise_norm,
            first_project: fixed_conv(self.first_project.val(), 1, 1),
            first_project_norm,
            first_residual: first_width == stem_width,
            layers,
            final_expand: fixed_conv(self.final_expand.val(), 1, 1),
            final_expand_norm,
            feature_mix: linear(self.feature_mix.weight.val(), None),
            classifier: linear(
                self.classifier.weight.val(),
                self.classifier.bias.as_ref().map(|b| b.val()),
            ),
        })
    }

    /// The same supernet with a new, randomly initialised classifier for `classes` classes
    /// (fine-tuning on a task).
    pub fn with_classifier(mut self, classes: usize, device: &Device) -> Self {
        let [features, _] = self.classifier.weight.dims();
        self.classifier = LinearConfig::new(features, classes).init(device);
        self
    }

    /// Orders every layer's middle channels by importance (see OFA's progressive shrinking:
    /// done before the expand ratios start to shrink).
    pub fn sort_channels(mut self) -> Self {
        for layer in &mut self.layers {
            layer.sort_channels();
        }
        self
    }

    /// Recalibrates batch norm for the subnet `topology`: the statistics of each normalisation
    /// averaged over `batches` (OFA's exact per-subnet recalibration).
    pub fn calibrate(&self, topology: &Topology, batches: &[Tensor<4>]) -> Result<NormStatistics> {
        if batches.is_empty() {
            return Err(TansError::Empty {
                what: "calibration batches".into(),
            });
        }
        let mut sums: NormStatistics = Vec::new();
        for batch in batches {
            let mut stats = Vec::new();
            self.run(batch.clone(), topology, &mut Norming::Record(&mut stats));
            if sums.is_empty() {
                sums = stats;
            } else {
                for ((mean, var), (m, v)) in sums.iter_mut().zip(stats) {
                    *mean = mean.clone() + m;
                    *var = var.clone() + v;
                }
            }
        }
        let count = batches.len() as f64;
        Ok(sums
            .into_iter()
            .map(|(mean, var)| (mean / count, var / count))
            .collect())
    }
}

/// One MBConv layer of a standalone subnet.
#[derive(Module, Debug)]
struct SubnetLayer {
    expand: Conv2d,
    expand_norm: BatchNorm,
    depthwise: Conv2d,
    depthwise_norm: BatchNorm,
    squeeze: Option<(Linear, Linear)>,
    project: Conv2d,
    project_norm: BatchNorm,
    hard_swish: bool,
    residual: bool,
}

impl SubnetLayer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let input = x.clone();
        let mut y =
            activation(self.hard_swish).apply(self.expand_norm.forward(self.expand.forward(x)));
        y = activation(self.hard_swish)
            .apply(self.depthwise_norm.forward(depthwise(&self.depthwise, y)));
        if let Some((reduce, expand)) = &self.squeeze {
            let [n, c, _, _] = y.dims();
            let pooled = y.clone().mean_dim(2).mean_dim(3).reshape([n, c]);
            let gate = hard_sigmoid(expand.forward(relu(reduce.forward(pooled))), 1.0 / 6.0, 0.5);
            y = y * gate.reshape([n, c, 1, 1]);
        }
        y = self.project_norm.forward(self.project.forward(y));
        if self.residual { y + input } else { y }
    }
}

/// A subnet cut out of a [`Supernet`]: a plain MobileNetV3-style network with recalibrated
/// batch norm, which is what the zoo stores, publishes and fine-tunes.
#[derive(Module, Debug)]
pub struct Subnet {
    stem: Conv2d,
    stem_norm: BatchNorm,
    first_depthwise: Conv2d,
    first_depthwise_norm: BatchNorm,
    first_project: Conv2d,
    first_project_norm: BatchNorm,
    first_residual: bool,
    layers: Vec<SubnetLayer>,
    final_expand: Conv2d,
    final_expand_norm: BatchNorm,
    feature_mix: Linear,
    classifier: Linear,
}

impl Subnet {
    /// The penultimate features (the functional embedding's source), `[n, feature_mix_width]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = hard_swish(self.stem_norm.forward(self.stem.forward(images)));
        let input = x.clone();
        let mut y = relu(
            self.first_depthwise_norm
                .forward(depthwise(&self.first_depthwise, x)),
        );
        y = self
            .first_project_norm
            .forward(self.first_project.forward(y));
        x = if self.first_residual { y + input } else { y };
        for layer in &self.layers {
            x = layer.forward(x);
        }
        x = hard_swish(self.final_expand_norm.forward(self.final_expand.forward(x)));
        let [n, c, _, _] = x.dims();
        hard_swish(
            self.feature_mix
                .forward(x.mean_dim(2).mean_dim(3).reshape([n, c])),
        )
    }

    /// Class logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.features(images))
    }

    /// The same network with a new, randomly initialised classifier for `classes` classes
    /// (fine-tuning on another task).
    pub fn with_classifier(mut self, classes: usize, device: &Device) -> Self {
        let [features, _] = self.classifier.weight.dims();
        self.classifier = LinearConfig::new(features, classes).init(device);
        self
    }

    /// How many weights the network learns: burn's count less the batch-norm running
    /// statistics (PyTorch's `parameters()`, the count [`Cost`] gives).
    pub fn parameter_count(&self) -> usize {
        let norms = [
            &self.stem_norm,
            &self.first_depthwise_norm,
            &self.first_project_norm,
            &self.final_expand_norm,
        ]
        .into_iter()
        .chain(
            self.layers
                .iter()
                .flat_map(|l| [&l.expand_norm, &l.depthwise_norm, &l.project_norm]),
        );
        let running: usize = norms.map(|n| 2 * n.gamma.dims()[0]).sum();
        self.num_params() - running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TOPOLOGY_LEN;

    fn uniform(kernel: u8, expand: u8, depth: u8) -> Topology {
        Topology::uniform(kernel, expand, depth).unwrap()
    }

    #[test]
    fn make_divisible_matches_ofa() {
        // OFA's _make_divisible(v, 8) for these values.
        for (value, expected) in [
            (3, 8),
            (12, 16),
            (16, 16),
            (20, 24),
            (72, 72),
            (100, 104),
            (60, 64),
        ] {
            assert_eq!(make_divisible(value), expected, "{value}");
        }
    }

    /// The cost of a small space and subnet, counted by hand layer by layer.
    #[test]
    fn cost_matches_a_hand_count() {
        let space = SpaceConfig {
            input_side: 8,
            stem_width: 8,
            stem_stride: 1,
            first_block_width: 8,
            stage_widths: [8, 16, 16, 16, 16],
            stage_strides: [1, 2, 1, 1, 2],
            stage_squeeze_excite: [true, false, false, false, false],
            stage_hard_swish: [false; STAGES],
            final_expand_width: 32,
            feature_mix_width: 16,
            classes: 4,
        };
        let mut kernels = [3u8; STAGES * MAX_DEPTH];
        kernels[0] = 5;
        let topology = Topology::new(kernels, [3; STAGES * MAX_DEPTH], [2; STAGES]).unwrap();
        // Stem 3→8 3×3 on 8×8: 216 weights + 16 bn; first block dw 72 + 16, project 64 + 16.
        let mut params = 216 + 16 + 72 + 16 + 64 + 16;
        let mut flops = (216 + 72 + 64) * 64;
        // Stage 0, two layers 8→8 (middle make_divisible(24) = 24), side 8, SE width 8:
        //   expand 192 + 48, dw (k5: 600, k3: 216) + 48, SE 24·8+8 + 8·24+24 = 416, project 192 + 16.
        params += (192 + 48 + 600 + 48 + 416 + 192 + 16) + (192 + 48 + 216 + 48 + 416 + 192 + 16);
        flops += (192 + 600 + 192) * 64 + 384 + (192 + 216 + 192) * 64 + 384;
        // Stage 1: layer 0 8→16 stride 2 (middle 24): expand at 8×8, the rest at 4×4;
        //   layer 1 16→16 (middle 48).
        params += 192 + 48 + 216 + 48 + 384 + 32;
        flops += 192 * 64 + (216 + 384) * 16;
        params += 768 + 96 + 432 + 96 + 768 + 32;
        flops += (768 + 432 + 768) * 16;
        // Stages 2 and 3: two 16→16 layers each at 4×4.
        params += 4 * (768 + 96 + 432 + 96 + 768 + 32);
        flops += 4 * (768 + 432 + 768) * 16;
        // Stage 4: layer 0 stride 2 (expand at 4×4, rest at 2×2), layer 1 at 2×2.
        params += 2 * (768 + 96 + 432 + 96 + 768 + 32);
        flops += 768 * 16 + (432 + 768) * 4 + (768 + 432 + 768) * 4;
        // Final expand 16→32 at 2×2 + bn, feature mix 32→16, classifier 16→4 + bias.
        params += 512 + 64 + 512 + 64 + 4;
        flops += 512 * 4 + 512 + 64;
        assert_eq!(
            Cost::of(&space, &topology),
            Cost {
                params,
                flops: flops as u64
            }
        );
    }

    #[test]
    fn impossible_spaces_are_refused_by_field() {
        type Breakage = fn(&mut SpaceConfig);
        let cases: [(&str, Breakage); 4] = [
            ("stage_widths", |s| s.stage_widths[2] = 0),
            ("stage_strides", |s| s.stage_strides[1] = 3),
            ("classes", |s| s.classes = 1),
            ("feature_mix_width", |s| s.feature_mix_width = 0),
        ];
        for (field, break_it) in cases {
            let mut space = SpaceConfig::default();
            break_it(&mut space);
            let error = space.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        assert_eq!(TOPOLOGY_LEN, 45);
    }

    fn small_space() -> SpaceConfig {
        SpaceConfig {
            input_side: 16,
            stem_width: 8,
            first_block_width: 8,
            stage_widths: [8, 16, 16, 24, 24],
            final_expand_width: 48,
            feature_mix_width: 32,
            classes: 5,
            ..SpaceConfig::default()
        }
    }

    fn images(n: usize, side: usize, seed: usize) -> Tensor<4> {
        let values: Vec<f32> = (0..n * 3 * side * side)
            .map(|i| (((i + seed) * 7919 % 1013) as f32 / 1013.0 - 0.5) * 4.0)
            .collect();
        Tensor::from_data(
            burn::tensor::TensorData::new(values, [n, 3, side, side]),
            &Device::flex(),
        )
    }

    fn max_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn mixed_topology() -> Topology {
        let kernels = [3, 5, 7, 3, 7, 5, 3, 5, 5, 3, 7, 7, 3, 3, 5, 7, 7, 5, 3, 3];
        let expands = [6, 3, 4, 3, 4, 6, 3, 6, 3, 3, 4, 6, 6, 4, 3, 4, 3, 6, 4, 6];
        Topology::new(kernels, expands, [2, 4, 3, 2, 3]).unwrap()
    }

    /// The extracted subnet computes what the supernet computes with that subnet active, and
    /// has exactly the weights the cost model counts.
    #[test]
    fn an_extracted_subnet_equals_the_supernet_running_it() {
        let device = Device::flex();
        let space = small_space();
        let supernet = Supernet::new(&space, &device).unwrap();
        for topology in [mixed_topology(), uniform(3, 3, 2), uniform(7, 6, 4)] {
            let calibration = [images(6, 16, 1), images(6, 16, 2)];
            let stats = supernet.calibrate(&topology, &calibration).unwrap();
            let subnet = supernet.extract(&topology, &stats).unwrap();
            let x = images(3, 16, 3);
            let expected = supernet.forward_calibrated(x.clone(), &topology, &stats);
            let actual = subnet.forward(x);
            let diff = max_diff(expected, actual);
            assert!(diff < 1e-4, "{topology:?}: {diff}");
            assert_eq!(
                subnet.parameter_count() as u64,
                Cost::of(&space, &topology).params,
                "{topology:?}"
            );
        }
    }

    /// Sorting channels by importance permutes them consistently: the largest subnet's
    /// function is unchanged.
    #[test]
    fn sorting_channels_keeps_the_largest_subnet() {
        let device = Device::flex();
        let supernet = Supernet::new(&small_space(), &device).unwrap();
        let largest = uniform(7, 6, 4);
        let x = images(4, 16, 5);
        let before = supernet.forward(x.clone(), &largest);
        let sorted = supernet.sort_channels();
        let after = sorted.forward(x, &largest);
        assert!(max_diff(before, after) < 1e-4);
    }

    #[test]
    fn statistics_for_another_subnet_are_refused() {
        let device = Device::flex();
        let supernet = Supernet::new(&small_space(), &device).unwrap();
        let stats = supernet
            .calibrate(&uniform(3, 3, 2), &[images(2, 16, 0)])
            .unwrap();
        let error = supernet.extract(&uniform(3, 3, 3), &stats).unwrap_err();
        assert!(error.to_string().contains("statistics"), "{error}");
        assert!(supernet.calibrate(&uniform(3, 3, 2), &[]).is_err());
    }

    /// Gradients reach every part: a few Adam steps on a two-colour task drive the loss of
    /// the largest and the smallest subnet down.
    #[test]
    fn the_supernet_learns_a_separable_task() {
        use burn::module::Module;
        use burn::nn::loss::CrossEntropyLossConfig;
        use burn::optim::{AdamConfig, GradientsParams};
        let device = Device::flex().autodiff();
        let mut supernet = Supernet::new(&small_space(), &Device::flex())
            .unwrap()
            .to_device(&device)
            .train();
        let n = 16;
        let values: Vec<f32> = (0..n * 3 * 16 * 16)
            .map(|i| {
                let (image, channel) = (i / (3 * 256), (i / 256) % 3);
                let noise = ((i * 7919) % 101) as f32 / 101.0 - 0.5;
                if (image % 2 == 0) == (channel == 0) {
                    1.0 + noise
                } else {
                    -1.0 + noise
                }
            })
            .collect();
        let images = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(values, [n, 3, 16, 16]),
            &device,
        );
        let labels = Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new((0..n as i64).map(|i| i % 2).collect::<Vec<_>>(), [n]),
            &device,
        );
        let loss = CrossEntropyLossConfig::new().init(&device);
        let mut optimiser = AdamConfig::new().init();
        let topologies = [uniform(7, 6, 4), uniform(3, 3, 2)];
        let total = |net: &Supernet| {
            topologies
                .iter()
                .map(|t| loss.forward(net.forward(images.clone(), t), labels.clone()))
                .reduce(|a, b| a + b)
                .unwrap()
        };
        let first = total(&supernet).into_scalar::<f32>();
        for _ in 0..30 {
            let grads = GradientsParams::from_grads(total(&supernet).backward(), &supernet);
            supernet = optimiser.step(1e-2, supernet, grads);
        }
        let last = total(&supernet).into_scalar::<f32>();
        assert!(last < 0.3 * first, "loss {first} → {last}");
    }

    #[test]
    fn elastic_kernels_start_as_centre_crops() {
        let device = Device::flex();
        let layer = ElasticLayer::new(8, 8, 1, false, false, &device);
        let full = layer.depthwise.val();
        let five = layer.depthwise_weight(24, 5);
        let three = layer.depthwise_weight(24, 3);
        let crop = |w: Tensor<4>, start: usize, side: usize| {
            w.narrow(0, 0, 24)
                .narrow(2, start, side)
                .narrow(3, start, side)
        };
        assert_eq!(five.dims(), [24, 1, 5, 5]);
        assert_eq!(three.dims(), [24, 1, 3, 3]);
        let diff = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
        assert!(diff(five, crop(full.clone(), 1, 5)) < 1e-6);
        assert!(diff(three, crop(full, 2, 3)) < 1e-6);
    }
}
