//! A small pool from the shipped fixture fonts: the same seed gives byte-identical trees, and a
//! build killed half-way resumes to the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tans_data::families::glyphs::{self, GlyphConfig};
use tans_data::manifest::MANIFEST;
use tans_data::pool::{self, packed_path};
use tans_data::task::Stage;
use tans_data::{PoolConfig, preview};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Two "fonts" per script (one file under two names): Lycian (29 letters) and Lydian (26).
fn fonts(dir: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    for script in ["Lycian", "Lydian"] {
        for copy in ["A", "B"] {
            let path = dir.join(format!("{script}{copy}.ttf"));
            fs::copy(fixture(&format!("NotoSans{script}-Regular.ttf")), &path).unwrap();
            out.push(path);
        }
    }
    out
}

fn config() -> PoolConfig {
    PoolConfig {
        image_size: 16,
        train_per_class: 6,
        test_per_class: 2,
        seed: 11,
    }
}

fn build(fonts: &[PathBuf], root: &Path) -> tans_data::manifest::PoolManifest {
    let glyph_config = GlyphConfig {
        classes_per_task: 5,
        max_tasks_per_script: 2,
        ..GlyphConfig::default()
    };
    let (tasks, dropped) = glyphs::tasks(fonts, &glyph_config, config().seed);
    pool::build(&tasks, dropped, Vec::new(), root, &config(), false).unwrap()
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

#[test]
fn same_seed_same_bytes_and_a_killed_build_resumes() {
    let dir = std::env::temp_dir().join(format!("tans-pool-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let fonts = fonts(&dir.join("fonts"));
    let (a, b) = (dir.join("a"), dir.join("b"));
    let manifest = build(&fonts, &a);
    build(&fonts, &b);

    assert_eq!(manifest.tasks.len(), 4, "two 5-class tasks per script");
    assert!(
        manifest
            .tasks
            .iter()
            .all(|t| t.stage == Stage::MetaTrain && t.classes.len() == 5)
    );
    assert!(
        manifest
            .tasks
            .iter()
            .all(|t| t.train_images == 30 && t.test_images == 10)
    );
    let tree_a = tree(&a);
    assert_eq!(
        tree_a.len(),
        4 * 5 * 8 + 2 * 4 + 1,
        "PNGs, packed files and their records, manifest"
    );
    assert_eq!(tree_a, tree(&b), "same seed, same bytes");

    // Kill mid-build: one task lost, one half-written, the manifest not yet written.
    let first = &manifest.tasks[0].name;
    let untouched = packed_path(&b, &manifest.tasks[3].name);
    let modified = fs::metadata(&untouched).unwrap().modified().unwrap();
    fs::remove_dir_all(b.join(first)).unwrap();
    fs::remove_file(packed_path(&b, first)).unwrap();
    fs::create_dir_all(
        b.join(format!(".partial-{}", manifest.tasks[1].name))
            .join("junk"),
    )
    .unwrap();
    fs::remove_file(b.join(MANIFEST)).unwrap();
    build(&fonts, &b);
    assert_eq!(tree_a, tree(&b), "resumed build, same bytes");
    assert_eq!(
        fs::metadata(&untouched).unwrap().modified().unwrap(),
        modified,
        "finished tasks are reused"
    );

    // Other inputs (a different seed) rebuild every task rather than reuse stale ones.
    let reseeded = PoolConfig {
        seed: 12,
        ..config()
    };
    let glyph_config = GlyphConfig {
        classes_per_task: 5,
        max_tasks_per_script: 2,
        ..GlyphConfig::default()
    };
    let (tasks, dropped) = glyphs::tasks(&fonts, &glyph_config, reseeded.seed);
    pool::build(&tasks, dropped, Vec::new(), &b, &reseeded, false).unwrap();
    assert_ne!(
        fs::metadata(&untouched).unwrap().modified().unwrap(),
        modified,
        "stale tasks are rebuilt"
    );

    // Tasks a later build no longer makes are removed; anything else in the folder stays.
    fs::write(b.join("notes.txt"), "mine").unwrap();
    let fewer = GlyphConfig {
        classes_per_task: 5,
        max_tasks_per_script: 1,
        ..GlyphConfig::default()
    };
    let (tasks, dropped) = glyphs::tasks(&fonts, &fewer, reseeded.seed);
    let manifest = pool::build(&tasks, dropped, Vec::new(), &b, &reseeded, false).unwrap();
    assert_eq!(manifest.tasks.len(), 2);
    let left: Vec<String> = fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2 + 3,
        "two tasks, .packed, pool.json, notes.txt: {left:?}"
    );
    assert_eq!(
        fs::read_dir(b.join(pool::PACKED_DIR)).unwrap().count(),
        2 * 2
    );

    // Any consumer reads the pool back, generated or as a plain ImageFolder.
    let packed = pool::open(&a, 16).unwrap();
    assert_eq!(packed.len(), 4);
    fs::remove_file(a.join(MANIFEST)).unwrap();
    fs::remove_dir_all(a.join(pool::PACKED_DIR)).unwrap();
    let decoded = pool::open(&a, 16).unwrap();
    assert_eq!(decoded.len(), 4);
    assert_eq!(
        decoded[0].task.train_images, packed[0].task.train_images,
        "PNG round trip is lossless"
    );
    assert_eq!(
        preview::contact_sheet(&packed[0].task).height(),
        5 * (16 * 2 + 2)
    );
    fs::remove_dir_all(dir).unwrap();
}
