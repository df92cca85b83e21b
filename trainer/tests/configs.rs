//! The configurations shipped in `trainer/configs/` load as what their names say, and the
//! default zoo's file is exactly the built-in default.

use std::path::{Path, PathBuf};

use tans_trainer::meta::transfer::TransferConfig;
use tans_trainer::zoo::build::BuildConfig;

fn shipped(prefix: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".toml")
        })
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_shipped_configuration_loads() {
    let zoos = shipped("zoo-");
    let transfers = shipped("transfer-");
    assert!(
        zoos.len() >= 2 && !transfers.is_empty(),
        "{zoos:?} {transfers:?}"
    );
    for path in &zoos {
        BuildConfig::load(Some(path)).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    }
    for path in &transfers {
        TransferConfig::load(Some(path)).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    }
    let zoo = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(name);
        BuildConfig::load(Some(&path)).unwrap()
    };
    assert_eq!(zoo("zoo-default.toml"), BuildConfig::default());
    assert_ne!(zoo("zoo-quick.toml"), BuildConfig::default());
}
