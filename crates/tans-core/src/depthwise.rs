//! Depthwise convolution for CPU inference, channels-last.
//!
//! At the backbone's small input sides (32–96 px) the depthwise layers see planes of 1×1 to
//! 48×48 pixels, where a per-plane kernel spends its time on loop set-up rather than arithmetic
//! (profiled: 40 % of the CPU time of a 32×32 batch in burn flex's depthwise path). Here the
//! activations are channels-last (`[n, h, w, c]`), and every output pixel accumulates
//! `kernel²` contiguous channel vectors (multiply-add over all channels at once, which the
//! compiler vectorises), with the ReLU6 of the layer before applied on read and the bias and
//! ReLU6 after fused in. Runs on plain slices, so it serves flex natively (images in parallel)
//! and in wasm alike; GPU devices keep burn's convolution.

/// A depthwise `kernel × kernel` convolution with stride and TF "same" padding (the extra row
/// and column go bottom and right) over ReLU6 inputs, with bias and ReLU6.
#[derive(Debug, Clone)]
pub struct Depthwise {
    channels: usize,
    kernel: usize,
    stride: usize,
    /// `[kernel · kernel, channels]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Depthwise {
    /// From a PyTorch-layout weight `[channels, 1, kernel, kernel]` (flattened) and bias.
    pub fn new(weight: &[f32], bias: &[f32], kernel: usize, stride: usize) -> Self {
        let channels = bias.len();
        assert_eq!(weight.len(), channels * kernel * kernel, "depthwise weight");
        let taps = kernel * kernel;
        let mut channels_last = vec![0.0; weight.len()];
        for c in 0..channels {
            for t in 0..taps {
                channels_last[t * channels + c] = weight[c * taps + t];
            }
        }
        Self {
            channels,
            kernel,
            stride,
            weight: channels_last,
            bias: bias.to_vec(),
        }
    }

    /// Output side and the padding before the first row (or column) for an input side.
    fn geometry(&self, side: usize) -> (usize, usize) {
        let out = side.div_ceil(self.stride);
        let total = ((out - 1) * self.stride + self.kernel).saturating_sub(side);
        (out, total / 2)
    }

    /// Output `[n, out_h, out_w]` for an input of `[n, h, w]` pixels.
    pub fn output_pixels(&self, [n, h, w]: [usize; 3]) -> [usize; 3] {
        [n, self.geometry(h).0, self.geometry(w).0]
    }

    /// `relu6(conv(relu6(input)) + bias)` of a channels-last `input` of `[n, h, w]` pixels,
    /// channels-last.
    pub fn forward(&self, input: &[f32], pixels: [usize; 3]) -> Vec<f32> {
        let [n, h, w] = pixels;
        let c = self.channels;
        assert_eq!(input.len(), n * h * w * c, "depthwise input");
        let [_, out_h, out_w] = self.output_pixels(pixels);
        let mut output = vec![0.0; n * out_h * out_w * c];
        if output.is_empty() {
            return output;
        }
        let one = |(image, out): (&[f32], &mut [f32])| self.image(image, [h, w], out);
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            input
                .par_chunks(h * w * c)
                .zip(output.par_chunks_mut(out_h * out_w * c))
                .for_each(one);
        }
        #[cfg(target_arch = "wasm32")]
        input
            .chunks(h * w * c)
            .zip(output.chunks_mut(out_h * out_w * c))
            .for_each(one);
        output
    }

    /// One image, with the widest vector instructions this CPU has.
    fn image(&self, input: &[f32], side: [usize; 2], output: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `image_avx2` is compiled for.
            return unsafe { self.image_avx2(input, side, output) };
        }
        self.image_portable(input, side, output);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn image_avx2(&self, input: &[f32], side: [usize; 2], output: &mut [f32]) {
        self.image_portable(input, side, output);
    }

    #[inline(always)]
    fn image_portable(&self, input: &[f32], [h, w]: [usize; 2], output: &mut [f32]) {
        let c = self.channels;
        let (out_h, pad_top) = self.geometry(h);
        let (out_w, pad_left) = self.geometry(w);
        let mut clamped = vec![0.0f32; input.len()];
        for (to, from) in clamped.iter_mut().zip(input) {
            *to = from.clamp(0.0, 6.0);
        }
        for oy in 0..out_h {
            for ox in 0..out_w {
                let acc = &mut output[(oy * out_w + ox) * c..][..c];
                acc.copy_from_slice(&self.bias);
                for ky in 0..self.kernel {
                    let Some(y) = (oy * self.stride + ky).checked_sub(pad_top) else {
                        continue;
                    };
                    if y >= h {
                        continue;
                    }
                    for kx in 0..self.kernel {
                        let Some(x) = (ox * self.stride + kx).checked_sub(pad_left) else {
                            continue;
                        };
                        if x >= w {
                            continue;
                        }
                        let pixel = &clamped[(y * w + x) * c..][..c];
                        let tap = &self.weight[(ky * self.kernel + kx) * c..][..c];
                        for ((a, p), t) in acc.iter_mut().zip(pixel).zip(tap) {
                            *a += p * t;
                        }
                    }
                }
                for a in acc.iter_mut() {
                    *a = a.clamp(0.0, 6.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Tensor, TensorData};

    /// Against burn's own grouped convolution, for odd and even sides, both strides and kernels.
    #[test]
    fn matches_burns_depthwise_convolution() {
        let device = Device::flex();
        for (side, kernel, stride) in [(7, 3, 1), (8, 3, 2), (9, 5, 2), (4, 5, 1), (1, 3, 2)] {
            let [n, c] = [3, 5];
            let value = |i: usize, scale: f32| ((i * 7919 % 97) as f32 / 97.0 - 0.5) * scale;
            let input: Vec<f32> = (0..n * c * side * side).map(|i| value(i, 8.0)).collect();
            let weight: Vec<f32> = (0..c * kernel * kernel)
                .map(|i| value(i + 3, 2.0))
                .collect();
            let bias: Vec<f32> = (0..c).map(|i| value(i + 11, 1.0)).collect();
            let mut conv = Conv2dConfig::new([c, c], [kernel, kernel])
                .with_stride([stride, stride])
                .with_groups(c)
                .with_padding(PaddingConfig2d::Same)
                .init(&device);
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(weight.clone(), [c, 1, kernel, kernel]),
                &device,
            ));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias.clone(), [c]),
                &device,
            )));
            let x = Tensor::<4>::from_data(TensorData::new(input, [n, c, side, side]), &device);
            let expected = conv.forward(x.clone().clamp(0.0, 6.0)).clamp(0.0, 6.0);
            let [_, _, out_h, out_w] = expected.dims();
            let channels_last = |t: Tensor<4>| -> Vec<f32> {
                t.permute([0, 2, 3, 1]).into_data().iter::<f32>().collect()
            };
            let expected = channels_last(expected);

            let depthwise = Depthwise::new(&weight, &bias, kernel, stride);
            let pixels = [n, side, side];
            assert_eq!(depthwise.output_pixels(pixels), [n, out_h, out_w]);
            let actual = depthwise.forward(&channels_last(x), pixels);
            let worst = actual
                .iter()
                .zip(&expected)
                .map(|(a, e)| (a - e).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "side {side} k {kernel} s {stride}: {worst}");
        }
    }
}
