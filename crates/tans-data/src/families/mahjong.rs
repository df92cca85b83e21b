//! Mahjong tiles (Debian `kdegames-mahjongg-data-kf5`, licenses per tileset), meta-test: the six
//! tilesets are SVGZ sheets whose tile faces are elements (`BAMBOO_3`, `DRAGON_1`, …). Of the 42
//! faces, a seeded 20 are the classes, each face drawn on the tileset's blank tile as the game
//! draws it; whole tilesets are split between train and test. Two tilesets are left out:
//! `alphabet` draws letters and digits instead of tile pictures, and `classic` draws its faces
//! with features resvg leaves out, so they come out empty.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::Result;
use crate::svg::SvgSheet;
use crate::task::{Source, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "mahjong";
const TILESETS: &str = "usr/share/kmahjongglib/tilesets";
const CLASSES: usize = 20;
/// The blank tile each face is drawn on, as the game draws it.
const BACKDROP: &str = "TILE_1";
const EXCLUDED: [(&str, &str); 2] = [
    (
        "alphabet.svgz",
        "letters and digits instead of tile pictures",
    ),
    ("classic.svgz", "its faces render empty with resvg"),
];
/// The face ids: suits of nine, and honours and bonus tiles of three or four.
const FACES: [(&str, u32); 7] = [
    ("BAMBOO", 9),
    ("CHARACTER", 9),
    ("ROD", 9),
    ("DRAGON", 3),
    ("WIND", 4),
    ("FLOWER", 4),
    ("SEASON", 4),
];

/// The mahjong task from the unpacked package.
pub fn task(package: &Path, seed: u64) -> Result<(TaskSpec, Vec<Dropped>)> {
    let root = package.join(TILESETS);
    let mut rng = StdRng::seed_from_u64(seed_for(seed, "mahjong-faces"));
    let mut faces: Vec<String> = FACES
        .iter()
        .flat_map(|(suit, n)| (1..=*n).map(move |i| format!("{suit}_{i}")))
        .collect();
    faces.shuffle(&mut rng);
    faces.truncate(CLASSES);
    let mut sets = Vec::new();
    let mut dropped = Vec::new();
    for path in super::files_below(&root, &["svgz"])? {
        let sheet = SvgSheet::with_backdrop(path.clone(), faces.clone(), BACKDROP.into());
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((_, reason)) = EXCLUDED.iter().find(|(name, _)| *name == file) {
            dropped.push(Dropped::new(
                format!("mahjong tileset {file}"),
                reason.to_string(),
            ));
            continue;
        }
        let tiles = faces
            .iter()
            .map(|face| {
                let source = Source::SvgElement {
                    id: format!("kmahjongg:{file}#{face}"),
                    sheet: sheet.clone(),
                    element: face.clone(),
                };
                (face.to_lowercase(), source)
            })
            .collect();
        sets.push((file, tiles));
    }
    Ok((super::task_from_sets(FAMILY, sets, seed), dropped))
}
