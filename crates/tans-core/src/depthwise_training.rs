//! Depthwise convolution for training supernets on the CPU, with its own backward pass.
//!
//! burn flex computes a depthwise convolution's input gradient as a transposed convolution, one
//! single-row matrix product per image and channel, which profiling of supernet training put
//! at 27 % of the time (and its forward loop at 15 %). Here forward, input gradient and weight
//! gradient are direct loops over NCHW planes: each kernel tap multiplies a whole output row at
//! once, and planes (forward, input gradient) or channels (weight gradient) run in parallel.
//! [`depthwise_conv2d`] runs them on flex (registering the backward with burn's autodiff) and
//! leaves every other device to burn's grouped `conv2d`.

use burn::tensor::Tensor;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

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

    /// Output positions `o` whose input `o · stride + tap − pad` lies in `0..size`.
    fn valid(&self, tap: usize, size: usize, out: usize) -> std::ops::Range<usize> {
        let (s, p) = (self.stride, self.pad);
        let first = if tap >= p { 0 } else { (p - tap).div_ceil(s) }.min(out);
        let last = if size + p > tap {
            ((size - 1 + p - tap) / s + 1).min(out)
        } else {
            0
        };
        first..last.max(first)
    }
}

#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

/// Runs `f` over `(index, chunk)` of `data`, in parallel where threads exist.
fn for_each_chunk(data: &mut [f32], size: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    data.par_chunks_mut(size)
        .with_min_len(8)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
    #[cfg(target_arch = "wasm32")]
    data.chunks_mut(size)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}

/// `y = x ⊛ w`: `x` is `[n, c, h, w]`, `w` is `[c, 1, k, k]`, `y` is `[n, c, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let (oh, ow, k) = (g.out_h(), g.out_w(), g.k);
    let mut y = vec![0.0; g.n * g.c * oh * ow];
    for_each_chunk(&mut y, oh * ow, |plane, out| {
        let input = &x[plane * g.h * g.w..(plane + 1) * g.h * g.w];
        let taps = &weight[(plane % g.c) * k * k..(plane % g.c + 1) * k * k];
        for ky in 0..k {
            let rows = g.valid(ky, g.h, oh);
            for kx in 0..k {
                let cols = g.valid(kx, g.w, ow);
                if cols.is_empty() {
                    continue;
                }
                let tap = taps[ky * k + kx];
                for oy in rows.clone() {
                    let row = &input[(oy * g.stride + ky - g.pad) * g.w..];
                    let out_row = &mut out[oy * ow..(oy + 1) * ow];
                    if g.stride == 1 {
                        let first = cols.start + kx - g.pad;
                        for (o, v) in out_row[cols.clone()].iter_mut().zip(&row[first..]) {
                            *o += tap * v;
                        }
                    } else {
                        for ox in cols.clone() {
                            out_row[ox] += tap * row[ox * g.stride + kx - g.pad];
                        }
                    }
                }
            }
        }
    });
    y
}

/// `∂L/∂x` from `∂L/∂y` (`grad`, `[n, c, oh, ow]`).
pub fn input_grad(grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let (oh, ow, k) = (g.out_h(), g.out_w(), g.k);
    let mut dx = vec![0.0; g.n * g.c * g.h * g.w];
    for_each_chunk(&mut dx, g.h * g.w, |plane, out| {
        let grad = &grad[plane * oh * ow..(plane + 1) * oh * ow];
        let taps = &weight[(plane % g.c) * k * k..(plane % g.c + 1) * k * k];
        for ky in 0..k {
            let rows = g.valid(ky, g.h, oh);
            for kx in 0..k {
                let cols = g.valid(kx, g.w, ow);
                if cols.is_empty() {
                    continue;
                }
                let tap = taps[ky * k + kx];
                for oy in rows.clone() {
                    let in_row = &mut out[(oy * g.stride + ky - g.pad) * g.w..];
                    let grad_row = &grad[oy * ow..(oy + 1) * ow];
                    if g.stride == 1 {
                        let first = cols.start + kx - g.pad;
                        for (d, v) in in_row[first..].iter_mut().zip(&grad_row[cols.clone()]) {
                            *d += tap * v;
                        }
                    } else {
                        for ox in cols.clone() {
                            in_row[ox * g.stride + kx - g.pad] += tap * grad_row[ox];
                        }
                    }
                }
            }
        }
    });
    dx
}

/// `∂L/∂w` (`[c, 1, k, k]`) from `∂L/∂y` and the input `x`.
pub fn weight_grad(grad: &[f32], x: &[f32], g: &Geometry) -> Vec<f32> {
    let (oh, ow, k) = (g.out_h(), g.out_w(), g.k);
    let mut dw = vec![0.0; g.c * k * k];
    for_each_chunk(&mut dw, k * k, |channel, taps| {
        for image in 0..g.n {
            let plane = image * g.c + channel;
            let input = &x[plane * g.h * g.w..(plane + 1) * g.h * g.w];
            let grad = &grad[plane * oh * ow..(plane + 1) * oh * ow];
            for ky in 0..k {
                let rows = g.valid(ky, g.h, oh);
                for kx in 0..k {
                    let cols = g.valid(kx, g.w, ow);
                    if cols.is_empty() {
                        continue;
                    }
                    let mut sum = 0.0;
                    for oy in rows.clone() {
                        let row = &input[(oy * g.stride + ky - g.pad) * g.w..];
                        let grad_row = &grad[oy * ow..(oy + 1) * ow];
                        if g.stride == 1 {
                            let first = cols.start + kx - g.pad;
                            sum += grad_row[cols.clone()]
                                .iter()
                                .zip(&row[first..])
                                .map(|(a, b)| a * b)
                                .sum::<f32>();
                        } else {
                            for ox in cols.clone() {
                                sum += grad_row[ox] * row[ox * g.stride + kx - g.pad];
                            }
                        }
                    }
                    taps[ky * k + kx] += sum;
                }
            }
        }
    });
    dw
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
    use burn::backend::{Autodiff, Flex, TensorData};

    use super::{Geometry, forward, input_grad, weight_grad};

    fn values(t: &FlexTensor) -> Vec<f32> {
        let dense = t.to_contiguous();
        dense.as_slice::<f32>().expect("f32 flex tensors").to_vec()
    }

    fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn run_forward(x: &FlexTensor, w: &FlexTensor, g: &Geometry) -> FlexTensor {
        tensor(
            forward(&values(x), &values(w), g),
            [g.n, g.c, g.out_h(), g.out_w()],
        )
    }

    #[derive(Debug)]
    struct DepthwiseBackward;

    impl Backward<Flex, 2> for DepthwiseBackward {
        type State = (FlexTensor, FlexTensor, Geometry);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [x_node, w_node] = ops.parents;
            let grad = values(&grads.consume::<Flex>(&ops.node));
            let (x, w, g) = ops.state;
            if let Some(node) = x_node {
                let dx = input_grad(&grad, &values(&w), &g);
                grads.register::<Flex>(node.id, tensor(dx, [g.n, g.c, g.h, g.w]));
            }
            if let Some(node) = w_node {
                let dw = weight_grad(&grad, &values(&x), &g);
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
            let out = match DepthwiseBackward
                .prepare::<NoCheckpointing>([xa.node(), wa.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (xp, wp) = (xa.primitive().clone(), wa.primitive().clone());
                    let y = run_forward(&xp, &wp, &g);
                    prep.finish((xp, wp, g), y)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(run_forward(xa.primitive(), wa.primitive(), &g))
                }
            };
            return Some(Tensor::<4>::from_primitive::<Ad>(out));
        }
        if let (Ok(xp), Ok(wp)) = (
            x.clone().try_into_primitive::<Flex>(),
            w.clone().try_into_primitive::<Flex>(),
        ) {
            return Some(Tensor::<4>::from_primitive::<Flex>(run_forward(
                &xp, &wp, &g,
            )));
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
    /// the search space uses, on planes smaller and larger than the kernel.
    #[test]
    fn forward_and_gradients_match_burns_convolution() {
        let device = Device::flex().autodiff();
        for (k, stride, side) in [
            (3, 1, 5),
            (5, 2, 8),
            (7, 1, 4),
            (7, 2, 2),
            (3, 2, 7),
            (7, 1, 2),
            (5, 1, 1),
            (7, 1, 1),
        ] {
            let (n, c) = (2, 3);
            let input: Vec<f32> = (0..n * c * side * side)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let weights: Vec<f32> = (0..c * k * k)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                .collect();
            let run = |ours: bool| {
                let x = Param::from_tensor(Tensor::<4>::from_data(
                    TensorData::new(input.clone(), [n, c, side, side]),
                    &device,
                ));
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
            let what = format!("k {k} stride {stride} side {side}");
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
