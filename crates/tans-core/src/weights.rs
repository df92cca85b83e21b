//! Weights as bytes: every network of the project is stored as a burnpack record with its
//! parameters numbered in module order, so the same weights always give the same bytes, and is
//! loaded back only into a module of exactly the same shapes.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Tensor};

use crate::error::{Result, TansError};

/// Renumbers parameters 1, 2, 3, … in module order. burn draws parameter ids at random and
/// burnpack stores them, so without this the same weights would serialise to different bytes.
struct SequentialParamIds(u64);

impl ModuleMapper for SequentialParamIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.0 += 1;
        Param::initialized(ParamId::from(self.0), param.val())
    }
}

/// The burnpack bytes of `module`; `what` names it in errors.
pub fn to_bytes<M: Module>(module: &M, what: &str) -> Result<Vec<u8>> {
    let bytes = module
        .clone()
        .map(&mut SequentialParamIds(0))
        .into_record()
        .into_bytes()
        .map_err(|e| TansError::load(what, e))?;
    Ok(bytes.to_vec())
}

/// `module` with the weights of `bytes`; fails, naming `what`, on a corrupt record or one with
/// missing tensors or other shapes.
pub fn load<M: Module>(module: M, bytes: &[u8], what: &str) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| TansError::load(what, e))?;
    module
        .try_load_record(record)
        .map_err(|e| TansError::load(what, e))
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    #[test]
    fn same_weights_same_bytes_and_other_shapes_are_refused() {
        let device = Device::flex();
        let linear: Linear = LinearConfig::new(3, 2).init(&device);
        let bytes = to_bytes(&linear, "linear").unwrap();
        // The same weights under other parameter ids serialise identically.
        let renumbered = linear.clone().map(&mut SequentialParamIds(1000));
        assert_eq!(to_bytes(&renumbered, "linear").unwrap(), bytes);
        let fresh: Linear = LinearConfig::new(3, 2).init(&device);
        let loaded = load(fresh, &bytes, "linear").unwrap();
        assert_eq!(to_bytes(&loaded, "linear").unwrap(), bytes);

        let other: Linear = LinearConfig::new(4, 2).init(&device);
        let error = load(other, &bytes, "the linear weights").unwrap_err();
        assert_eq!(error.code(), "load_failed");
        assert!(error.to_string().contains("the linear weights"), "{error}");
        let fresh: Linear = LinearConfig::new(3, 2).init(&device);
        assert!(load(fresh, &bytes[..bytes.len() / 2], "linear").is_err());
    }
}
