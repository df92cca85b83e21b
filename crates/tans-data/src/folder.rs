//! Reads ImageFolder trees — `<root>/<task>/{train,test}/<class>/<image>` — the layout the
//! generated pool uses and the one researchers' own downloads (e.g. Kaggle) come in. Everything
//! a user may get wrong is named: a task with one class, an empty class, a test class unknown
//! to train are errors; files that are not images are warnings; images that fail to decode (or
//! are absurdly large) are skipped and reported.

use std::fs;
use std::path::{Path, PathBuf};

use image::{ImageReader, Limits, RgbImage, Rgba, RgbaImage};

use crate::Dropped;
use crate::augment::resize_rgb;
use crate::error::{DataError, IoContext, Result};
use crate::packed::PackedTask;

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "tga"];
/// Largest side decoded; larger images are skipped rather than risk running out of memory.
pub const MAX_SIDE: u32 = 8192;
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// One task of an ImageFolder tree, listed but not decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderTask {
    pub name: String,
    pub dir: PathBuf,
    pub classes: Vec<String>,
    /// `(image, class index)`, sorted by path.
    pub train: Vec<(PathBuf, usize)>,
    pub test: Vec<(PathBuf, usize)>,
    /// Files that are not images, and similar things worth a look.
    pub warnings: Vec<String>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .at(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .at(dir)?;
    entries.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
}

/// Lists one split: `(classes in folder order, images)`.
fn read_split(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut classes = Vec::new();
    for class_dir in sorted_entries(dir)? {
        if !class_dir.is_dir() {
            warnings.push(format!(
                "{}: not a class folder, ignored",
                class_dir.display()
            ));
            continue;
        }
        let mut images = Vec::new();
        for file in sorted_entries(&class_dir)? {
            if file.is_file() && is_image(&file) {
                images.push(file);
            } else {
                warnings.push(format!(
                    "{}: not a PNG, JPEG or TGA image, ignored",
                    file.display()
                ));
            }
        }
        if images.is_empty() {
            return Err(DataError::input(&class_dir, "class folder holds no images"));
        }
        let name = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        classes.push((name, images));
    }
    Ok(classes)
}

/// Reads `<dir>/{train,test}/<class>/*`.
pub fn read_task(dir: &Path) -> Result<FolderTask> {
    let mut warnings = Vec::new();
    let train_dir = dir.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::input(
            dir,
            "not an ImageFolder task: it has no train/ folder",
        ));
    }
    let train = read_split(&train_dir, &mut warnings)?;
    if train.len() < 2 {
        return Err(DataError::input(
            &train_dir,
            format!("{} class(es): a task needs at least 2", train.len()),
        ));
    }
    let classes: Vec<String> = train.iter().map(|(name, _)| name.clone()).collect();
    let test_dir = dir.join("test");
    let test = if test_dir.is_dir() {
        read_split(&test_dir, &mut warnings)?
    } else {
        warnings.push(format!(
            "{}: no test/ folder; the task has no test split",
            dir.display()
        ));
        Vec::new()
    };
    let index = |name: &str, split: &Path| {
        classes
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| DataError::input(split.join(name), "class is not in the train split"))
    };
    let flatten =
        |split: Vec<(String, Vec<PathBuf>)>, split_dir: &Path| -> Result<Vec<(PathBuf, usize)>> {
            let mut out = Vec::new();
            for (name, images) in split {
                let label = index(&name, split_dir)?;
                out.extend(images.into_iter().map(|p| (p, label)));
            }
            Ok(out)
        };
    Ok(FolderTask {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        train: flatten(train, &train_dir)?,
        test: flatten(test, &test_dir)?,
        classes,
        warnings,
    })
}

/// Every task folder below `root` (hidden folders skipped).
pub fn read_tasks(root: &Path) -> Result<Vec<FolderTask>> {
    let tasks: Vec<FolderTask> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|dir| read_task(&dir))
        .collect::<Result<_>>()?;
    if tasks.is_empty() {
        return Err(DataError::input(
            root,
            "holds no task folders (<task>/train/<class>/<image>)",
        ));
    }
    Ok(tasks)
}

/// Decodes any PNG, JPEG or TGA (grayscale, RGBA, 16-bit alike) to RGBA, refusing images past
/// [`MAX_SIDE`] before they are allocated.
pub fn decode_rgba(path: &Path) -> Result<RgbaImage> {
    let mut reader = ImageReader::open(path)
        .at(path)?
        .with_guessed_format()
        .at(path)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    Ok(reader
        .decode()
        .map_err(|e| DataError::input(path, e))?
        .to_rgba8())
}

/// [`decode_rgba`], transparency flattened over white, resized to `size × size`.
pub fn load_image(path: &Path, size: u32) -> Result<RgbImage> {
    Ok(resize_rgb(
        &decode_rgba(path)?,
        size,
        Rgba([255, 255, 255, 255]),
    ))
}

/// Decodes a folder task into packed form; images that fail to decode are skipped and returned.
pub fn pack(task: &FolderTask, size: u32) -> Result<(PackedTask, Vec<Dropped>)> {
    let mut skipped = Vec::new();
    let mut decode = |items: &[(PathBuf, usize)]| {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (path, label) in items {
            match load_image(path, size) {
                Ok(image) => {
                    pixels.extend_from_slice(image.as_raw());
                    labels.push(*label as i64);
                }
                Err(e) => skipped.push(Dropped::new(path.display().to_string(), e.to_string())),
            }
        }
        (pixels, labels)
    };
    let (train_images, train_labels) = decode(&task.train);
    let (test_images, test_labels) = decode(&task.test);
    if train_labels.is_empty() {
        return Err(DataError::input(
            &task.dir,
            "no train image could be decoded",
        ));
    }
    Ok((
        PackedTask {
            name: task.name.clone(),
            classes: task.classes.clone(),
            image_size: size,
            train_images,
            train_labels,
            test_images,
            test_labels,
        },
        skipped,
    ))
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, ImageBuffer, Luma};

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tans-folder-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn png(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbaImage::from_pixel(3, 2, Rgba([10, 20, 30, 255]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn reads_a_kaggle_style_task_and_warns_about_strays() {
        let root = temp("ok");
        let task = root.join("flowers");
        for split in ["train", "test"] {
            png(&task.join(split).join("daisy/a.png"));
            png(&task.join(split).join("rose/b.png"));
        }
        fs::write(task.join("train/daisy/notes.txt"), "x").unwrap();
        fs::write(task.join("train/daisy/.DS_Store"), "x").unwrap();
        let tasks = read_tasks(&root).unwrap();
        assert_eq!(tasks.len(), 1);
        let t = &tasks[0];
        assert_eq!(
            (t.name.as_str(), t.classes.clone()),
            ("flowers", vec!["daisy".to_string(), "rose".to_string()])
        );
        assert_eq!(t.train.len(), 2);
        assert_eq!(t.test[1].1, 1);
        assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
        assert!(t.warnings[0].contains("notes.txt"));
        let (packed, skipped) = pack(t, 4).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(packed.train_images.len(), 2 * 4 * 4 * 3);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn user_mistakes_are_named() {
        let root = temp("bad");
        png(&root.join("one/train/only/a.png"));
        let error = read_task(&root.join("one")).unwrap_err().to_string();
        assert!(
            error.contains("one/train") && error.contains("at least 2"),
            "{error}"
        );
        png(&root.join("empty/train/a/a.png"));
        fs::create_dir_all(root.join("empty/train/b")).unwrap();
        let error = read_task(&root.join("empty")).unwrap_err().to_string();
        assert!(
            error.contains("empty/train/b") && error.contains("no images"),
            "{error}"
        );
        png(&root.join("stray/train/a/a.png"));
        png(&root.join("stray/train/b/b.png"));
        png(&root.join("stray/test/c/c.png"));
        let error = read_task(&root.join("stray")).unwrap_err().to_string();
        assert!(error.contains("stray/test/c"), "{error}");
        assert!(
            read_task(&root.join("nothing"))
                .unwrap_err()
                .to_string()
                .contains("no train/")
        );
        let empty_root = temp("empty-root");
        assert!(
            read_tasks(&empty_root)
                .unwrap_err()
                .to_string()
                .contains("no task folders")
        );
        fs::remove_dir_all(root).unwrap();
        fs::remove_dir_all(empty_root).unwrap();
    }

    #[test]
    fn images_of_any_mode_decode_and_corrupt_ones_are_skipped() {
        let root = temp("modes");
        let dir = root.join("t/train/a");
        fs::create_dir_all(&dir).unwrap();
        GrayImage::from_pixel(1, 1, Luma([7]))
            .save(dir.join("gray.png"))
            .unwrap();
        let deep: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_pixel(5, 9, Luma([60000]));
        deep.save(dir.join("sixteen-bit.png")).unwrap();
        RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 0]))
            .save(dir.join("transparent.png"))
            .unwrap();
        fs::write(dir.join("corrupt.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        RgbaImage::new(MAX_SIDE + 1, 1)
            .save(dir.join("huge.png"))
            .unwrap();
        png(&root.join("t/train/b/b.png"));
        let task = read_task(&root.join("t")).unwrap();
        let (packed, skipped) = pack(&task, 4).unwrap();
        assert_eq!(packed.train_labels.len(), 4);
        let names: Vec<&str> = skipped
            .iter()
            .map(|d| d.what.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, vec!["corrupt.png", "huge.png"]);
        assert_eq!(
            load_image(&dir.join("transparent.png"), 2)
                .unwrap()
                .get_pixel(0, 0)
                .0,
            [255, 255, 255]
        );
        fs::remove_dir_all(root).unwrap();
    }
}
