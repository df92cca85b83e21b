//! The 45-value topology vector of a network in the OFA MobileNetV3 search space
//! (5 stages × up to 4 layers): 20 kernel sizes, 20 expand ratios, 5 stage depths.
//! Layers beyond a stage's depth are inactive and marked with 0.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TansError};

/// Stages in the search space.
pub const STAGES: usize = 5;
/// Most layers in one stage.
pub const MAX_DEPTH: usize = 4;
/// Length of the topology vector.
pub const TOPOLOGY_LEN: usize = 2 * STAGES * MAX_DEPTH + STAGES;

/// Kernel sizes, expand ratios and stage depths a topology may choose.
pub const KERNELS: [u8; 3] = [3, 5, 7];
pub const EXPANDS: [u8; 3] = [3, 4, 6];
pub const DEPTHS: [u8; 3] = [2, 3, 4];

/// A validated topology vector: `[kernel × 20, expand × 20, depth × 5]`, 0 for inactive layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct Topology([u8; TOPOLOGY_LEN]);

impl Topology {
    /// Builds a topology from per-layer kernels and expand ratios and per-stage depths;
    /// entries past a stage's depth are ignored and stored as 0.
    pub fn new(
        kernels: [u8; STAGES * MAX_DEPTH],
        expands: [u8; STAGES * MAX_DEPTH],
        depths: [u8; STAGES],
    ) -> Result<Self> {
        let mut values = [0u8; TOPOLOGY_LEN];
        for (stage, &depth) in depths.iter().enumerate() {
            for layer in 0..usize::from(depth).min(MAX_DEPTH) {
                let i = stage * MAX_DEPTH + layer;
                values[i] = kernels[i];
                values[STAGES * MAX_DEPTH + i] = expands[i];
            }
            values[2 * STAGES * MAX_DEPTH + stage] = depth;
        }
        Self::try_from(values.to_vec())
    }

    /// Every layer with `kernel` and `expand`, every stage `depth` deep.
    pub fn uniform(kernel: u8, expand: u8, depth: u8) -> Result<Self> {
        Self::new(
            [kernel; STAGES * MAX_DEPTH],
            [expand; STAGES * MAX_DEPTH],
            [depth; STAGES],
        )
    }

    /// The largest network of the space (kernel 7, expand 6, depth 4).
    pub fn largest() -> Self {
        Self::uniform(7, 6, 4).expect("valid choices")
    }

    /// The smallest network of the space (kernel 3, expand 3, depth 2).
    pub fn smallest() -> Self {
        Self::uniform(3, 3, 2).expect("valid choices")
    }

    /// The raw values.
    pub fn values(&self) -> &[u8; TOPOLOGY_LEN] {
        &self.0
    }

    /// Active layers of `stage`.
    pub fn depth(&self, stage: usize) -> usize {
        usize::from(self.0[2 * STAGES * MAX_DEPTH + stage])
    }

    /// Kernel size of layer `layer` of `stage` (0 when inactive).
    pub fn kernel(&self, stage: usize, layer: usize) -> usize {
        usize::from(self.0[stage * MAX_DEPTH + layer])
    }

    /// Expand ratio of layer `layer` of `stage` (0 when inactive).
    pub fn expand(&self, stage: usize, layer: usize) -> usize {
        usize::from(self.0[STAGES * MAX_DEPTH + stage * MAX_DEPTH + layer])
    }

    /// Each part scaled to [0, 1] by its largest choice (kernel 7, expand 6, depth 4), so that
    /// no part dominates by the size of its integers; inactive layers stay 0.
    pub fn normalised(&self) -> [f32; TOPOLOGY_LEN] {
        let mut out = [0f32; TOPOLOGY_LEN];
        for (i, (&v, o)) in self.0.iter().zip(out.iter_mut()).enumerate() {
            let scale = match i / (STAGES * MAX_DEPTH) {
                0 => 7.0,
                1 => 6.0,
                _ => 4.0,
            };
            *o = f32::from(v) / scale;
        }
        out
    }
}

impl TryFrom<Vec<u8>> for Topology {
    type Error = TansError;

    fn try_from(values: Vec<u8>) -> Result<Self> {
        let values: [u8; TOPOLOGY_LEN] = values
            .as_slice()
            .try_into()
            .map_err(|_| TansError::dims("topology vector", TOPOLOGY_LEN, values.len()))?;
        for stage in 0..STAGES {
            let depth = values[2 * STAGES * MAX_DEPTH + stage];
            if !DEPTHS.contains(&depth) {
                return Err(TansError::invalid(
                    "topology",
                    format!("stage {stage} depth {depth} is not one of {DEPTHS:?}"),
                ));
            }
            for layer in 0..MAX_DEPTH {
                let i = stage * MAX_DEPTH + layer;
                let (kernel, expand) = (values[i], values[STAGES * MAX_DEPTH + i]);
                let active = layer < usize::from(depth);
                let ok = if active {
                    KERNELS.contains(&kernel) && EXPANDS.contains(&expand)
                } else {
                    kernel == 0 && expand == 0
                };
                if !ok {
                    return Err(TansError::invalid(
                        "topology",
                        format!(
                            "stage {stage} layer {layer} ({}) has kernel {kernel} and expand {expand}",
                            if active {
                                "active"
                            } else {
                                "inactive, must be 0"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(Self(values))
    }
}

impl From<Topology> for Vec<u8> {
    fn from(t: Topology) -> Self {
        t.0.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(kernel: u8, expand: u8, depth: u8) -> Topology {
        Topology::uniform(kernel, expand, depth).unwrap()
    }

    #[test]
    fn inactive_layers_are_marked_zero() {
        let t = uniform(5, 4, 2);
        assert_eq!(&t.values()[0..4], &[5, 5, 0, 0]);
        assert_eq!(&t.values()[20..24], &[4, 4, 0, 0]);
        assert_eq!(&t.values()[40..45], &[2; 5]);
    }

    #[test]
    fn normalised_parts_lie_in_unit_range() {
        let n = uniform(7, 6, 4).normalised();
        assert!(n.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        let n = uniform(3, 3, 2).normalised();
        assert!((n[0] - 3.0 / 7.0).abs() < 1e-6 && n[2] == 0.0);
    }

    #[test]
    fn rejects_bad_lengths_and_values() {
        assert_eq!(
            Topology::try_from(vec![3; 44]).unwrap_err().code(),
            "dimension_mismatch"
        );
        let mut bad = uniform(3, 3, 4).values().to_vec();
        bad[0] = 4;
        assert!(
            Topology::try_from(bad)
                .unwrap_err()
                .to_string()
                .contains("kernel 4")
        );
        let mut bad = uniform(3, 3, 2).values().to_vec();
        bad[3] = 3; // a kernel on an inactive layer
        assert!(Topology::try_from(bad).is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let t = uniform(5, 6, 3);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Topology>(&json).unwrap(), t);
        let tampered = json.replacen('5', "9", 1);
        assert!(serde_json::from_str::<Topology>(&tampered).is_err());
    }
}
