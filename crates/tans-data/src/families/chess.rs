//! Chess pieces (Debian `pychess`, GPL-3+), meta-test: 12 classes (colour × piece) drawn by the
//! Western SVG piece sets; whole sets are split between train and test. The Makruk and Sittuyin
//! sets (Thai and Burmese chess) draw other pieces under the same names and are left out.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::augment::AugmentConfig;
use crate::error::{IoContext, Result};
use crate::task::{Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "chess";
const PIECES: &str = "usr/share/pychess/pieces";
const NOT_WESTERN: [&str; 2] = ["makruk", "sittuyin"];
const COLOURS: [(char, &str); 2] = [('w', "white"), ('b', "black")];
const KINDS: [(char, &str); 6] = [
    ('k', "king"),
    ('q', "queen"),
    ('r', "rook"),
    ('b', "bishop"),
    ('n', "knight"),
    ('p', "pawn"),
];

/// The chess task from the unpacked package.
pub fn task(package: &Path, seed: u64) -> Result<(TaskSpec, Vec<Dropped>)> {
    let root = package.join(PIECES);
    let mut folders: Vec<_> = std::fs::read_dir(&root)
        .at(&root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut sets = Vec::new();
    let mut dropped = Vec::new();
    for folder in folders {
        let set = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pieces: Vec<(String, Source)> = COLOURS
            .iter()
            .flat_map(|c| KINDS.iter().map(move |k| (c, k)))
            .filter_map(|((c, colour), (k, kind))| {
                let path = folder.join(format!("{c}{k}.svg"));
                path.is_file().then(|| {
                    let id = format!("pychess:{set}/{c}{k}.svg");
                    (format!("{colour}-{kind}"), Source::Svg { id, path })
                })
            })
            .collect();
        if NOT_WESTERN.contains(&set.as_str()) || pieces.len() < COLOURS.len() * KINDS.len() {
            dropped.push(Dropped::new(
                format!("chess set {set}"),
                format!("not a Western set, or {} of 12 SVG pieces", pieces.len()),
            ));
        } else {
            sets.push((set, pieces));
        }
    }
    let mut rng = StdRng::seed_from_u64(seed_for(seed, FAMILY));
    let task = TaskSpec {
        name: FAMILY.into(),
        family: FAMILY.into(),
        stage: Stage::MetaTest,
        augment: Some(AugmentConfig::OBJECTS),
        classes: super::classes_from_sets(sets, FAMILY, 1, &mut rng),
    };
    Ok((task, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn western_sets_are_split_whole() {
        let package = std::env::temp_dir().join(format!("tans-chess-{}", std::process::id()));
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>"#;
        for set in [
            "alpha", "merida", "leipzig", "celtic", "eyes", "makruk", "ttf",
        ] {
            let dir = package.join(PIECES).join(set);
            std::fs::create_dir_all(&dir).unwrap();
            if set != "ttf" {
                for name in [
                    "wk", "wq", "wr", "wb", "wn", "wp", "bk", "bq", "br", "bb", "bn", "bp", "we",
                ] {
                    std::fs::write(dir.join(format!("{name}.svg")), svg).unwrap();
                }
            }
        }
        let (task, dropped) = task(&package, 4).unwrap();
        assert_eq!(dropped.len(), 2, "makruk and the font folder: {dropped:?}");
        assert_eq!(task.classes.len(), 12);
        assert_eq!(task.classes[0].name, "black-bishop");
        let set = |s: &Source| s.id().split('/').next().unwrap().to_string();
        let mut train = std::collections::BTreeSet::new();
        let mut test = std::collections::BTreeSet::new();
        for class in &task.classes {
            assert_eq!((class.train.len(), class.test.len()), (4, 1));
            train.extend(class.train.iter().map(set));
            test.extend(class.test.iter().map(set));
        }
        assert!(train.is_disjoint(&test));
        assert_eq!(test.len(), 1, "the same set is held out for every class");
        std::fs::remove_dir_all(package).unwrap();
    }
}
