//! Builds a pool from task specs: renders each source once, draws seeded augmented views (or
//! resizes real images), and writes `<root>/<task>/{train,test}/<class>/NNNN.png` plus
//! `<root>/.packed/<task>.safetensors`. Tasks are built in parallel, each from its own seed, so
//! the result does not depend on scheduling; a task is written under a temporary name and
//! renamed when complete, so a killed build resumes where it stopped.

use std::fs;
use std::path::{Path, PathBuf};

use image::{RgbImage, Rgba, RgbaImage};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::augment::{resize_rgb, view};
use crate::error::{DataError, IoContext, Result};
use crate::files::write_atomic;
use crate::manifest::{GENERATOR, MANIFEST, PoolManifest, TaskEntry};
use crate::packed::PackedTask;
use crate::sources::SourcePackage;
use crate::task::{Source, TaskSpec, check_disjoint};
use crate::{Dropped, PoolConfig, seed_for};

/// Hidden folder of packed tasks; ImageFolder readers skip dot-folders.
pub const PACKED_DIR: &str = ".packed";

pub fn packed_path(root: &Path, task: &str) -> PathBuf {
    root.join(PACKED_DIR).join(format!("{task}.safetensors"))
}

/// The `count` views of one split of a class, how many sources they come from, and the sources
/// that failed to render. No more than `count` sources are rendered: views cycle over them.
fn views(
    sources: &[Source],
    count: usize,
    spec: &TaskSpec,
    config: &PoolConfig,
    rng: &mut StdRng,
) -> (Vec<RgbImage>, usize, Vec<Dropped>) {
    let mut skipped = Vec::new();
    let mut rendered: Vec<RgbaImage> = Vec::new();
    for source in sources {
        if rendered.len() == count {
            break;
        }
        match source.render(config.image_size * 4) {
            Ok(image) => rendered.push(image),
            Err(reason) => skipped.push(Dropped::new(source.id(), reason)),
        }
    }
    let images = match (&spec.augment, rendered.is_empty()) {
        (_, true) => Vec::new(),
        (Some(augment), false) => (0..count)
            .map(|i| {
                view(
                    &rendered[i % rendered.len()],
                    config.image_size,
                    augment,
                    rng,
                )
            })
            .collect(),
        (None, false) => rendered
            .iter()
            .map(|image| resize_rgb(image, config.image_size, Rgba([0, 0, 0, 255])))
            .collect(),
    };
    (images, rendered.len(), skipped)
}

/// What a finished task leaves beside its packed file, so a resumed build can reuse it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Built {
    /// [`fingerprint`] of the spec and config the task was built from.
    fingerprint: String,
    entry: TaskEntry,
    skipped: Vec<Dropped>,
}

fn record_path(root: &Path, task: &str) -> PathBuf {
    root.join(PACKED_DIR).join(format!("{task}.json"))
}

/// What a task's bytes depend on: generator version, pool config, augmentation, classes and
/// every source id. A finished task is reused only while this is unchanged.
fn fingerprint(spec: &TaskSpec, config: &PoolConfig) -> String {
    let mut text = format!(
        "{GENERATOR}\n{config:?}\n{:?}\n{:?}\n",
        spec.augment, spec.stage
    );
    for class in &spec.classes {
        text.push_str(&format!("{} {}\n", class.name, class.concept));
        for source in class.train.iter().chain(&class.test) {
            text.push_str(&source.id());
            text.push('\n');
        }
    }
    format!("{:016x}", crate::seed_for(0, &text))
}

/// The record of `spec` from an earlier run, if that run finished it from the same inputs.
fn finished(root: &Path, spec: &TaskSpec, config: &PoolConfig) -> Option<Built> {
    let task = &spec.name;
    let built: Built = serde_json::from_slice(&fs::read(record_path(root, task)).ok()?).ok()?;
    let complete = root.join(task).is_dir() && packed_path(root, task).is_file();
    (complete && built.fingerprint == fingerprint(spec, config)).then_some(built)
}

fn build_task(
    spec: &TaskSpec,
    root: &Path,
    config: &PoolConfig,
) -> Result<std::result::Result<Built, Dropped>> {
    let mut rng = StdRng::seed_from_u64(seed_for(config.seed, &spec.name));
    let mut skipped = Vec::new();
    let mut packed = PackedTask {
        name: spec.name.clone(),
        classes: spec.classes.iter().map(|c| c.name.clone()).collect(),
        image_size: config.image_size,
        train_images: Vec::new(),
        train_labels: Vec::new(),
        test_images: Vec::new(),
        test_labels: Vec::new(),
    };
    let partial = root.join(format!(".partial-{}", spec.name));
    if partial.exists() {
        fs::remove_dir_all(&partial).at(&partial)?;
    }
    let (mut train_sources, mut test_sources) = (0, 0);
    for (label, class) in spec.classes.iter().enumerate() {
        for (split, sources, count) in [
            ("train", &class.train, config.train_per_class),
            ("test", &class.test, config.test_per_class),
        ] {
            let (images, used, failed) = views(sources, count, spec, config, &mut rng);
            skipped.extend(failed);
            if images.len() < count.div_ceil(2) {
                return Ok(Err(Dropped::new(
                    spec.name.clone(),
                    format!(
                        "class {} has {} {split} images, fewer than half of {count}",
                        class.name,
                        images.len()
                    ),
                )));
            }
            let dir = partial.join(split).join(&class.name);
            fs::create_dir_all(&dir).at(&dir)?;
            for (i, image) in images.iter().enumerate() {
                let path = dir.join(format!("{i:04}.png"));
                image.save(&path).map_err(|e| DataError::input(&path, e))?;
            }
            let (pixels, labels) = if split == "train" {
                train_sources += used;
                (&mut packed.train_images, &mut packed.train_labels)
            } else {
                test_sources += used;
                (&mut packed.test_images, &mut packed.test_labels)
            };
            for image in &images {
                pixels.extend_from_slice(image.as_raw());
                labels.push(label as i64);
            }
        }
    }
    let packed_file = packed_path(root, &spec.name);
    write_atomic(&packed_file, &packed.to_bytes()?)?;
    let built = Built {
        fingerprint: fingerprint(spec, config),
        entry: TaskEntry {
            name: spec.name.clone(),
            family: spec.family.clone(),
            stage: spec.stage,
            classes: packed.classes,
            train_images: packed.train_labels.len(),
            test_images: packed.test_labels.len(),
            train_sources,
            test_sources,
        },
        skipped,
    };
    let record = serde_json::to_vec_pretty(&built).expect("plain data");
    write_atomic(&record_path(root, &spec.name), &record)?;
    let done = root.join(&spec.name);
    if done.exists() {
        fs::remove_dir_all(&done).at(&done)?;
    }
    fs::rename(&partial, &done).at(&done)?;
    Ok(Ok(built))
}

/// Removes the tasks an earlier build made (those with a record) that `specs` no longer holds,
/// so the ImageFolder tree shows exactly the pool. Nothing without a record is touched.
fn remove_stale_tasks(root: &Path, specs: &[TaskSpec]) -> Result<()> {
    let packed = root.join(PACKED_DIR);
    for entry in fs::read_dir(&packed).at(&packed)? {
        let path = entry.at(&packed)?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if specs.iter().any(|s| s.name == name) {
            continue;
        }
        let dir = root.join(name);
        if dir.is_dir() {
            fs::remove_dir_all(&dir).at(&dir)?;
        }
        let file = packed_path(root, name);
        if file.exists() {
            fs::remove_file(&file).at(&file)?;
        }
        fs::remove_file(&path).at(&path)?;
    }
    Ok(())
}

/// Builds every task of `specs` under `root` and writes `pool.json`. Tasks an earlier run
/// finished from the same inputs (folder, packed file and record present) are kept.
pub fn build(
    specs: &[TaskSpec],
    mut dropped: Vec<Dropped>,
    sources: Vec<SourcePackage>,
    root: &Path,
    config: &PoolConfig,
    show_progress: bool,
) -> Result<PoolManifest> {
    check_disjoint(specs)
        .map_err(|e| DataError::input(root, format!("the pool would leak: {e}")))?;
    fs::create_dir_all(root.join(PACKED_DIR)).at(root)?;
    let progress = if show_progress {
        ProgressBar::new(specs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tasks, {elapsed} elapsed, ETA {eta} {msg}",
        )
        .expect("a valid template"),
    );
    let results: Vec<Result<std::result::Result<Built, Dropped>>> = specs
        .par_iter()
        .map(|spec| {
            let result = match finished(root, spec, config) {
                Some(built) => Ok(Ok(built)),
                None => build_task(spec, root, config),
            };
            progress.inc(1);
            progress.set_message(spec.name.clone());
            result
        })
        .collect();
    progress.finish_and_clear();
    remove_stale_tasks(root, specs)?;
    let mut tasks = Vec::new();
    let mut skipped_images = Vec::new();
    for result in results {
        match result? {
            Ok(built) => {
                tasks.push(built.entry);
                skipped_images.extend(built.skipped);
            }
            Err(reason) => dropped.push(reason),
        }
    }
    skipped_images.sort_by(|a, b| a.what.cmp(&b.what));
    tasks.sort_by(|a, b| a.name.cmp(&b.name));
    let manifest = PoolManifest {
        generator: GENERATOR.into(),
        config: config.clone(),
        sources,
        tasks,
        dropped,
        skipped_images,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("plain data");
    write_atomic(&root.join(MANIFEST), json.as_bytes())?;
    Ok(manifest)
}

/// A task of an opened pool.
#[derive(Debug, Clone)]
pub struct OpenedTask {
    pub task: PackedTask,
    /// Images that could not be decoded (plain ImageFolders only).
    pub skipped: Vec<Dropped>,
    /// Things about the folder worth a look (stray files, a missing test split).
    pub warnings: Vec<String>,
}

/// A pool's tasks in packed form, whatever made the pool: a generated pool is read from its
/// packed files; any other ImageFolder tree of tasks is decoded (to `image_size`) and checked.
pub fn open(root: &Path, image_size: u32) -> Result<Vec<OpenedTask>> {
    let manifest: Option<PoolManifest> = fs::read(root.join(MANIFEST))
        .ok()
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| DataError::input(root.join(MANIFEST), e))
        })
        .transpose()?;
    if let Some(manifest) = manifest {
        return manifest
            .tasks
            .iter()
            .map(|t| {
                Ok(OpenedTask {
                    task: PackedTask::read(&packed_path(root, &t.name))?,
                    skipped: Vec::new(),
                    warnings: Vec::new(),
                })
            })
            .collect();
    }
    crate::folder::read_tasks(root)?
        .into_iter()
        .map(|task| {
            let (packed, skipped) = crate::folder::pack(&task, image_size)?;
            Ok(OpenedTask {
                task: packed,
                skipped,
                warnings: task.warnings,
            })
        })
        .collect()
}
