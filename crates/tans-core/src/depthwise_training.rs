//! Depthwise convolution for training supernets on the CPU, with its own backward pass.
//!
//! burn flex computes a depthwise convolution's input gradient as a transposed convolution, one
//! single-row matrix product per image and channel, which profiling of supernet training put
//! at 27 % of the time (and its forward loop at 15 %). Here forward, input gradient and weight
//! gradient run channels-last, as the inference kernel in [`crate::depthwise`] does: the
//! supernets' planes are 1×1 to 16×16 pixels, too small for per-plane loops, so every (output
//! pixel, input pixel, tap) pair multiplies whole channel vectors, images in parallel, with
//! one transpose in and one out per call; the backward pass keeps the forward's channels-last
//! input.
//! [`depthwise_conv2d`] runs them on flex (registering the backward with burn's autodiff) and
//! leaves every other device to burn's grouped `conv2d`.

use burn::tensor::Tensor;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::cpu::{avx2_twin, for_each_chunk, transpose_into};

/// The shape of one depthwise convolution: `n` images of `c` channels, `h × w`, a `k × k`
/// kernel with `stride` and zero `pad`ding on every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
}

/// `[n, a, b]` → `[n, b, a]` for every `n` (NCHW ↔ NHWC with `a`, `b` the channel and pixel
/// counts).
fn transpose(data: &[f32], a: usize, b: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for_each_chunk(&mut out, a * b, |image, out| {
        transpose_into(&data[image * a * b..(image + 1) * a * b], a, b, out);
    });
    out
}

avx2_twin! {
    /// `out[o·c..][..c] += a[i·c..][..c] ⊙ b[t·c..][..c]` for every `(o, i, t)` in `triples`:
    /// whole channel vectors.
    fn multiply_add_all(
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        triples: &[(usize, usize, usize)],
        c: usize,
    ) {
        for &(o, i, t) in triples {
            let (acc, a, b) = (&mut out[o * c..][..c], &a[i * c..][..c], &b[t * c..][..c]);
            for ((acc, a), b) in acc.iter_mut().zip(a).zip(b) {
                *acc += a * b;
            }
        }
    }
}

/// The pixel pairs of one image: for each output pixel `(oy, ox)` and tap `(ky, kx)` whose input
/// pixel lies inside the image, `(output pixel, input pixel, tap)` indices.
fn pairs(g: &Geometry) -> Vec<(usize, usize, usize)> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut pairs = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            for ky in 0..g.k {
                let Some(iy) = (oy * g.stride + ky).checked_sub(g.pad).filter(|&y| y < g.h) else {
                    continue;
                };
                for kx in 0..g.k {
                    let Some(ix) = (ox * g.stride + kx).checked_sub(g.pad).filter(|&x| x < g.w)
                    else {
                        continue;
                    };
                    pairs.push((oy * ow + ox, iy * g.w + ix, ky * g.k + kx));
                }
            }
        }
    }
    pairs
}

/// `y = x ⊛ w` channels-last: `x` is `[n, h, w, c]`, `weight` is `[c, 1, k, k]`, `y` is
/// `[n, oh, ow, c]`.
pub fn forward(x: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let (c, pixels, out_pixels) = (g.c, g.h * g.w, g.out_h() * g.out_w());
    let taps = transpose(weight, c, g.k * g.k);
    let pairs = pairs(g);
    let mut y = vec![0.0; g.n * out_pixels * c];
    for_each_chunk(&mut y, out_pixels * c, |image, out| {
        let input = &x[image * pixels * c..(image + 1) * pixels * c];
        multiply_add_all(out, input, &taps, &pairs, c);
    });
    y
}

/// `∂L/∂x` (`[n, h, w, c]`) and `∂L/∂w` (`[c, 1, k, k]`) from `∂L/∂y` (`grad`, `[n, oh, ow,
/// c]`), the input `x` (`[n, h, w, c]`) and `weight`, each only where asked for.
pub fn backward(
    grad: &[f32],
    x: &[f32],
    weight: &[f32],
    g: &Geometry,
    input: bool,
    weights: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let pairs = pairs(g);
    (
        input.then(|| input_grad(grad, weight, g, &pairs)),
        weights.then(|| weight_grad(grad, x, g, &pairs)),
    )
}

/// `∂L/∂x` from `∂L/∂y`, both channels-last.
fn input_grad(
    grad: &[f32],
    weight: &[f32],
    g: &Geometry,
    pairs: &[(usize, usize, usize)],
) -> Vec<f32> {
    let (c, pixels, out_pixels) = (g.c, g.h * g.w, g.out_h() * g.out_w());
    let taps = transpose(weight, c, g.k * g.k);
    // Each pair adds to its input pixel: (input pixel, output pixel, tap).
    let triples: Vec<_> = pairs.iter().map(|&(o, i, t)| (i, o, t)).collect();
    let mut dx = vec![0.0; g.n * pixels * c];
    for_each_chunk(&mut dx, pixels * c, |image, out| {
        let grad = &grad[image * out_pixels * c..(image + 1) * out_pixels * c];
        multiply_add_all(out, grad, &taps, &triples, c);
    });
    dx
}

/// `∂L/∂w` from `∂L/∂y` and the input `x`, both channels-last.
fn weight_grad(grad: &[f32], x: &[f32], g: &Geometry, pairs: &[(usize, usize, usize)]) -> Vec<f32> {
    let (c, pixels, out_pixels, taps) = (g.c, g.h * g.w, g.out_h() * g.out_w(), g.k * g.k);
    // Each pair adds to its tap: (tap, output pixel, input pixel).
    let triples: Vec<_> = pairs.iter().map(|&(o, i, t)| (t, o, i)).collect();
    // One partial sum per image, added up after.
    let mut partial = vec![0.0; g.n * taps * c];
    for_each_chunk(&mut partial, taps * c, |image, dw| {
        let grad = &grad[image * out_pixels * c..(image + 1) * out_pixels * c];
        let input = &x[image * pixels * c..(image + 1) * pixels * c];
        multiply_add_all(dw, grad, input, &triples, c);
    });
    let mut dw = vec![0.0; taps * c];
    for image in partial.chunks_exact(taps * c) {
        for (sum, v) in dw.iter_mut().zip(image) {
            *sum += v;
        }
    }
    transpose(&dw, taps, c)
}

/// A depthwise convolution of `x` (`[n, c, h, w]`) with `weight` (`[c, 1, k, k]`), `stride`
/// and padding `pad`, no bias. On flex (with or without autodiff) it runs the kernels above;
/// elsewhere burn's grouped convolution.
pub fn depthwise_conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let geometry = Geometry {
        n,
        c,
        h,
        w,
        k: weight.dims()[2],
        stride,
        pad,
    };
    #[cfg(feature = "cpu-training")]
    if let Some(y) = flex::depthwise(&x, &weight, geometry) {
        return y;
    }
    let _ = geometry;
    conv2d(
        x,
        weight,
        None,
        ConvOptions::new([stride, stride], [pad, pad], [1, 1], c),
    )
}

#[cfg(feature = "cpu-training")]
mod flex {
    //! The kernels on burn flex tensors, and their node in burn's autodiff graph.

    use burn::Tensor;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Autodiff, Flex};

    use super::{Geometry, backward, forward, transpose};
    use crate::cpu::{dense, tensor, values};

    /// The output, and the input channels-last for the backward pass.
    fn run_forward(x: &FlexTensor, w: &[f32], g: &Geometry) -> (FlexTensor, Vec<f32>) {
        let x = transpose(values(&dense(x)), g.c, g.h * g.w);
        let (oh, ow) = (g.out_h(), g.out_w());
        let y = transpose(&forward(&x, w, g), oh * ow, g.c);
        (tensor(y, [g.n, g.c, oh, ow]), x)
    }

    #[derive(Debug)]
    struct DepthwiseBackward;

    impl Backward<Flex, 2> for DepthwiseBackward {
        /// The input channels-last, the weights and the geometry.
        type State = (Vec<f32>, Vec<f32>, Geometry);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [x_node, w_node] = ops.parents;
            let (x, w, g) = ops.state;
            let grad = dense(&grads.consume::<Flex>(&ops.node));
            let grad = transpose(values(&grad), g.c, g.out_h() * g.out_w());
            let (dx, dw) = backward(&grad, &x, &w, &g, x_node.is_some(), w_node.is_some());
            if let (Some(node), Some(dx)) = (x_node, dx) {
                let dx = transpose(&dx, g.h * g.w, g.c);
                grads.register::<Flex>(node.id, tensor(dx, [g.n, g.c, g.h, g.w]));
            }
            if let (Some(node), Some(dw)) = (w_node, dw) {
                grads.register::<Flex>(node.id, tensor(dw, [g.c, 1, g.k, g.k]));
            }
        }
    }

    /// `None` unless both tensors live on flex (plain, or autodiff without checkpointing).
    pub fn depthwise(x: &Tensor<4>, w: &Tensor<4>, g: Geometry) -> Option<Tensor<4>> {
        type Ad = Autodiff<Flex, NoCheckpointing>;
        if let (Ok(xa), Ok(wa)) = (
            x.clone().try_into_primitive::<Ad>(),
            w.clone().try_into_primitive::<Ad>(),
        ) {
            let taps = values(&dense(wa.primitive())).to_vec();
            let (y, x_channels_last) = run_forward(xa.primitive(), &taps, &g);
            let out = match DepthwiseBackward
                .prepare::<NoCheckpointing>([xa.node(), wa.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x_channels_last, taps, g), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            return Some(Tensor::<4>::from_primitive::<Ad>(out));
        }
        if let (Ok(xp), Ok(wp)) = (
            x.clone().try_into_primitive::<Flex>(),
            w.clone().try_into_primitive::<Flex>(),
        ) {
            let (y, _) = run_forward(&xp, values(&dense(&wp)), &g);
            return Some(Tensor::<4>::from_primitive::<Flex>(y));
        }
        None
    }
}

#[cfg(all(test, feature = "cpu-training"))]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: max |Δ| {worst}");
    }

    /// Output and both gradients equal burn's grouped convolution, for every kernel and stride
    /// the search space uses, on planes smaller and larger than the kernel, with a dense input
    /// and a strided one (a permuted view).
    #[test]
    fn forward_and_gradients_match_burns_convolution() {
        let device = Device::flex().autodiff();
        for ((k, stride, side), strided) in [
            (3, 1, 5),
            (5, 2, 8),
            (7, 1, 4),
            (7, 2, 2),
            (3, 2, 7),
            (7, 1, 2),
            (5, 1, 1),
            (7, 1, 1),
        ]
        .into_iter()
        .flat_map(|case| [false, true].map(|strided| (case, strided)))
        {
            let (n, c) = (2, 3);
            let input: Vec<f32> = (0..n * c * side * side)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let weights: Vec<f32> = (0..c * k * k)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                .collect();
            let run = |ours: bool| {
                let x = crate::cpu::test_input(input.clone(), [n, c, side, side], strided, &device);
                let w = Param::from_tensor(Tensor::<4>::from_data(
                    TensorData::new(weights.clone(), [c, 1, k, k]),
                    &device,
                ));
                let y = if ours {
                    let geometry = Geometry {
                        n,
                        c,
                        h: side,
                        w: side,
                        k,
                        stride,
                        pad: k / 2,
                    };
                    flex::depthwise(&x.val(), &w.val(), geometry)
                        .expect("an autodiff flex device runs our kernels")
                } else {
                    conv2d(
                        x.val(),
                        w.val(),
                        None,
                        ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], c),
                    )
                };
                // A loss that weighs every output differently, so every gradient entry counts.
                let dims = y.dims();
                let scale: Vec<f32> = (0..dims.iter().product::<usize>())
                    .map(|i| (i % 5) as f32 - 2.0)
                    .collect();
                let scale = Tensor::<4>::from_data(TensorData::new(scale, dims), &device);
                let grads = (y.clone() * scale).sum().backward();
                let dx = x.val().grad(&grads).unwrap();
                let dw = w.val().grad(&grads).unwrap();
                (
                    values(y),
                    dx.into_data().try_to_vec::<f32>().unwrap(),
                    dw.into_data().try_to_vec::<f32>().unwrap(),
                )
            };
            let (ours, theirs) = (run(true), run(false));
            let what = format!("k {k} stride {stride} side {side}, strided input {strided}");
            close(&ours.0, &theirs.0, &format!("{what}: output"));
            close(&ours.1, &theirs.1, &format!("{what}: input gradient"));
            close(&ours.2, &theirs.2, &format!("{what}: weight gradient"));
        }
        let plain = Tensor::<4>::zeros([1, 2, 3, 3], &Device::flex());
        let weight = Tensor::<4>::ones([2, 1, 3, 3], &Device::flex());
        let geometry = Geometry {
            n: 1,
            c: 2,
            h: 3,
            w: 3,
            k: 3,
            stride: 1,
            pad: 1,
        };
        assert!(
            flex::depthwise(&plain, &weight, geometry).is_some(),
            "plain flex runs them too"
        );
    }
}
