//! OpenArena surface textures (Debian `openarena-081-textures`, GPL-2+) as a meta-test task:
//! classes are texture sets, read straight from the game's zip archive (`pak4-textures.pk3`).
//! Files are grouped by name stem (`atech1_alpha` and `atech2` are one group) and whole groups
//! go to train or test, so variants of one texture never straddle the split.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use image::ImageFormat;
use image::imageops::FilterType;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::augment::AugmentConfig;
use crate::error::{DataError, IoContext, Result};
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, PoolConfig, seed_for};

pub const FAMILY: &str = "openarena-textures";
const ARCHIVE: &str = "usr/share/games/openarena/baseoa/pak4-textures.pk3";
/// Effect, tool and flare folders rather than surfaces.
const NOT_SURFACES: [&str; 4] = ["sfx", "cosmo_sfx", "common", "flares"];
const MIN_FILES: usize = 15;
const MIN_GROUPS: usize = 3;
const CLASSES: usize = 20;
/// Textures are decoded at most this large (they are tiled surfaces; views are 32–64 px).
const DECODE_SIDE: u32 = 128;

/// The variant stem of a texture file, lower-cased: `atech` for `atech1_alpha.tga`.
fn group(file: &str) -> String {
    super::variant_stem(Path::new(file), &['_']).to_lowercase()
}

/// The texture task from the unpacked package.
pub fn task(package: &Path, config: &PoolConfig) -> Result<(TaskSpec, Vec<Dropped>)> {
    let path = package.join(ARCHIVE);
    let file = std::fs::File::open(&path).at(&path)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| DataError::input(&path, e))?;
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in archive.file_names() {
        let lower = name.to_lowercase();
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() == 3
            && parts[0] == "textures"
            && (lower.ends_with(".tga") || lower.ends_with(".jpg"))
        {
            sets.entry(parts[1].to_string())
                .or_default()
                .push(name.to_string());
        }
    }
    let mut dropped = Vec::new();
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    for (set, mut files) in sets {
        files.sort();
        let groups: std::collections::BTreeSet<String> = files.iter().map(|f| group(f)).collect();
        if NOT_SURFACES.contains(&set.as_str())
            || files.len() < MIN_FILES
            || groups.len() < MIN_GROUPS
        {
            dropped.push(Dropped::new(
                format!("texture set {set}"),
                format!(
                    "{} files in {} groups, or not a surface",
                    files.len(),
                    groups.len()
                ),
            ));
        } else {
            candidates.push((set, files));
        }
    }
    candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    candidates.truncate(CLASSES);
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = StdRng::seed_from_u64(seed_for(config.seed, FAMILY));
    let per_class = config.train_per_class + config.test_per_class;
    let mut classes = Vec::new();
    for (set, files) in candidates {
        let mut groups = super::group_by(files, |file| group(file));
        let n_test = super::hold_out(&mut groups, 1, &mut rng);
        let mut split = |groups: &[Vec<String>], limit: usize| -> Vec<Source> {
            let mut sources = Vec::new();
            for name in groups.iter().flatten().take(limit) {
                match decode(&mut archive, name) {
                    Ok(image) => sources.push(Source::Image {
                        id: format!("openarena:{name}"),
                        image: Arc::new(image),
                    }),
                    Err(reason) => dropped.push(Dropped::new(format!("openarena:{name}"), reason)),
                }
            }
            sources
        };
        let test = split(&groups[..n_test], per_class);
        let train = split(&groups[n_test..], per_class);
        classes.push(ClassSpec {
            name: set.clone(),
            concept: format!("openarena-texture:{set}"),
            train,
            test,
        });
    }
    let task = TaskSpec {
        name: FAMILY.into(),
        family: FAMILY.into(),
        stage: Stage::MetaTest,
        augment: Some(AugmentConfig::TEXTURES),
        classes,
    };
    Ok((task, dropped))
}

fn decode<R: std::io::Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> std::result::Result<image::RgbaImage, String> {
    let mut entry = archive.by_name(name).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let format = ImageFormat::from_path(name).map_err(|e| e.to_string())?;
    let image = image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| e.to_string())?
        .to_rgba8();
    let (w, h) = image.dimensions();
    Ok(if w.max(h) > DECODE_SIDE {
        let scale = DECODE_SIDE as f32 / w.max(h) as f32;
        image::imageops::resize(
            &image,
            ((w as f32 * scale) as u32).max(1),
            ((h as f32 * scale) as u32).max(1),
            FilterType::Triangle,
        )
    } else {
        image
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use image::{Rgba, RgbaImage};

    use super::*;
    use crate::task::check_disjoint;

    #[test]
    fn sets_become_classes_split_by_texture_group() {
        let root = std::env::temp_dir().join(format!("tans-textures-{}", std::process::id()));
        let archive = root.join(ARCHIVE);
        std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgba8(RgbaImage::from_pixel(300, 200, Rgba([9, 9, 9, 255])))
            .to_rgb8()
            .write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        for set in ["metal", "stone", "sfx"] {
            for group in ["plate", "grate", "panel", "rivet"] {
                for variant in ["1", "2_glow", "3", "4_alt"] {
                    zip.start_file(format!("textures/{set}/{group}{variant}.jpg"), options)
                        .unwrap();
                    zip.write_all(&jpeg).unwrap();
                }
            }
        }
        zip.start_file("textures/metal/broken.jpg", options)
            .unwrap();
        zip.write_all(b"not a jpeg").unwrap();
        zip.finish().unwrap();
        let config = PoolConfig {
            train_per_class: 6,
            test_per_class: 2,
            ..PoolConfig::default()
        };
        let (task, dropped) = task(&root, &config).unwrap();
        assert_eq!(task.stage, Stage::MetaTest);
        assert_eq!(
            task.classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            vec!["metal", "stone"]
        );
        let groups = |s: &[Source]| -> std::collections::BTreeSet<String> {
            s.iter().map(|s| group(&s.id())).collect()
        };
        for class in &task.classes {
            assert!(
                groups(&class.train).is_disjoint(&groups(&class.test)),
                "{}",
                class.name
            );
            if let Source::Image { image, .. } = &class.train[0] {
                assert_eq!(image.dimensions(), (128, 85), "decoded at most 128 px");
            }
        }
        assert!(dropped.iter().any(|d| d.what == "texture set sfx"));
        check_disjoint(&[task]).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
