//! What the CPU training kernels ([`crate::depthwise_training`], [`crate::norm_training`])
//! share: images in parallel, whether the CPU has AVX2, a cache-friendly transpose, and
//! reading and making burn flex tensors.

#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

/// Runs `f` over `(index, chunk)` of `data`, in parallel where threads exist.
pub(crate) fn for_each_chunk<T: Send>(
    data: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    #[cfg(not(target_arch = "wasm32"))]
    data.par_chunks_mut(size)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
    #[cfg(target_arch = "wasm32")]
    data.chunks_mut(size)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}

/// How many threads [`for_each_chunk`] runs on.
pub(crate) fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    return 1;
}

/// `values` (`[rows, cols]`) as `[cols, rows]` into `out`, in 8 × 8 tiles: written column by
/// column, a whole transpose stores at a stride of `rows` floats, which for the power-of-two
/// pixel counts of supernet planes keeps evicting its own cache lines.
pub(crate) fn transpose_into(values: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    const TILE: usize = 8;
    assert!(values.len() >= rows * cols && out.len() >= rows * cols);
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for r in r0..r1 {
                for (c, &v) in (c0..c1).zip(&values[r * cols + c0..r * cols + c1]) {
                    out[c * rows + r] = v;
                }
            }
        }
    }
}

/// Whether the CPU has AVX2 and FMA, for which each kernel's hot loop has a second copy
/// compiled (`#[target_feature]` on a function of its own: a closure run under a
/// target-feature function is not compiled for those features).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Defines a function twice: as written, and compiled with AVX2 + FMA, which it runs where
/// the CPU has them. The body must call only `#[inline(always)]` functions in its hot loop:
/// neither closures nor other functions are compiled for the features of the function they
/// are called from.
macro_rules! avx2_twin {
    (
        $(#[$meta:meta])*
        fn $name:ident $(<$($generic:ident: $bound:path),*>)? ($($arg:ident: $ty:ty),* $(,)?)
            $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        fn $name $(<$($generic: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body $(<$($generic: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            if $crate::cpu::has_avx2() {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2 $(<$($generic: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    body $(::<$($generic),*>)? ($($arg),*)
                }
                // SAFETY: the CPU has the features `avx2` is compiled for.
                return unsafe { avx2 $(::<$($generic),*>)? ($($arg),*) };
            }
            body $(::<$($generic),*>)? ($($arg),*)
        }
    };
}
pub(crate) use avx2_twin;

/// A flex tensor's values, dense: the tensor itself where it is already, a copy otherwise
/// (read them with [`values`]).
#[cfg(feature = "cpu-training")]
pub(crate) fn dense(t: &burn::backend::flex::FlexTensor) -> burn::backend::flex::FlexTensor {
    t.to_contiguous()
}

/// The values of a [`dense`] f32 flex tensor.
#[cfg(feature = "cpu-training")]
pub(crate) fn values(t: &burn::backend::flex::FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("dense f32 flex tensors")
}

/// A flex tensor of `values` in `shape`.
#[cfg(feature = "cpu-training")]
pub(crate) fn tensor(
    values: Vec<f32>,
    shape: impl Into<burn::tensor::Shape>,
) -> burn::backend::flex::FlexTensor {
    burn::backend::flex::FlexTensor::from_data(burn::backend::TensorData::new(values, shape))
}

/// A test input `[n, c, h, w]` as a parameter, stored channels-first or, with `channels_last`,
/// stored channels-last and viewed channels-first: the two layouts the kernels accept.
#[cfg(all(test, feature = "cpu-training"))]
pub(crate) fn test_input(
    values: Vec<f32>,
    dims: [usize; 4],
    channels_last: bool,
    device: &burn::tensor::Device,
) -> burn::module::Param<burn::tensor::Tensor<4>> {
    use burn::tensor::{Tensor, TensorData};
    let x = Tensor::<4>::from_data(TensorData::new(values, dims), device);
    burn::module::Param::from_tensor(if channels_last {
        Tensor::<4>::from_data(x.permute([0, 2, 3, 1]).into_data(), device).permute([0, 3, 1, 2])
    } else {
        x
    })
}
