//! Battle for Wesnoth art (Debian `wesnoth-1.16-data`, GPL-2+), in three families:
//! - `wesnoth-races` (meta-train): one task whose classes are races; each race's unit types are
//!   split between train and test, so test sprites show unit types never seen in training;
//! - `wesnoth-units` (meta-train): tasks of 20 unit types whose animation frames are split;
//! - `wesnoth-terrain` (meta-test): terrain types from their whole tiles (edge and transition
//!   pieces, named `<tile>-<direction>`, are left out), split by tile family (a tile and its
//!   numbered variants stay on one side);
//! - `wesnoth-attacks` (meta-test): attack icons by weapon (`sword`, `bow`, `fangs`, …), the
//!   variants of each weapon split. These are painted icons, not sprites or tiles, and weapons
//!   are no meta-train class (clip art leaves its weapons folder out), so the family is as far
//!   from meta-train as terrain is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment::AugmentConfig;
use crate::error::Result;
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

const IMAGES: &str = "usr/share/games/wesnoth/1.16/data/core/images";
const CLASSES_PER_TASK: usize = 20;
const MAX_UNIT_TASKS: usize = 3;
/// Fewest drawings of a weapon for it to be an attack class.
const MIN_ATTACK_VARIANTS: usize = 4;
/// Terrain folders that are overlays, masks or editor helpers rather than terrain types.
const NOT_TERRAIN: [&str; 11] = [
    "embellishments",
    "fog",
    "light",
    "map-specific",
    "masks",
    "misc",
    "off-map",
    "portals",
    "symbols",
    "void",
    "interior",
];

/// PNG files below `dir`, sorted.
fn pngs(dir: &Path) -> Result<Vec<PathBuf>> {
    super::files_below(dir, &["png"])
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The variant stem of a sprite or tile: `archer` for `archer+female-bow-attack1.png`, `dirt`
/// for `dirt2-ne.png`.
fn stem(path: &Path) -> String {
    super::variant_stem(path, &['-', '+'])
}

fn source(images: &Path, path: &Path) -> Source {
    let relative = path.strip_prefix(images).unwrap_or(path);
    Source::File {
        id: format!("wesnoth:{}", relative.display()),
        path: path.to_path_buf(),
    }
}

/// Groups `files` by [`stem`], shuffles the groups with `rng` and puts about a fifth of them
/// (at least one) in the test split.
fn split_by_stem(images: &Path, files: &[PathBuf], rng: &mut StdRng) -> (Vec<Source>, Vec<Source>) {
    let mut groups = super::group_by(files, |file| stem(file));
    let n_test = super::hold_out(&mut groups, 1, rng);
    let sources = |groups: &[Vec<&PathBuf>]| -> Vec<Source> {
        groups.iter().flatten().map(|p| source(images, p)).collect()
    };
    (sources(&groups[n_test..]), sources(&groups[..n_test]))
}

fn task(
    name: &str,
    family: &str,
    stage: Stage,
    augment: AugmentConfig,
    classes: Vec<ClassSpec>,
) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        family: family.into(),
        stage,
        augment: Some(augment),
        classes,
    }
}

/// The three Wesnoth families from the unpacked package.
pub fn tasks(package: &Path, seed: u64) -> Result<(Vec<TaskSpec>, Vec<Dropped>)> {
    let images = package.join(IMAGES);
    let mut tasks = Vec::new();
    let mut dropped = Vec::new();

    // Races: the largest races with at least 3 unit types.
    let mut rng = StdRng::seed_from_u64(seed_for(seed, "wesnoth-races"));
    let mut races: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for dir in super::subdirs(&images.join("units"))? {
        let files = pngs(&dir)?;
        let types: std::collections::BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
        if types.len() >= 3 && files.len() >= 40 {
            races.push((name(&dir), files));
        } else {
            dropped.push(Dropped::new(
                format!("wesnoth race {}", name(&dir)),
                format!("{} unit types, {} sprites", types.len(), files.len()),
            ));
        }
    }
    races.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    races.truncate(CLASSES_PER_TASK);
    races.sort_by(|a, b| a.0.cmp(&b.0));
    let classes = races
        .iter()
        .map(|(race, files)| {
            let (train, test) = split_by_stem(&images, files, &mut rng);
            ClassSpec {
                name: race.clone(),
                concept: format!("wesnoth-race:{race}"),
                train,
                test,
            }
        })
        .collect();
    tasks.push(task(
        "wesnoth-races",
        "wesnoth-races",
        Stage::MetaTrain,
        AugmentConfig::SPRITES,
        classes,
    ));

    // Unit types: every type with enough frames, in seeded tasks of 20.
    let mut rng = StdRng::seed_from_u64(seed_for(seed, "wesnoth-units"));
    let mut types: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for (race, files) in &races {
        let mut by_type: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for file in files {
            by_type.entry(stem(file)).or_default().push(file.clone());
        }
        types.extend(
            by_type
                .into_iter()
                .filter(|(_, f)| f.len() >= 10)
                .map(|(t, f)| (format!("{race}-{t}"), f)),
        );
    }
    types.shuffle(&mut rng);
    for (k, chunk) in types
        .chunks_exact(CLASSES_PER_TASK)
        .take(MAX_UNIT_TASKS)
        .enumerate()
    {
        let mut classes: Vec<ClassSpec> = chunk
            .iter()
            .map(|(unit, files)| {
                let mut files = files.clone();
                let n_test = super::hold_out(&mut files, 2, &mut rng);
                ClassSpec {
                    name: unit.clone(),
                    concept: format!("wesnoth-unit:{unit}"),
                    test: files[..n_test].iter().map(|p| source(&images, p)).collect(),
                    train: files[n_test..].iter().map(|p| source(&images, p)).collect(),
                }
            })
            .collect();
        classes.sort_by(|a, b| a.name.cmp(&b.name));
        tasks.push(task(
            &format!("wesnoth-units-{k}"),
            "wesnoth-units",
            Stage::MetaTrain,
            AugmentConfig::SPRITES,
            classes,
        ));
    }

    // Terrain (meta-test): the largest terrain types.
    let mut rng = StdRng::seed_from_u64(seed_for(seed, "wesnoth-terrain"));
    let mut terrains: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for dir in super::subdirs(&images.join("terrain"))? {
        let terrain = name(&dir);
        let mut files = pngs(&dir)?;
        files.retain(|f| {
            f.file_stem()
                .is_some_and(|s| !s.to_string_lossy().contains('-'))
        });
        let stems: std::collections::BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
        if NOT_TERRAIN.contains(&terrain.as_str()) || files.len() < 12 || stems.len() < 3 {
            dropped.push(Dropped::new(
                format!("wesnoth terrain {terrain}"),
                "an overlay, or too few tile families".into(),
            ));
            continue;
        }
        terrains.push((terrain, files));
    }
    let classes = terrains
        .iter()
        .map(|(terrain, files)| {
            let (train, test) = split_by_stem(&images, files, &mut rng);
            ClassSpec {
                name: terrain.clone(),
                concept: format!("wesnoth-terrain:{terrain}"),
                train,
                test,
            }
        })
        .collect();
    tasks.push(task(
        "wesnoth-terrain",
        "wesnoth-terrain",
        Stage::MetaTest,
        AugmentConfig::SPRITES,
        classes,
    ));

    // Attack icons (meta-test): weapons drawn in at least MIN_ATTACK_VARIANTS variants.
    let mut rng = StdRng::seed_from_u64(seed_for(seed, "wesnoth-attacks"));
    let icons = pngs(&images.join("attacks"))?;
    let mut classes = Vec::new();
    for mut variants in super::group_by(&icons, |f| stem(f)) {
        let weapon = stem(variants[0]);
        if variants.len() < MIN_ATTACK_VARIANTS {
            dropped.push(Dropped::new(
                format!("wesnoth attack {weapon}"),
                format!("{} variants", variants.len()),
            ));
            continue;
        }
        let n_test = super::hold_out(&mut variants, 1, &mut rng);
        classes.push(ClassSpec {
            concept: format!("weapon:{weapon}"),
            name: weapon,
            test: variants[..n_test]
                .iter()
                .map(|p| source(&images, p))
                .collect(),
            train: variants[n_test..]
                .iter()
                .map(|p| source(&images, p))
                .collect(),
        });
    }
    tasks.push(task(
        "wesnoth-attacks",
        "wesnoth-attacks",
        Stage::MetaTest,
        AugmentConfig::OBJECTS,
        classes,
    ));
    Ok((tasks, dropped))
}

#[cfg(test)]
mod tests {
    use image::{Rgba, RgbaImage};

    use super::*;
    use crate::task::check_disjoint;

    #[test]
    fn stems_group_variants() {
        assert_eq!(stem(Path::new("a/archer+female-bow-attack1.png")), "archer");
        assert_eq!(stem(Path::new("dirt2-ne.png")), "dirt");
        assert_eq!(stem(Path::new("ford.png")), "ford");
    }

    #[test]
    fn races_units_and_terrain_from_a_fake_package() {
        let root = std::env::temp_dir().join(format!("tans-wesnoth-{}", std::process::id()));
        let images = root.join(IMAGES);
        let sprite = RgbaImage::from_pixel(2, 2, Rgba([1, 2, 3, 255]));
        for race in ["elves", "orcs"] {
            for unit in ["archer", "fighter", "scout", "shaman", "lord"] {
                for frame in 0..12 {
                    let dir = images.join("units").join(race);
                    std::fs::create_dir_all(&dir).unwrap();
                    sprite
                        .save(dir.join(format!("{unit}-attack{frame}.png")))
                        .unwrap();
                }
            }
        }
        for terrain in ["grass", "water", "fog"] {
            for (i, tile) in ["green", "dry", "leaf", "semi-dry", "savanna"]
                .iter()
                .enumerate()
            {
                for variant in ["", "2", "-n", "-se", "3-s", "4", "-nw"] {
                    let dir = images.join("terrain").join(terrain);
                    std::fs::create_dir_all(&dir).unwrap();
                    sprite
                        .save(dir.join(format!("{tile}{variant}{i}.png")))
                        .unwrap();
                }
            }
        }
        let attacks = images.join("attacks");
        std::fs::create_dir_all(&attacks).unwrap();
        for icon in [
            "sword-human",
            "sword-orcish",
            "sword2",
            "sword-elven",
            "bow",
        ] {
            sprite.save(attacks.join(format!("{icon}.png"))).unwrap();
        }
        let (tasks, dropped) = tasks(&root, 5).unwrap();
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["wesnoth-races", "wesnoth-terrain", "wesnoth-attacks"],
            "10 unit types make no task of 20"
        );
        let weapons = &tasks[2].classes;
        assert_eq!(weapons.len(), 1, "the bow has one variant");
        assert_eq!((weapons[0].train.len(), weapons[0].test.len()), (3, 1));
        assert!(dropped.iter().any(|d| d.what == "wesnoth attack bow"));
        let races = &tasks[0];
        assert_eq!(
            races
                .classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            vec!["elves", "orcs"]
        );
        for class in &races.classes {
            let types = |s: &[Source]| -> std::collections::BTreeSet<String> {
                s.iter()
                    .map(|s| {
                        s.id()
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .split('-')
                            .next()
                            .unwrap()
                            .to_string()
                    })
                    .collect()
            };
            assert!(
                types(&class.train).is_disjoint(&types(&class.test)),
                "unit types are split, not frames"
            );
            assert_eq!(class.train.len() + class.test.len(), 60);
        }
        let terrain = &tasks[1];
        assert_eq!(terrain.stage, Stage::MetaTest);
        assert_eq!(
            terrain
                .classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            vec!["grass", "water"]
        );
        assert!(dropped.iter().any(|d| d.what == "wesnoth terrain fog"));
        check_disjoint(&tasks).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
