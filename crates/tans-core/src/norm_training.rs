//! Batch norm with batch statistics and the activation after it, fused into one operation
//! with its own backward pass, for training supernets on the CPU.
//!
//! Written as tensor operations, a supernet's batch norm and hard-swish are about twelve
//! full passes over the activation forward and twenty backward, each allocating, and profiling
//! put burn flex's unfused elementwise work at over half of a training step. Here forward is
//! two passes (per-channel sums, then the normalised and activated output) and backward two
//! (per-channel sums of the gradient, then `∂L/∂x`), images in parallel.
//! [`batch_norm_activation`] runs them on flex (registering the backward with burn's autodiff)
//! and the same formula as tensor operations on every other device.

use burn::tensor::Tensor;
use burn::tensor::activation::{hard_swish, relu};

use crate::cpu::{avx2_twin, for_each_chunk, threads};

/// What follows the batch norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    HardSwish,
}

impl Activation {
    /// Applies it to a tensor.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Identity => x,
            Self::Relu => relu(x),
            Self::HardSwish => hard_swish(x),
        }
    }
}

/// An activation's value and derivative, one type each so that every kernel is compiled per
/// activation with no branch on it in the inner loops.
trait Function: Copy + Send + Sync {
    fn value(z: f32) -> f32;
    /// The derivative at `z`, as burn's autodiff takes it (0 at relu's kink; hard-swish's
    /// interior formula on the closed interval, as `clamp` passes the gradient at its bounds).
    fn slope(z: f32) -> f32;
}

#[derive(Clone, Copy)]
struct IdentityFn;
#[derive(Clone, Copy)]
struct ReluFn;
#[derive(Clone, Copy)]
struct HardSwishFn;

impl Function for IdentityFn {
    #[inline(always)]
    fn value(z: f32) -> f32 {
        z
    }
    #[inline(always)]
    fn slope(_: f32) -> f32 {
        1.0
    }
}

impl Function for ReluFn {
    #[inline(always)]
    fn value(z: f32) -> f32 {
        z.max(0.0)
    }
    #[inline(always)]
    fn slope(z: f32) -> f32 {
        if z > 0.0 { 1.0 } else { 0.0 }
    }
}

impl Function for HardSwishFn {
    #[inline(always)]
    fn value(z: f32) -> f32 {
        z * (z / 6.0 + 0.5).clamp(0.0, 1.0)
    }
    #[inline(always)]
    fn slope(z: f32) -> f32 {
        // Selects rather than branches, so that the loops around it vectorise.
        let inside = (2.0 * z + 3.0) / 6.0;
        let above = if z > 3.0 { 1.0 } else { inside };
        if z < -3.0 { 0.0 } else { above }
    }
}

/// The shape of one call: `n` images of `c` channels of `pixels` each, `[n, c, pixels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub n: usize,
    pub c: usize,
    pub pixels: usize,
}

impl Shape {
    fn image_len(&self) -> usize {
        self.c * self.pixels
    }
}

/// The per-channel statistics of one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub mean: Vec<f32>,
    /// Biased (divided by the count), as batch norm normalises with.
    pub variance: Vec<f32>,
}

/// One channel's batch norm in the backward pass: `z = scale·x + offset` before the
/// activation and `x̂ = (x − mean)·inverse`.
#[derive(Debug, Clone, Copy)]
struct Channel {
    scale: f32,
    offset: f32,
    mean: f32,
    inverse: f32,
}

avx2_twin! {
    /// Adds `v − shift` and `(v − shift)²` of one plane into per-pixel sums.
    fn plane_moments(plane: &[f32], shift: f32, sum: &mut [f32], squares: &mut [f32]) {
        for ((&v, sum), squares) in plane.iter().zip(sum).zip(squares) {
            let d = v - shift;
            *sum += d;
            *squares += d * d;
        }
    }
}

avx2_twin! {
    /// `out = act(scale·x + offset)` over one plane.
    fn plane_output<A: Function>(out: &mut [f32], x: &[f32], scale: f32, offset: f32) {
        for (out, &v) in out.iter_mut().zip(x) {
            *out = A::value(scale * v + offset);
        }
    }
}

/// `∂L/∂z` and `x̂` at one value.
#[inline(always)]
fn pre_activation<A: Function>(k: Channel, v: f32, dy: f32) -> (f32, f32) {
    (
        dy * A::slope(k.scale * v + k.offset),
        (v - k.mean) * k.inverse,
    )
}

avx2_twin! {
    /// Adds `∂L/∂z` and `∂L/∂z · x̂` of one plane into per-pixel sums.
    fn plane_gradient_sums<A: Function>(
        x: &[f32],
        dy: &[f32],
        k: Channel,
        sum: &mut [f32],
        weighted: &mut [f32],
    ) {
        for (((&v, &g), sum), weighted) in x.iter().zip(dy).zip(sum).zip(weighted) {
            let (dz, normalised) = pre_activation::<A>(k, v, g);
            *sum += dz;
            *weighted += dz * normalised;
        }
    }
}

avx2_twin! {
    /// `∂L/∂x = factor·(∂L/∂z − mean ∂L/∂z − x̂·mean(∂L/∂z · x̂))` over one plane.
    fn plane_input_gradient<A: Function>(
        out: &mut [f32],
        x: &[f32],
        dy: &[f32],
        k: Channel,
        factor: f32,
        mean_dz: f32,
        mean_dz_normalised: f32,
    ) {
        for ((out, &v), &g) in out.iter_mut().zip(x).zip(dy) {
            let (dz, normalised) = pre_activation::<A>(k, v, g);
            *out = factor * (dz - mean_dz - normalised * mean_dz_normalised);
        }
    }
}

/// Per channel, the sums over every image and pixel of the two values that `add(channel, a,
/// b, first, second)` adds into per-pixel sums (`first`, `second`: one plane each) for the
/// planes of `a` and `b` (both `[n, c, pixels]`). The images are split into one group per
/// thread, each with its own per-pixel sums (elementwise adds vectorise where a plane's sum does
/// not), which are added up in f64 at the end.
fn channel_sums(
    s: Shape,
    a: &[f32],
    b: &[f32],
    add: impl Fn(usize, &[f32], &[f32], &mut [f32], &mut [f32]) + Sync,
) -> (Vec<f64>, Vec<f64>) {
    let (len, pixels) = (s.image_len(), s.pixels);
    let groups = threads().clamp(1, s.n.max(1));
    let per_group = s.n.div_ceil(groups);
    let mut partial = vec![0.0f32; groups * 2 * len];
    for_each_chunk(&mut partial, 2 * len, |group, sums| {
        let (first, second) = sums.split_at_mut(len);
        for image in group * per_group..((group + 1) * per_group).min(s.n) {
            let range = image * len..(image + 1) * len;
            let planes = a[range.clone()]
                .chunks_exact(pixels)
                .zip(b[range].chunks_exact(pixels))
                .zip(first.chunks_exact_mut(pixels))
                .zip(second.chunks_exact_mut(pixels));
            for (channel, (((a, b), first), second)) in planes.enumerate() {
                add(channel, a, b, first, second);
            }
        }
    });
    let total = |sums: &[f32]| sums.iter().map(|&v| f64::from(v)).sum::<f64>();
    let mut first = vec![0.0; s.c];
    let mut second = vec![0.0; s.c];
    for group in partial.chunks_exact(2 * len) {
        let (a, b) = group.split_at(len);
        for (channel, (a, b)) in a
            .chunks_exact(pixels)
            .zip(b.chunks_exact(pixels))
            .enumerate()
        {
            first[channel] += total(a);
            second[channel] += total(b);
        }
    }
    (first, second)
}

/// A new `[n, c, pixels]` tensor, each plane written by `plane(channel, out, a, b)` from the
/// planes of `a` and `b`, images in parallel.
fn map_planes(
    s: Shape,
    a: &[f32],
    b: &[f32],
    plane: impl Fn(usize, &mut [f32], &[f32], &[f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0.0; a.len()];
    for_each_chunk(&mut out, s.image_len(), |image, out| {
        let range = image * s.image_len()..(image + 1) * s.image_len();
        let planes = out
            .chunks_exact_mut(s.pixels)
            .zip(a[range.clone()].chunks_exact(s.pixels))
            .zip(b[range].chunks_exact(s.pixels));
        for (channel, ((out, a), b)) in planes.enumerate() {
            plane(channel, out, a, b);
        }
    });
    out
}

/// `act(γ·(x − μ)/√(σ² + ε) + β)` with `μ`, `σ²` the batch statistics of `x` (`[n, c,
/// pixels]`).
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    activation: Activation,
    s: Shape,
) -> (Vec<f32>, Statistics) {
    match activation {
        Activation::Identity => forward_with::<IdentityFn>(x, gamma, beta, epsilon, s),
        Activation::Relu => forward_with::<ReluFn>(x, gamma, beta, epsilon, s),
        Activation::HardSwish => forward_with::<HardSwishFn>(x, gamma, beta, epsilon, s),
    }
}

fn forward_with<A: Function>(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    s: Shape,
) -> (Vec<f32>, Statistics) {
    // Sums of x − shift with each channel's first value as its shift, so that the variance
    // loses no precision to a mean far from zero.
    let shift: Vec<f32> = (0..s.c).map(|c| x[c * s.pixels]).collect();
    let (sum, squares) = channel_sums(s, x, x, |channel, plane, _, sum, squares| {
        plane_moments(plane, shift[channel], sum, squares)
    });
    let count = (s.n * s.pixels) as f64;
    let mean: Vec<f32> = sum
        .iter()
        .zip(&shift)
        .map(|(&m, &k)| (m / count + f64::from(k)) as f32)
        .collect();
    let variance: Vec<f32> = sum
        .iter()
        .zip(&squares)
        .map(|(&m, &q)| (q / count - (m / count).powi(2)).max(0.0) as f32)
        .collect();
    let (scale, offset) = affine(gamma, beta, &mean, &variance, epsilon);
    let y = map_planes(s, x, x, |channel, out, plane, _| {
        plane_output::<A>(out, plane, scale[channel], offset[channel])
    });
    (y, Statistics { mean, variance })
}

/// Per channel, `γ/√(σ² + ε)` and `β − μ·γ/√(σ² + ε)`: the batch norm as `a·x + b`.
fn affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(variance)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), a)| b - m * a)
        .collect();
    (scale, shift)
}

/// The gradients `(∂L/∂x, ∂L/∂γ, ∂L/∂β)` from `∂L/∂y` (`grad`) and the forward's inputs and
/// statistics.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    grad: &[f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    statistics: &Statistics,
    epsilon: f32,
    activation: Activation,
    s: Shape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let run = match activation {
        Activation::Identity => backward_with::<IdentityFn>,
        Activation::Relu => backward_with::<ReluFn>,
        Activation::HardSwish => backward_with::<HardSwishFn>,
    };
    run(grad, x, gamma, beta, statistics, epsilon, s)
}

fn backward_with<A: Function>(
    grad: &[f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    statistics: &Statistics,
    epsilon: f32,
    s: Shape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (scale, offset) = affine(gamma, beta, &statistics.mean, &statistics.variance, epsilon);
    let channels: Vec<Channel> = (0..s.c)
        .map(|c| Channel {
            scale: scale[c],
            offset: offset[c],
            mean: statistics.mean[c],
            inverse: 1.0 / (statistics.variance[c] + epsilon).sqrt(),
        })
        .collect();
    let (d_beta, d_gamma) = channel_sums(s, x, grad, |channel, x, dy, sum, weighted| {
        plane_gradient_sums::<A>(x, dy, channels[channel], sum, weighted)
    });
    let count = (s.n * s.pixels) as f64;
    let dx = map_planes(s, x, grad, |channel, out, x, dy| {
        let k = channels[channel];
        plane_input_gradient::<A>(
            out,
            x,
            dy,
            k,
            gamma[channel] * k.inverse,
            (d_beta[channel] / count) as f32,
            (d_gamma[channel] / count) as f32,
        )
    });
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|d| d as f32).collect();
    (dx, to_f32(d_gamma), to_f32(d_beta))
}

/// Batch norm of `x` (`[n, c, h, w]`) with its batch statistics and the learned `gamma` and
/// `beta` (`[c]`), then `activation`. Returns the output and the batch statistics (mean,
/// biased variance; not tracked by autodiff). On flex (with or without autodiff) it runs the
/// kernels above; elsewhere the same formula as tensor operations.
pub fn batch_norm_activation(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f32,
    activation: Activation,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    #[cfg(feature = "cpu-training")]
    {
        let [n, c, h, w] = x.dims();
        let shape = Shape {
            n,
            c,
            pixels: h * w,
        };
        if let Some((y, statistics)) =
            flex::batch_norm_activation(&x, &gamma, &beta, epsilon, activation, shape)
        {
            let device = x.device();
            let stat = |v: Vec<f32>| {
                Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [c]), &device)
            };
            return (y, stat(statistics.mean), stat(statistics.variance));
        }
    }
    let (y, mean, variance) = composite(x, gamma, beta, epsilon, activation);
    (y, mean.detach(), variance.detach())
}

/// The same batch norm and activation as burn tensor operations (autodiff derives their
/// backward): the path off flex, and what the kernels are tested against.
fn composite(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f32,
    activation: Activation,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let c = x.dims()[1];
    let mean = x.clone().mean_dim(0).mean_dim(2).mean_dim(3);
    let variance = (x.clone() - mean.clone())
        .square()
        .mean_dim(0)
        .mean_dim(2)
        .mean_dim(3);
    let shape = [1, c, 1, 1];
    let y = (x - mean.clone()) / (variance.clone() + epsilon as f64).sqrt() * gamma.reshape(shape)
        + beta.reshape(shape);
    (
        activation.apply(y),
        mean.reshape([c]),
        variance.reshape([c]),
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

    use super::{Activation, Shape, Statistics, backward, forward};
    use crate::cpu::{dense, tensor, values};

    #[derive(Debug)]
    struct NormBackward;

    #[derive(Debug, Clone)]
    struct State {
        /// The input, dense.
        x: FlexTensor,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        statistics: Statistics,
        epsilon: f32,
        activation: Activation,
        shape: Shape,
    }

    impl Backward<Flex, 3> for NormBackward {
        type State = State;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [x_node, gamma_node, beta_node] = ops.parents;
            let grad = dense(&grads.consume::<Flex>(&ops.node));
            let state = ops.state;
            let s = state.shape;
            let (dx, d_gamma, d_beta) = backward(
                values(&grad),
                values(&state.x),
                &state.gamma,
                &state.beta,
                &state.statistics,
                state.epsilon,
                state.activation,
                s,
            );
            if let Some(node) = x_node {
                grads.register::<Flex>(node.id, tensor(dx, state.x.layout().shape().clone()));
            }
            if let Some(node) = gamma_node {
                grads.register::<Flex>(node.id, tensor(d_gamma, [s.c]));
            }
            if let Some(node) = beta_node {
                grads.register::<Flex>(node.id, tensor(d_beta, [s.c]));
            }
        }
    }

    /// What one forward pass gives: the output, the input (dense) and the parameters' values.
    struct Forward {
        y: FlexTensor,
        x: FlexTensor,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        statistics: Statistics,
    }

    fn run_forward(
        x: &FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        epsilon: f32,
        activation: Activation,
        s: Shape,
    ) -> Forward {
        let x = dense(x);
        let gamma = values(&dense(gamma)).to_vec();
        let beta = values(&dense(beta)).to_vec();
        let (y, statistics) = forward(values(&x), &gamma, &beta, epsilon, activation, s);
        Forward {
            y: tensor(y, x.layout().shape().clone()),
            x,
            gamma,
            beta,
            statistics,
        }
    }

    /// `None` unless all three tensors live on flex (plain, or autodiff without
    /// checkpointing).
    pub fn batch_norm_activation(
        x: &Tensor<4>,
        gamma: &Tensor<1>,
        beta: &Tensor<1>,
        epsilon: f32,
        activation: Activation,
        s: Shape,
    ) -> Option<(Tensor<4>, Statistics)> {
        type Ad = Autodiff<Flex, NoCheckpointing>;
        if let (Ok(xa), Ok(ga), Ok(ba)) = (
            x.clone().try_into_primitive::<Ad>(),
            gamma.clone().try_into_primitive::<Ad>(),
            beta.clone().try_into_primitive::<Ad>(),
        ) {
            let f = run_forward(
                xa.primitive(),
                ga.primitive(),
                ba.primitive(),
                epsilon,
                activation,
                s,
            );
            let statistics = f.statistics.clone();
            let out = match NormBackward
                .prepare::<NoCheckpointing>([xa.node(), ga.node(), ba.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    State {
                        x: f.x,
                        gamma: f.gamma,
                        beta: f.beta,
                        statistics: f.statistics,
                        epsilon,
                        activation,
                        shape: s,
                    },
                    f.y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(f.y),
            };
            return Some((Tensor::<4>::from_primitive::<Ad>(out), statistics));
        }
        if let (Ok(xp), Ok(gp), Ok(bp)) = (
            x.clone().try_into_primitive::<Flex>(),
            gamma.clone().try_into_primitive::<Flex>(),
            beta.clone().try_into_primitive::<Flex>(),
        ) {
            let f = run_forward(&xp, &gp, &bp, epsilon, activation, s);
            return Some((Tensor::<4>::from_primitive::<Flex>(f.y), f.statistics));
        }
        None
    }
}

#[cfg(all(test, feature = "cpu-training"))]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: max relative |Δ| {worst}");
    }

    const ACTIVATIONS: [Activation; 3] = [
        Activation::Identity,
        Activation::Relu,
        Activation::HardSwish,
    ];
    /// Output, statistics and all three gradients equal the tensor-operation formula's under
    /// burn's autodiff, for every activation, with one pixel per plane and with many, an input
    /// whose mean is far from zero, and a strided input (a permuted view).
    #[test]
    fn forward_statistics_and_gradients_match_the_tensor_formula() {
        let device = Device::flex().autodiff();
        let cases = [(3, 4, 5, 0.0), (8, 3, 1, 0.0), (2, 5, 4, 50.0)];
        for (activation, (n, c, side, offset), strided) in ACTIVATIONS
            .iter()
            .flat_map(|&a| cases.map(|case| (a, case)))
            .flat_map(|(a, case)| [false, true].map(|strided| (a, case, strided)))
        {
            {
                let input: Vec<f32> = (0..n * c * side * side)
                    .map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0 + offset)
                    .collect();
                let gammas: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.75).collect();
                let betas: Vec<f32> = (0..c).map(|i| i as f32 * 0.5 - 1.0).collect();
                let run = |ours: bool| {
                    let shape = Shape {
                        n,
                        c,
                        pixels: side * side,
                    };
                    let x =
                        crate::cpu::test_input(input.clone(), [n, c, side, side], strided, &device);
                    let vector = |v: &Vec<f32>| {
                        Param::from_tensor(Tensor::<1>::from_data(
                            TensorData::new(v.clone(), [c]),
                            &device,
                        ))
                    };
                    let (gamma, beta) = (vector(&gammas), vector(&betas));
                    let (y, mean, variance) = if ours {
                        let (y, statistics) = flex::batch_norm_activation(
                            &x.val(),
                            &gamma.val(),
                            &beta.val(),
                            1e-5,
                            activation,
                            shape,
                        )
                        .expect("an autodiff flex device runs our kernels");
                        (y, statistics.mean, statistics.variance)
                    } else {
                        let (y, mean, variance) =
                            composite(x.val(), gamma.val(), beta.val(), 1e-5, activation);
                        (y, values(mean), values(variance))
                    };
                    let dims = y.dims();
                    let weights: Vec<f32> = (0..dims.iter().product::<usize>())
                        .map(|i| (i % 7) as f32 - 3.0)
                        .collect();
                    let weights = Tensor::<4>::from_data(TensorData::new(weights, dims), &device);
                    let grads = (y.clone() * weights).sum().backward();
                    [
                        values(y),
                        mean,
                        variance,
                        values(x.val().grad(&grads).unwrap()),
                        values(gamma.val().grad(&grads).unwrap()),
                        values(beta.val().grad(&grads).unwrap()),
                    ]
                };
                let (ours, theirs) = (run(true), run(false));
                for (i, what) in ["output", "mean", "variance", "∂x", "∂γ", "∂β"]
                    .iter()
                    .enumerate()
                {
                    close(
                        &ours[i],
                        &theirs[i],
                        &format!(
                            "{activation:?}, {n}×{c}×{side}², offset {offset}, \
                             strided {strided}: {what}"
                        ),
                    );
                }
            }
        }
    }

    /// The public entry runs the kernels on plain flex too: the statistics of a known input.
    #[test]
    fn plain_flex_runs_the_kernels() {
        let x = Tensor::<4>::from_data(
            TensorData::new((0..24).map(|i| i as f32).collect::<Vec<_>>(), [2, 3, 2, 2]),
            &Device::flex(),
        );
        let ones = Tensor::<1>::ones([3], &Device::flex());
        let zeros = Tensor::<1>::zeros([3], &Device::flex());
        let (y, mean, _) = batch_norm_activation(x, ones, zeros, 1e-5, Activation::Relu);
        assert_eq!(values(mean), vec![7.5, 11.5, 15.5]);
        assert!(values(y).iter().all(|&v| v >= 0.0));
    }
}
