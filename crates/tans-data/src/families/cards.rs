//! Playing cards, meta-test: `cards-rank` (13 classes, ace to king) and `cards-suit` (4 classes),
//! from the 16 KDE decks (Debian `kdegames-card-data-kf5`, one SVGZ sheet per deck, each card
//! rendered by its element id, e.g. `queen_heart`) and the 4 openclipart decks (one SVG per card,
//! e.g. `white_h_q.svg`). Whole decks are split between train and test. Three KDE decks are
//! left out: `future` draws ranks as other symbols, and the KDE editions of Nicu Buculei's
//! `white` and `ornamental` decks (which openclipart also holds, drawn as separate files) render
//! misplaced from their sheets.

use std::path::Path;

use crate::Dropped;
use crate::error::Result;
use crate::svg::SvgSheet;
use crate::task::{Source, TaskSpec};

pub const RANK_FAMILY: &str = "cards-rank";
pub const SUIT_FAMILY: &str = "cards-suit";
const KDE_DECKS: &str = "usr/share/carddecks";
const CLIPART_DECKS: &str = "recreation/games/cards";
/// (KDE id, openclipart id, class name).
const RANKS: [(&str, &str, &str); 13] = [
    ("1", "a", "ace"),
    ("2", "2", "2"),
    ("3", "3", "3"),
    ("4", "4", "4"),
    ("5", "5", "5"),
    ("6", "6", "6"),
    ("7", "7", "7"),
    ("8", "8", "8"),
    ("9", "9", "9"),
    ("10", "10", "10"),
    ("jack", "j", "jack"),
    ("queen", "q", "queen"),
    ("king", "k", "king"),
];
const SUITS: [(&str, &str, &str); 4] = [
    ("club", "c", "clubs"),
    ("diamond", "d", "diamonds"),
    ("heart", "h", "hearts"),
    ("spade", "s", "spades"),
];

/// One card: its rank and suit class names and its drawing.
struct Card {
    rank: &'static str,
    suit: &'static str,
    source: Source,
}

const EXCLUDED_KDE_DECKS: [(&str, &str); 3] = [
    ("svg-future", "draws ranks as other symbols"),
    (
        "svg-nicu-white",
        "renders misplaced; openclipart holds this deck as separate files",
    ),
    (
        "svg-nicu-ornamental",
        "renders misplaced; openclipart holds this deck as separate files",
    ),
];

fn kde_decks(package: &Path, dropped: &mut Vec<Dropped>) -> Result<Vec<(String, Vec<Card>)>> {
    let root = package.join(KDE_DECKS);
    let mut decks = Vec::new();
    for sheet_path in super::files_below(&root, &["svgz"])? {
        let folder = sheet_path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((_, reason)) = EXCLUDED_KDE_DECKS.iter().find(|(f, _)| *f == folder) {
            dropped.push(Dropped::new(
                format!("card deck {folder}"),
                reason.to_string(),
            ));
            continue;
        }
        let pairs = || {
            RANKS
                .iter()
                .flat_map(|rank| SUITS.iter().map(move |suit| (rank, suit)))
        };
        let element = |(kde_rank, _, _): &(&str, &str, &str),
                       (kde_suit, _, _): &(&str, &str, &str)| {
            format!("{kde_rank}_{kde_suit}")
        };
        let sheet = SvgSheet::new(
            sheet_path.clone(),
            pairs().map(|(r, s)| element(r, s)).collect(),
        );
        let relative = sheet_path.strip_prefix(&root).unwrap_or(&sheet_path);
        let cards = pairs()
            .map(|(r, s)| {
                let (element, rank, suit) = (element(r, s), r.2, s.2);
                Card {
                    rank,
                    suit,
                    source: Source::SvgElement {
                        id: format!("kdegames-cards:{}#{element}", relative.display()),
                        sheet: sheet.clone(),
                        element,
                    },
                }
            })
            .collect();
        decks.push((folder, cards));
    }
    Ok(decks)
}

fn clipart_decks(package: &Path) -> Result<Vec<(String, Vec<Card>)>> {
    let svg_root = package.join(super::clipart::SVG_ROOT);
    let root = svg_root.join(CLIPART_DECKS);
    let mut decks = Vec::new();
    for folder in super::subdirs(&root)? {
        let deck = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut cards = Vec::new();
        for (_, clip_rank, rank) in RANKS {
            for (_, clip_suit, suit) in SUITS {
                let path = folder.join(format!("{deck}_{clip_suit}_{clip_rank}.svg"));
                if path.is_file() {
                    cards.push(Card {
                        rank,
                        suit,
                        source: super::clipart::source(&svg_root, &path),
                    });
                }
            }
        }
        decks.push((format!("openclipart-{deck}"), cards));
    }
    Ok(decks)
}

/// The rank and suit tasks from the two unpacked packages.
pub fn tasks(kde: &Path, openclipart: &Path, seed: u64) -> Result<(Vec<TaskSpec>, Vec<Dropped>)> {
    let mut dropped = Vec::new();
    let mut decks = kde_decks(kde, &mut dropped)?;
    decks.extend(clipart_decks(openclipart)?);
    decks.retain(|(deck, cards)| {
        let whole = cards.len() == RANKS.len() * SUITS.len();
        if !whole {
            dropped.push(Dropped::new(
                format!("card deck {deck}"),
                format!("{} of 52 cards", cards.len()),
            ));
        }
        whole
    });
    let mut out = Vec::new();
    for (family, class_of) in [
        (
            RANK_FAMILY,
            (|c: &Card| c.rank) as fn(&Card) -> &'static str,
        ),
        (SUIT_FAMILY, |c: &Card| c.suit),
    ] {
        let sets = decks
            .iter()
            .map(|(deck, cards)| {
                let drawings = cards
                    .iter()
                    .map(|card| (class_of(card).to_string(), card.source.clone()))
                    .collect();
                (deck.clone(), drawings)
            })
            .collect();
        out.push(super::task_from_sets(family, sets, seed));
    }
    Ok((out, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decks_are_split_whole_and_broken_ones_dropped() {
        let dir = std::env::temp_dir().join(format!("tans-cards-{}", std::process::id()));
        let (kde, clip) = (dir.join("kde"), dir.join("clip"));
        let card = r#"<rect width="10" height="14"/>"#;
        for deck in ["svg-a", "svg-b", "svg-c", "svg-nicu-white"] {
            let folder = kde.join(KDE_DECKS).join(deck);
            std::fs::create_dir_all(&folder).unwrap();
            let body: String = RANKS
                .iter()
                .flat_map(|r| {
                    SUITS
                        .iter()
                        .map(move |s| format!(r#"<g id="{}_{}">{card}</g>"#, r.0, s.0))
                })
                .collect();
            let svg = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>"#);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, svg.as_bytes()).unwrap();
            std::fs::write(folder.join("deck.svgz"), gz.finish().unwrap()).unwrap();
        }
        for deck in ["white", "broken"] {
            let folder = clip
                .join(super::super::clipart::SVG_ROOT)
                .join(CLIPART_DECKS)
                .join(deck);
            std::fs::create_dir_all(&folder).unwrap();
            for (_, r, _) in RANKS {
                for (_, s, _) in SUITS {
                    if deck == "white" || r != "k" {
                        let svg = format!(
                            r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="14">{card}</svg>"#
                        );
                        std::fs::write(folder.join(format!("{deck}_{s}_{r}.svg")), svg).unwrap();
                    }
                }
            }
        }
        let (tasks, dropped) = tasks(&kde, &clip, 9).unwrap();
        assert_eq!(
            dropped.len(),
            2,
            "the excluded deck and the one without kings"
        );
        let [rank, suit] = &tasks[..] else { panic!() };
        assert_eq!(rank.classes.len(), 13);
        assert_eq!(suit.classes.len(), 4);
        let deck_of = |s: &Source| {
            let id = s.id();
            if id.contains("white") {
                "white".to_string()
            } else {
                id.split('/').next().unwrap().to_string()
            }
        };
        for task in [rank, suit] {
            let mut train = std::collections::BTreeSet::new();
            let mut test = std::collections::BTreeSet::new();
            for class in &task.classes {
                train.extend(class.train.iter().map(deck_of));
                test.extend(class.test.iter().map(deck_of));
            }
            assert!(train.is_disjoint(&test), "{train:?} {test:?}");
            assert_eq!(train.len() + test.len(), 4, "4 decks: a, b, c, white");
        }
        let queen = rank.classes.iter().find(|c| c.name == "queen").unwrap();
        let image = queen.train[0].render(16).unwrap();
        assert_eq!(image.dimensions(), (16, 16));
        crate::task::check_disjoint(&tasks).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
