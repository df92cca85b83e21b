//! One safetensors file per task, so training never decodes PNGs again: `train_images` and
//! `test_images` as u8 `[n, size, size, 3]`, `train_labels` and `test_labels` as i64 `[n]`, and
//! the task's name and class names in the header metadata (one key, so the bytes are
//! deterministic). Readable from Python with `safetensors.numpy.load_file`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, IoContext, Result};

/// A task's images in memory: row-major u8 RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedTask {
    pub name: String,
    pub classes: Vec<String>,
    pub image_size: u32,
    pub train_images: Vec<u8>,
    pub train_labels: Vec<i64>,
    pub test_images: Vec<u8>,
    pub test_labels: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    task: String,
    classes: Vec<String>,
    image_size: u32,
}

const METADATA_KEY: &str = "tans";

impl PackedTask {
    fn image_bytes(&self) -> usize {
        (self.image_size * self.image_size * 3) as usize
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bad = |e: safetensors::SafeTensorError| {
            DataError::input(format!("packed task {}", self.name), e)
        };
        let side = self.image_size as usize;
        let labels = |l: &[i64]| l.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let (train_labels, test_labels) = (labels(&self.train_labels), labels(&self.test_labels));
        let tensors = [
            (
                "test_images",
                TensorView::new(
                    Dtype::U8,
                    vec![self.test_labels.len(), side, side, 3],
                    &self.test_images,
                )
                .map_err(bad)?,
            ),
            (
                "test_labels",
                TensorView::new(Dtype::I64, vec![self.test_labels.len()], &test_labels)
                    .map_err(bad)?,
            ),
            (
                "train_images",
                TensorView::new(
                    Dtype::U8,
                    vec![self.train_labels.len(), side, side, 3],
                    &self.train_images,
                )
                .map_err(bad)?,
            ),
            (
                "train_labels",
                TensorView::new(Dtype::I64, vec![self.train_labels.len()], &train_labels)
                    .map_err(bad)?,
            ),
        ];
        let header = Header {
            task: self.name.clone(),
            classes: self.classes.clone(),
            image_size: self.image_size,
        };
        let metadata = HashMap::from([(
            METADATA_KEY.to_string(),
            serde_json::to_string(&header).expect("plain data"),
        )]);
        safetensors::serialize(tensors, Some(metadata)).map_err(bad)
    }

    /// Reads a packed task; `path` names it in errors (truncated, tampered or foreign files).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| DataError::input(path, reason);
        let (_, metadata) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a packed task: {e}")))?;
        let header: Header = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| bad(format!("no `{METADATA_KEY}` metadata")))
            .and_then(|json| serde_json::from_str(json).map_err(|e| bad(e.to_string())))?;
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a packed task: {e}")))?;
        let tensor = |name: &str, dtype: Dtype| {
            let view = tensors
                .tensor(name)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if view.dtype() != dtype {
                return Err(bad(format!(
                    "{name} is {:?}, expected {dtype:?}",
                    view.dtype()
                )));
            }
            Ok(view)
        };
        let labels = |name: &str| -> Result<Vec<i64>> {
            let view = tensor(name, Dtype::I64)?;
            Ok(view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect())
        };
        let task = Self {
            name: header.task,
            image_size: header.image_size,
            train_images: tensor("train_images", Dtype::U8)?.data().to_vec(),
            train_labels: labels("train_labels")?,
            test_images: tensor("test_images", Dtype::U8)?.data().to_vec(),
            test_labels: labels("test_labels")?,
            classes: header.classes,
        };
        for (images, labels, split) in [
            (&task.train_images, &task.train_labels, "train"),
            (&task.test_images, &task.test_labels, "test"),
        ] {
            if images.len() != labels.len() * task.image_bytes() {
                return Err(bad(format!(
                    "{split}: {} image bytes for {} labels",
                    images.len(),
                    labels.len()
                )));
            }
            if let Some(label) = labels
                .iter()
                .find(|&&l| l < 0 || l as usize >= task.classes.len())
            {
                return Err(bad(format!(
                    "{split}: label {label} outside the {} classes",
                    task.classes.len()
                )));
            }
        }
        Ok(task)
    }

    pub fn read(path: &Path) -> Result<Self> {
        Self::from_bytes(path, &std::fs::read(path).at(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> PackedTask {
        PackedTask {
            name: "t".into(),
            classes: vec!["a".into(), "b".into()],
            image_size: 2,
            train_images: (0..3 * 12).map(|i| i as u8).collect(),
            train_labels: vec![0, 1, 1],
            test_images: vec![7; 12],
            test_labels: vec![1],
        }
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let bytes = task().to_bytes().unwrap();
        assert_eq!(task().to_bytes().unwrap(), bytes, "deterministic");
        assert_eq!(
            PackedTask::from_bytes(Path::new("t.safetensors"), &bytes).unwrap(),
            task()
        );
    }

    #[test]
    fn truncated_or_inconsistent_files_are_refused_by_name() {
        let bytes = task().to_bytes().unwrap();
        let error = PackedTask::from_bytes(Path::new("cut.safetensors"), &bytes[..bytes.len() - 5])
            .unwrap_err();
        assert!(error.to_string().contains("cut.safetensors"), "{error}");
        let mut bad = task();
        bad.train_labels[0] = 5;
        let error = PackedTask::from_bytes(Path::new("x"), &bad.to_bytes().unwrap()).unwrap_err();
        assert!(error.to_string().contains("label 5"), "{error}");
    }
}
