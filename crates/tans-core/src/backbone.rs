//! The frozen image backbone: EfficientNet-Lite0 (ImageNet-1k), whose 1280-d pooled features are
//! the per-image input of the query encoder. The same module runs in the trainer (flex) and in
//! the browser (WebGPU, or flex-in-wasm).
//!
//! Lite0 is EfficientNet-B0 without squeeze-excite, with ReLU6 and with a fixed stem and head
//! (Liu et al., TF Lite models). Convolutions use TF "same" padding (the extra row and column go
//! bottom and right), which PyTorch ports apply with explicit zero padding; burn's
//! [`PaddingConfig2d::Same`] computes the same pads for every input size. Field names follow
//! the PyTorch state dict (`_blocks.3._expand_conv.weight` ↔ `blocks.3.expand_conv.weight`), so
//! the published `.pth` imports with a plain key rename.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu6;
use burn::tensor::{Device, Tensor, TensorData};

use crate::depthwise::Depthwise;

/// Width of the pooled features.
pub const FEATURE_DIM: usize = 1280;
/// ImageNet-1k classes of the classifier.
pub const CLASSES: usize = 1000;
/// Input normalisation of the Lite models: `(x / 255 - MEAN) / STD` per channel.
pub const MEAN: f32 = 0.498;
pub const STD: f32 = 0.502;
const BN_EPSILON: f64 = 1e-3;
const BN_MOMENTUM: f64 = 0.01;

/// One stage of MBConv blocks: (repeats, kernel, stride of the first block, expand ratio, output
/// channels). Lite0 is width and depth 1.0, so these are B0's stages.
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];
const STEM_CHANNELS: usize = 32;

fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPSILON)
        .with_momentum(BN_MOMENTUM)
        .init(device)
}

fn conv(
    [input, output]: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(device)
}

/// A convolution, then its batch norm unless that was folded into it.
fn conv_bn(conv: &Conv2d, bn: &Option<BatchNorm>, x: Tensor<4>) -> Tensor<4> {
    let x = conv.forward(x);
    match bn {
        Some(bn) => bn.forward(x),
        None => x,
    }
}

/// `conv` with the inference-time batch norm `bn` folded into its weights and bias (which
/// leaves `bn` empty): `γ (W x + b − μ) / √(σ² + ε) + β` as one convolution.
fn fold(mut conv: Conv2d, bn: &mut Option<BatchNorm>) -> Conv2d {
    let Some(norm) = bn.take() else {
        return conv;
    };
    let scale = norm.gamma.val() / (norm.running_var.value() + norm.epsilon).sqrt();
    let shift = match &conv.bias {
        Some(bias) => bias.val() - norm.running_mean.value(),
        None => norm.running_mean.value().neg(),
    };
    let bias = shift * scale.clone() + norm.beta.val();
    let [out] = scale.dims();
    conv.weight = conv.weight.map(|w| w * scale.reshape([out, 1, 1, 1]));
    conv.bias = Some(Param::from_tensor(bias));
    conv
}

/// Inverted residual block: 1×1 expand (absent when the ratio is 1) → depthwise k×k → 1×1
/// project, batch norm after each, ReLU6 after the first two, and a skip connection when the
/// shape is kept.
#[derive(Module, Debug)]
pub struct MbConv {
    expand_conv: Option<Conv2d>,
    bn0: Option<BatchNorm>,
    depthwise_conv: Conv2d,
    bn1: Option<BatchNorm>,
    project_conv: Conv2d,
    bn2: Option<BatchNorm>,
    residual: bool,
}

impl MbConv {
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        expand: usize,
        device: &Device,
    ) -> Self {
        let mid = input * expand;
        let (expand_conv, bn0) = if expand == 1 {
            (None, None)
        } else {
            (
                Some(conv([input, mid], 1, 1, 1, device)),
                Some(batch_norm(mid, device)),
            )
        };
        Self {
            expand_conv,
            bn0,
            depthwise_conv: conv([mid, mid], kernel, stride, mid, device),
            bn1: Some(batch_norm(mid, device)),
            project_conv: conv([mid, output], 1, 1, 1, device),
            bn2: Some(batch_norm(output, device)),
            residual: stride == 1 && input == output,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = input.clone();
        if let Some(conv) = &self.expand_conv {
            x = relu6(conv_bn(conv, &self.bn0, x));
        }
        x = relu6(conv_bn(&self.depthwise_conv, &self.bn1, x));
        x = conv_bn(&self.project_conv, &self.bn2, x);
        if self.residual { x + input } else { x }
    }

    fn fold_batch_norm(mut self) -> Self {
        if let Some(conv) = self.expand_conv.take() {
            self.expand_conv = Some(fold(conv, &mut self.bn0));
        }
        self.depthwise_conv = fold(self.depthwise_conv, &mut self.bn1);
        self.project_conv = fold(self.project_conv, &mut self.bn2);
        self
    }

    /// The folded block's weights for the channels-last CPU path.
    fn channels_last(&self) -> ChannelsLastBlock {
        let conv = &self.depthwise_conv;
        let [_, _, kernel, _] = conv.weight.dims();
        let bias = conv.bias.as_ref().expect("folded convolutions have a bias");
        ChannelsLastBlock {
            expand: self.expand_conv.as_ref().map(Pointwise::new),
            depthwise: Depthwise::new(
                &read_f32(conv.weight.val()),
                &read_f32(bias.val()),
                kernel,
                conv.stride[0],
            ),
            project: Pointwise::new(&self.project_conv),
            residual: self.residual,
        }
    }
}

/// The values of a float tensor on a CPU device.
fn read_f32<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("the backbone's tensors are f32")
}

/// A folded 1×1 convolution as a matrix product over channels-last pixels `[pixels, in]`.
#[derive(Debug, Clone)]
struct Pointwise {
    /// `[in, out]`.
    weight: Tensor<2>,
    /// `[1, out]`.
    bias: Tensor<2>,
}

impl Pointwise {
    fn new(conv: &Conv2d) -> Self {
        let [output, input, _, _] = conv.weight.dims();
        let device = conv.weight.device();
        let weight = conv.weight.val().reshape([output, input]).transpose();
        let bias = conv.bias.as_ref().expect("folded convolutions have a bias");
        Self {
            weight: Tensor::from_data(weight.into_data(), &device),
            bias: bias.val().reshape([1, output]),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.clone()) + self.bias.clone()
    }
}

/// An MBConv block on the channels-last CPU path (see [`EfficientNetLite0::for_cpu`]).
#[derive(Debug, Clone)]
struct ChannelsLastBlock {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

impl ChannelsLastBlock {
    /// `x`: `[n · h · w, channels]` for `pixels = [n, h, w]`; returns the output and its pixels.
    fn forward(&self, x: Tensor<2>, pixels: [usize; 3]) -> (Tensor<2>, [usize; 3]) {
        let device = x.device();
        let input = x.clone();
        let expanded = match &self.expand {
            Some(expand) => expand.forward(x),
            None => x,
        };
        let [_, channels] = expanded.dims();
        let data = expanded.into_data();
        let values = data
            .as_slice::<f32>()
            .expect("the backbone's tensors are f32");
        let out_pixels = self.depthwise.output_pixels(pixels);
        let [n, h, w] = out_pixels;
        let mixed = Tensor::from_data(
            TensorData::new(
                self.depthwise.forward(values, pixels),
                [n * h * w, channels],
            ),
            &device,
        );
        let projected = self.project.forward(mixed);
        let output = if self.residual {
            projected + input
        } else {
            projected
        };
        (output, out_pixels)
    }
}

/// EfficientNet-Lite0 with its ImageNet classifier.
#[derive(Module, Debug)]
pub struct EfficientNetLite0 {
    stem_conv: Conv2d,
    stem_bn: Option<BatchNorm>,
    blocks: Vec<MbConv>,
    head_conv: Conv2d,
    head_bn: Option<BatchNorm>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
    /// The blocks and head laid out for the channels-last CPU path, once prepared.
    #[module(skip)]
    channels_last: Option<(Vec<ChannelsLastBlock>, Pointwise)>,
}

impl EfficientNetLite0 {
    /// A randomly initialised network (load weights with [`crate::weights`]).
    pub fn init(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut channels = STEM_CHANNELS;
        for (repeats, kernel, stride, expand, output) in STAGES {
            for r in 0..repeats {
                let stride = if r == 0 { stride } else { 1 };
                blocks.push(MbConv::new(
                    channels, output, kernel, stride, expand, device,
                ));
                channels = output;
            }
        }
        Self {
            stem_conv: conv([3, STEM_CHANNELS], 3, 2, 1, device),
            stem_bn: Some(batch_norm(STEM_CHANNELS, device)),
            blocks,
            head_conv: conv([channels, FEATURE_DIM], 1, 1, 1, device),
            head_bn: Some(batch_norm(FEATURE_DIM, device)),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(FEATURE_DIM, CLASSES).init(device),
            channels_last: None,
        }
    }

    /// Pooled features `[n, 1280]` of normalised images `[n, 3, h, w]` (any `h, w` ≥ 1).
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        if let Some((blocks, head)) = &self.channels_last {
            return self.features_channels_last(blocks, head, images);
        }
        let mut x = relu6(conv_bn(&self.stem_conv, &self.stem_bn, images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        x = relu6(conv_bn(&self.head_conv, &self.head_bn, x));
        self.pool.forward(x).flatten(1, 3)
    }

    fn features_channels_last(
        &self,
        blocks: &[ChannelsLastBlock],
        head: &Pointwise,
        images: Tensor<4>,
    ) -> Tensor<2> {
        let x = relu6(conv_bn(&self.stem_conv, &self.stem_bn, images));
        let [n, channels, h, w] = x.dims();
        let mut x = x.permute([0, 2, 3, 1]).reshape([n * h * w, channels]);
        let mut pixels = [n, h, w];
        for block in blocks {
            (x, pixels) = block.forward(x, pixels);
        }
        let [n, h, w] = pixels;
        relu6(head.forward(x))
            .reshape([n, h * w, FEATURE_DIM])
            .mean_dim(1)
            .reshape([n, FEATURE_DIM])
    }

    /// The same function with every batch norm folded into the convolution before it, for
    /// inference: fewer passes over the activations. Weights load only into the unfolded form.
    pub fn fold_batch_norm(mut self) -> Self {
        self.stem_conv = fold(self.stem_conv, &mut self.stem_bn);
        self.head_conv = fold(self.head_conv, &mut self.head_bn);
        self.blocks = self
            .blocks
            .into_iter()
            .map(MbConv::fold_batch_norm)
            .collect();
        self
    }

    /// The folded network (see [`Self::fold_batch_norm`]) computing its features channels-last
    /// for a CPU device (burn flex, native or wasm): 1×1 convolutions as one matrix product over
    /// all pixels of the batch, depthwise convolutions by [`crate::depthwise`]. burn's NCHW path
    /// runs a small matrix product per image and a per-plane depthwise loop, which dominate at
    /// the backbone's small input sides. Same function; the classifier is unchanged.
    pub fn for_cpu(self) -> Self {
        let mut folded = self.fold_batch_norm();
        let blocks = folded.blocks.iter().map(MbConv::channels_last).collect();
        folded.channels_last = Some((blocks, Pointwise::new(&folded.head_conv)));
        folded
    }

    /// The fastest exact form for inference on `device`: folded, and channels-last on burn flex
    /// (native or wasm).
    pub fn for_inference(self, device: &Device) -> Self {
        if *device == Device::flex() {
            self.for_cpu()
        } else {
            self.fold_batch_norm()
        }
    }

    /// ImageNet logits `[n, 1000]` from pooled features (dropout is off: inference only).
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }

    /// The network with the weights of a burnpack record (as `tans backbone import` writes).
    pub fn from_bytes(bytes: &[u8], device: &Device) -> crate::Result<Self> {
        crate::weights::load(Self::init(device), bytes, "backbone weights")
    }

    pub fn to_bytes(&self) -> crate::Result<Vec<u8>> {
        crate::weights::to_bytes(self, "backbone weights")
    }

    /// How many weights the network holds.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }
}

/// Largest backbone input side accepted.
pub const MAX_SIDE: usize = 512;
/// Images encoded per forward pass, bounding memory on any device.
const BATCH: usize = 16;

/// The backbone on one device, fed encoded images or normalised values. Reads are async, so the
/// same code serves WebGPU in the browser and the CPU everywhere.
#[derive(Debug)]
pub struct ImageEncoder {
    network: EfficientNetLite0,
    device: Device,
}

impl ImageEncoder {
    /// The backbone with the weights of a burnpack record, on `device`.
    pub fn from_bytes(weights: &[u8], device: &Device) -> crate::Result<Self> {
        Ok(Self {
            network: EfficientNetLite0::from_bytes(weights, device)?.for_inference(device),
            device: device.clone(),
        })
    }

    fn check_side(side: usize) -> crate::Result<()> {
        if (1..=MAX_SIDE).contains(&side) {
            Ok(())
        } else {
            Err(crate::TansError::invalid(
                "backbone input side",
                format!("{side} is outside 1..={MAX_SIDE}"),
            ))
        }
    }

    /// Features, `n × 1280` row-major, of `n` normalised inputs `[n, 3, side, side]`.
    pub async fn features(
        &self,
        values: Vec<f32>,
        n: usize,
        side: usize,
    ) -> crate::Result<Vec<f32>> {
        Self::check_side(side)?;
        let expected = n * 3 * side * side;
        if n == 0 || values.len() != expected {
            return Err(crate::TansError::invalid(
                "backbone input",
                format!(
                    "{} values for {n} images of 3 × {side} × {side}",
                    values.len()
                ),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(crate::TansError::invalid(
                "backbone input",
                format!("value {i} is not finite"),
            ));
        }
        let mut out = Vec::with_capacity(n * FEATURE_DIM);
        let per_image = 3 * side * side;
        for chunk in values.chunks(per_image * BATCH) {
            let images = Tensor::from_data(
                TensorData::new(chunk.to_vec(), [chunk.len() / per_image, 3, side, side]),
                &self.device,
            );
            out.extend(
                crate::search::read(self.network.features(images), "backbone features").await?,
            );
        }
        Ok(out)
    }

    /// Features, `n × 1280` row-major, of encoded images (PNG, JPEG or TGA of any size and
    /// mode), each given with a name that errors use.
    pub async fn embed(
        &self,
        images: &[(String, Vec<u8>)],
        side: usize,
    ) -> crate::Result<Vec<f32>> {
        Self::check_side(side)?;
        if images.is_empty() {
            return Err(crate::TansError::invalid("images", "none were given"));
        }
        let mut values = Vec::with_capacity(images.len() * 3 * side * side);
        for (name, bytes) in images {
            let image = crate::preprocess::decode(bytes, name)?;
            values.extend(crate::preprocess::to_input(&image, side as u32));
        }
        self.features(values, images.len(), side).await
    }
}

/// The PyTorch reference outputs the parity tests compare against (`scripts/backbone-goldens.sh`
/// writes them), and the fixed inputs they were computed from.
pub mod reference {
    use serde::Deserialize;

    /// The committed goldens (`crates/tans-core/tests/fixtures/backbone-goldens.json`; tests
    /// include the file, so it is not shipped in the library).
    #[derive(Debug, Deserialize)]
    pub struct Goldens {
        pub torch: String,
        pub cases: Vec<Case>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Case {
        pub batch: usize,
        pub side: usize,
        /// `[batch][1280]` pooled features.
        pub features: Vec<Vec<f32>>,
        /// `[batch][1000]` ImageNet logits.
        pub logits: Vec<Vec<f32>>,
    }

    /// Normalised inputs `[batch, 3, side, side]`, row-major:
    /// `sin(0.05 (h + 1)(c + 1) + 0.07 (w + 1)(n + 1)) · 1.5` in f64, rounded to f32 — the
    /// formula `scripts/backbone_goldens.py` uses.
    pub fn probe_inputs(batch: usize, side: usize) -> Vec<f32> {
        let mut values = Vec::with_capacity(batch * 3 * side * side);
        for n in 0..batch {
            for c in 0..3 {
                for h in 0..side {
                    for w in 0..side {
                        let x = 0.05 * (h + 1) as f64 * (c + 1) as f64
                            + 0.07 * (w + 1) as f64 * (n + 1) as f64;
                        values.push((x.sin() * 1.5) as f32);
                    }
                }
            }
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_size_match_lite0() {
        let device = Device::flex();
        let net = EfficientNetLite0::init(&device);
        // The published state dict holds 4,694,024 floats: weights and batch-norm statistics.
        assert_eq!(net.parameter_count(), 4_694_024);
        assert_eq!(net.blocks.len(), 16);
        for side in [32, 37, 64] {
            let features = net.features(Tensor::zeros([2, 3, side, side], &device));
            assert_eq!(features.dims(), [2, FEATURE_DIM], "side {side}");
            assert_eq!(net.classify(features).dims(), [2, CLASSES]);
        }
    }

    #[test]
    fn the_encoder_refuses_bad_input_by_name() {
        let device = Device::flex();
        let encoder = ImageEncoder {
            network: EfficientNetLite0::init(&device),
            device,
        };
        let run = |f| pollster::block_on(f);
        let features = run(encoder.features(vec![0.5; 2 * 3 * 8 * 8], 2, 8)).unwrap();
        assert_eq!(features.len(), 2 * FEATURE_DIM);
        let error = run(encoder.features(vec![0.5; 10], 2, 8)).unwrap_err();
        assert_eq!(error.code(), "invalid_argument");
        let error = run(encoder.features(vec![f32::NAN; 3 * 64], 1, 8)).unwrap_err();
        assert!(error.to_string().contains("not finite"), "{error}");
        assert!(
            run(encoder.features(vec![0.0; 3], 1, 1)).is_ok(),
            "a 1×1 input works"
        );
        assert!(run(encoder.features(vec![], 0, 8)).is_err());
        let side = MAX_SIDE + 1;
        assert!(run(encoder.features(vec![0.0; 3 * side * side], 1, side)).is_err());
        let images = vec![("holiday.jpg".to_string(), b"not an image".to_vec())];
        let error = pollster::block_on(encoder.embed(&images, 8)).unwrap_err();
        assert!(error.to_string().contains("holiday.jpg"), "{error}");
        assert!(pollster::block_on(encoder.embed(&[], 8)).is_err());
    }
}
