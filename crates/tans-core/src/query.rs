//! A batch of query sets (datasets) as plain data: per-image features stored class by class, the
//! size of every class, and the averaging matrix that pools classes into sets. Validated here, so the
//! networks never see ragged, empty or non-finite input.

use std::collections::BTreeMap;

use crate::error::{Result, TansError, ensure_finite};

/// One dataset: `n × F` features, row-major, and optional class labels (one per instance).
#[derive(Debug, Clone, Copy)]
pub struct QuerySet<'a> {
    pub features: &'a [f32],
    pub labels: Option<&'a [u32]>,
}

/// Several query sets, validated and flattened for the query encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryBatch {
    feature_dim: usize,
    /// `[instances, F]`, the instances of each class in one run of rows, classes in order.
    features: Vec<f32>,
    /// Instances per class, in row order.
    class_sizes: Vec<usize>,
    set_pool: Vec<f32>,
    sets: usize,
}

impl QueryBatch {
    /// Validates and flattens `sets`. Without labels a set is one class, so class-wise then
    /// set-wise pooling reduces to the plain mean over the set.
    pub fn new(feature_dim: usize, sets: &[QuerySet<'_>]) -> Result<Self> {
        if feature_dim == 0 {
            return Err(TansError::invalid("feature dimension", "must be > 0"));
        }
        if sets.is_empty() {
            return Err(TansError::empty("query batch"));
        }
        let mut members: Vec<Vec<usize>> = Vec::new(); // instances of each class
        let mut set_classes: Vec<std::ops::Range<usize>> = Vec::new();
        let mut given = 0; // instances before this set
        for (s, set) in sets.iter().enumerate() {
            let what = format!("query set {s}");
            if set.features.is_empty() {
                return Err(TansError::empty(format!("{what} (no images)")));
            }
            if !set.features.len().is_multiple_of(feature_dim) {
                return Err(TansError::dims(
                    format!("{what} features"),
                    format!("a multiple of the feature dimension {feature_dim}"),
                    format!("{} values", set.features.len()),
                ));
            }
            ensure_finite(&format!("{what} features"), set.features)?;
            let n = set.features.len() / feature_dim;
            let first_class = members.len();
            match set.labels {
                None => members.push((given..given + n).collect()),
                Some(labels) => {
                    if labels.len() != n {
                        return Err(TansError::dims(format!("{what} labels"), n, labels.len()));
                    }
                    let mut by_label: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
                    for (i, &label) in labels.iter().enumerate() {
                        by_label.entry(label).or_default().push(given + i);
                    }
                    members.extend(by_label.into_values());
                }
            }
            set_classes.push(first_class..members.len());
            given += n;
        }
        // Instances are stored class by class, so pooling a class is the mean of one run of rows.
        let rows: Vec<&[f32]> = sets
            .iter()
            .flat_map(|set| set.features.chunks_exact(feature_dim))
            .collect();
        let features: Vec<f32> = members
            .iter()
            .flatten()
            .flat_map(|&i| rows[i].iter().copied())
            .collect();
        let class_sizes = members.iter().map(Vec::len).collect();
        let mut set_pool = vec![0f32; sets.len() * members.len()];
        for (s, range) in set_classes.iter().enumerate() {
            for c in range.clone() {
                set_pool[s * members.len() + c] = 1.0 / range.len() as f32;
            }
        }
        Ok(Self {
            feature_dim,
            features,
            class_sizes,
            set_pool,
            sets: sets.len(),
        })
    }

    /// One dataset.
    pub fn single(feature_dim: usize, features: &[f32], labels: Option<&[u32]>) -> Result<Self> {
        Self::new(feature_dim, &[QuerySet { features, labels }])
    }

    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }
    pub fn features(&self) -> &[f32] {
        &self.features
    }
    /// Instances per class: class `c` is the next `class_sizes()[c]` rows of [`Self::features`].
    pub fn class_sizes(&self) -> &[usize] {
        &self.class_sizes
    }
    /// The `[classes, instances]` matrix whose row `c` averages the instances of class `c`.
    pub fn class_pool(&self) -> Vec<f32> {
        let instances = self.instances();
        let mut pool = vec![0f32; self.classes() * instances];
        let mut first = 0;
        for (c, &n) in self.class_sizes.iter().enumerate() {
            pool[c * instances + first..c * instances + first + n].fill(1.0 / n as f32);
            first += n;
        }
        pool
    }
    pub fn set_pool(&self) -> &[f32] {
        &self.set_pool
    }
    pub fn instances(&self) -> usize {
        self.features.len() / self.feature_dim
    }
    pub fn classes(&self) -> usize {
        self.class_sizes.len()
    }
    pub fn sets(&self) -> usize {
        self.sets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pool_per_class_then_per_set() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 3 instances of dim 2
        let b = [7.0, 8.0];
        let batch = QueryBatch::new(
            2,
            &[
                QuerySet {
                    features: &a,
                    labels: Some(&[9, 1, 9]),
                },
                QuerySet {
                    features: &b,
                    labels: None,
                },
            ],
        )
        .unwrap();
        assert_eq!(
            (batch.instances(), batch.classes(), batch.sets()),
            (4, 3, 2)
        );
        // Class order is by label: label 1 = instance 1, label 9 = instances 0 and 2; rows are
        // stored class by class.
        assert_eq!(batch.class_sizes(), &[1, 2, 1]);
        assert_eq!(batch.features(), &[3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(&batch.class_pool()[0..4], &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(&batch.class_pool()[4..8], &[0.0, 0.5, 0.5, 0.0]);
        assert_eq!(&batch.class_pool()[8..12], &[0.0, 0.0, 0.0, 1.0]);
        assert_eq!(batch.set_pool(), &[0.5, 0.5, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn bad_input_is_named() {
        let err = QueryBatch::new(2, &[]).unwrap_err();
        assert_eq!(err.code(), "empty_input");
        let err = QueryBatch::single(2, &[], None).unwrap_err();
        assert!(err.to_string().contains("query set 0"), "{err}");
        let err = QueryBatch::single(2, &[1.0, 2.0, 3.0], None).unwrap_err();
        assert_eq!(err.code(), "dimension_mismatch");
        let err = QueryBatch::single(2, &[1.0, f32::NAN], None).unwrap_err();
        assert_eq!(err.code(), "non_finite");
        assert!(err.to_string().contains("index 1"), "{err}");
        let err = QueryBatch::single(2, &[1.0, 2.0], Some(&[0, 1])).unwrap_err();
        assert!(err.to_string().contains("labels"), "{err}");
        assert_eq!(
            QueryBatch::single(0, &[1.0], None).unwrap_err().code(),
            "invalid_argument"
        );
    }
}
