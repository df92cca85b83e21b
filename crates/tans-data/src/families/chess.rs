//! Chess pieces (Debian `pychess`, GPL-3+), meta-test: 12 classes (colour × piece) drawn by the
//! Western SVG piece sets, each either a folder of `wk.svg`-style files or one sheet
//! `<set>/<set>.svg` with elements `WhiteKing`, …; whole sets are split between train and test. The Makruk and Sittuyin
//! sets (Thai and Burmese chess) draw other pieces under the same names and are left out.

use std::path::Path;

use crate::Dropped;
use crate::error::Result;
use crate::svg::SvgSheet;
use crate::task::{Source, TaskSpec};

pub const FAMILY: &str = "chess";
const PIECES: &str = "usr/share/pychess/pieces";
const NOT_WESTERN: [&str; 2] = ["makruk", "sittuyin"];
/// (file letter, sheet element word, class word).
const COLOURS: [(char, &str, &str); 2] = [('w', "White", "white"), ('b', "Black", "black")];
const KINDS: [(char, &str, &str); 6] = [
    ('k', "King", "king"),
    ('q', "Queen", "queen"),
    ('r', "Rook", "rook"),
    ('b', "Bishop", "bishop"),
    ('n', "Knight", "knight"),
    ('p', "Pawn", "pawn"),
];

/// The chess task from the unpacked package.
pub fn task(package: &Path, seed: u64) -> Result<(TaskSpec, Vec<Dropped>)> {
    let root = package.join(PIECES);
    let mut sets = Vec::new();
    let mut dropped = Vec::new();
    for folder in super::subdirs(&root)? {
        let set = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let all = || {
            COLOURS
                .iter()
                .flat_map(|c| KINDS.iter().map(move |k| (c, k)))
        };
        let sheet_path = folder.join(format!("{set}.svg"));
        let pieces: Vec<(String, Source)> = if sheet_path.is_file() {
            let elements: Vec<String> = all().map(|(c, k)| format!("{}{}", c.1, k.1)).collect();
            let sheet = SvgSheet::new(sheet_path, elements.clone());
            all()
                .zip(elements)
                .map(|((c, k), element)| {
                    let source = Source::SvgElement {
                        id: format!("pychess:{set}/{set}.svg#{element}"),
                        sheet: sheet.clone(),
                        element,
                    };
                    (format!("{}-{}", c.2, k.2), source)
                })
                .collect()
        } else {
            all()
                .filter_map(|(c, k)| {
                    let path = folder.join(format!("{}{}.svg", c.0, k.0));
                    path.is_file().then(|| {
                        let id = format!("pychess:{set}/{}{}.svg", c.0, k.0);
                        (format!("{}-{}", c.2, k.2), Source::Svg { id, path })
                    })
                })
                .collect()
        };
        let what = format!("chess set {set}");
        if NOT_WESTERN.contains(&set.as_str()) {
            dropped.push(Dropped::new(
                what,
                "Thai or Burmese pieces, not Western".into(),
            ));
        } else if pieces.len() < COLOURS.len() * KINDS.len() {
            let reason = format!("{} of 12 SVG pieces", pieces.len());
            dropped.push(Dropped::new(what, reason));
        } else {
            sets.push((set, pieces));
        }
    }
    Ok((super::task_from_sets(FAMILY, sets, seed), dropped))
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
        // A set drawn as one sheet of named elements, as pychess ships eight of them.
        let pieces: String = ["White", "Black"]
            .iter()
            .flat_map(|c| {
                ["King", "Queen", "Rook", "Bishop", "Knight", "Pawn"].map(|k| format!("{c}{k}"))
            })
            .enumerate()
            .map(|(i, id)| format!(r#"<rect id="{id}" x="{}" width="4" height="4"/>"#, 5 * i))
            .collect();
        std::fs::create_dir_all(package.join(PIECES).join("eyes")).unwrap();
        std::fs::write(
            package.join(PIECES).join("eyes/eyes.svg"),
            format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="60" height="4"><defs>{pieces}</defs></svg>"#),
        )
        .unwrap();
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
        let king = task
            .classes
            .iter()
            .find(|c| c.name == "white-king")
            .unwrap();
        for source in king.train.iter().chain(&king.test) {
            assert_eq!(
                source.render(8).unwrap().dimensions(),
                (8, 8),
                "{}",
                source.id()
            );
        }
        std::fs::remove_dir_all(package).unwrap();
    }
}
