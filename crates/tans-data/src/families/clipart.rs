//! Clip art (Debian `openclipart-svg`, public domain), meta-train: every category folder with at
//! least [`MIN_FILES`] drawings of its own is a class; a class's drawings are split between train
//! and test. Classes are dealt into seeded tasks of up to 20.
//!
//! Left out: `recreation/games` (card decks and chess sets, which meta-test owns), `tools/weapons`
//! (weapons are the classes of the meta-test task `wesnoth-attacks`), `special` (gradients and
//! fill patterns, not drawings of things) and `unsorted`.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment::AugmentConfig;
use crate::error::Result;
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "clipart";
pub const SVG_ROOT: &str = "usr/share/openclipart/svg";
/// Category folders meta-train must not use.
pub const EXCLUDED: [&str; 4] = ["recreation/games", "tools/weapons", "special", "unsorted"];
const MIN_FILES: usize = 30;
const CLASSES_PER_TASK: usize = 20;
const MIN_CLASSES_PER_TASK: usize = 10;
/// Drawings kept per class and split (the views cycle over them).
const KEEP: (usize, usize) = (60, 15);

pub fn source(root: &Path, path: &Path) -> Source {
    Source::Svg {
        id: format!(
            "openclipart:{}",
            path.strip_prefix(root).unwrap_or(path).display()
        ),
        path: path.to_path_buf(),
    }
}

/// Clip-art tasks from the unpacked package.
pub fn tasks(package: &Path, seed: u64) -> Result<(Vec<TaskSpec>, Vec<Dropped>)> {
    let root = package.join(SVG_ROOT);
    let mut by_folder: std::collections::BTreeMap<String, Vec<std::path::PathBuf>> =
        Default::default();
    for path in super::files_below(&root, &["svg"])? {
        let folder = path
            .parent()
            .and_then(|p| p.strip_prefix(&root).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !folder.is_empty() && !EXCLUDED.iter().any(|x| folder.starts_with(x)) {
            by_folder.entry(folder).or_default().push(path);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed_for(seed, FAMILY));
    let mut classes: Vec<ClassSpec> = by_folder
        .into_iter()
        .filter(|(_, files)| files.len() >= MIN_FILES)
        .map(|(folder, mut files)| {
            let n_test = super::hold_out(&mut files, 2, &mut rng);
            let pick = |files: &[std::path::PathBuf], keep: usize| {
                files.iter().take(keep).map(|p| source(&root, p)).collect()
            };
            ClassSpec {
                name: folder.replace('/', "-"),
                concept: format!("clipart:{folder}"),
                test: pick(&files[..n_test], KEEP.1),
                train: pick(&files[n_test..], KEEP.0),
            }
        })
        .collect();
    classes.shuffle(&mut rng);
    let mut tasks = Vec::new();
    let mut dropped = Vec::new();
    for (k, chunk) in classes.chunks(CLASSES_PER_TASK).enumerate() {
        if chunk.len() < MIN_CLASSES_PER_TASK {
            dropped.push(Dropped::new(
                format!("{} clip-art classes", chunk.len()),
                format!("left over after tasks of {CLASSES_PER_TASK}"),
            ));
            continue;
        }
        tasks.push(TaskSpec::augmented(
            format!("{FAMILY}-{k}"),
            FAMILY,
            Stage::MetaTrain,
            AugmentConfig::OBJECTS,
            chunk.to_vec(),
        ));
    }
    Ok((tasks, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_folders_become_classes_and_excluded_ones_do_not() {
        let package = std::env::temp_dir().join(format!("tans-clipart-{}", std::process::id()));
        let root = package.join(SVG_ROOT);
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>"#;
        let folders: Vec<String> = (0..23)
            .map(|i| format!("things/kind{i}"))
            .chain(["recreation/games/cards/white".into(), "small".into()])
            .collect();
        for (i, folder) in folders.iter().enumerate() {
            let dir = root.join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            let count = if folder == "small" { 5 } else { 30 + i };
            for n in 0..count {
                std::fs::write(dir.join(format!("{n}.svg")), svg).unwrap();
            }
        }
        let (tasks, dropped) = tasks(&package, 1).unwrap();
        assert_eq!(tasks.len(), 1, "23 classes: one task of 20, 3 left over");
        assert_eq!(dropped.len(), 1);
        let task = &tasks[0];
        assert_eq!(task.classes.len(), 20);
        for class in &task.classes {
            assert!(class.name.starts_with("things-kind"), "{}", class.name);
            assert!(class.test.len() >= 6 && class.train.len() >= 24);
        }
        crate::task::check_disjoint(&tasks).unwrap();
        std::fs::remove_dir_all(package).unwrap();
    }
}
