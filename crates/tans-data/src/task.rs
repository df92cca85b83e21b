//! What the pool is made of, before anything is rendered: tasks of classes, each class with the
//! source items of its train and of its test split. Families produce these specs; the builder
//! renders them. The checks that make meta-test measure real domain shift live here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::font::Font;
use crate::svg::SvgSheet;

/// Which side of meta-learning a task serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    MetaTrain,
    MetaTest,
}

/// One source item: something that renders to an RGBA image.
#[derive(Debug, Clone)]
pub enum Source {
    /// A character drawn with a font.
    Glyph { font: Arc<Font>, ch: char },
    /// An image already decoded (a dataset sample, a rendered SVG).
    Image { id: String, image: Arc<RgbaImage> },
    /// An image file, decoded when rendered (sprites, tiles, photos).
    File { id: String, path: PathBuf },
    /// An SVG or SVGZ file, rendered when the task is built (icons, clip art, chess pieces).
    Svg { id: String, path: PathBuf },
    /// One element of an SVG sheet (a card of a deck, a tile of a tileset), cropped to its box.
    SvgElement {
        id: String,
        sheet: Arc<SvgSheet>,
        element: String,
    },
}

impl Source {
    /// Identifies the source image across tasks and splits (used by the overlap checks).
    pub fn id(&self) -> String {
        match self {
            Self::Glyph { font, ch } => format!(
                "font:{}#U+{:04X}",
                font.path()
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                u32::from(*ch)
            ),
            Self::Image { id, .. }
            | Self::File { id, .. }
            | Self::Svg { id, .. }
            | Self::SvgElement { id, .. } => id.clone(),
        }
    }

    /// The source drawn as RGBA; glyphs and SVGs are rasterised to fit `side` pixels.
    pub fn render(&self, side: u32) -> Result<RgbaImage, String> {
        match self {
            Self::Glyph { font, ch } => font.render(*ch, side as f32).ok_or_else(|| {
                format!(
                    "{} draws nothing for U+{:04X}",
                    font.path().display(),
                    u32::from(*ch)
                )
            }),
            Self::Image { image, .. } => Ok(image.as_ref().clone()),
            Self::File { path, .. } => crate::folder::decode_rgba(path).map_err(|e| e.to_string()),
            Self::Svg { path, .. } => crate::svg::render_file(path, side),
            Self::SvgElement { sheet, element, .. } => sheet.render(element, side),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClassSpec {
    /// Folder name of the class.
    pub name: String,
    /// What the class depicts, in a namespace shared by all families (e.g. `char:U+0033`), so
    /// that a meta-test class can be checked against every meta-train class.
    pub concept: String,
    pub train: Vec<Source>,
    pub test: Vec<Source>,
}

#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub name: String,
    pub family: String,
    pub stage: Stage,
    /// `None`: sources are used as they are, one image each (real data).
    pub augment: Option<AugmentConfig>,
    pub classes: Vec<ClassSpec>,
}

impl TaskSpec {
    /// A task of seeded augmented views, its classes in name order (their label order).
    pub fn augmented(
        name: impl Into<String>,
        family: &str,
        stage: Stage,
        augment: AugmentConfig,
        mut classes: Vec<ClassSpec>,
    ) -> Self {
        classes.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            name: name.into(),
            family: family.into(),
            stage,
            augment: Some(augment),
            classes,
        }
    }
}

/// The first key held under both stages, with the meta-test and the meta-train task holding it.
fn shared<'m, 'a, K: Ord>(
    by_stage: &'m BTreeMap<Stage, BTreeMap<K, &'a str>>,
) -> Option<(&'m K, &'a str, &'a str)> {
    let (train, test) = (
        by_stage.get(&Stage::MetaTrain)?,
        by_stage.get(&Stage::MetaTest)?,
    );
    test.iter().find_map(|(key, test_task)| {
        train
            .get(key)
            .map(|train_task| (key, *test_task, *train_task))
    })
}

/// Fails with a description of the first leak between meta-train and meta-test (family, class
/// concept or source image) or between the train and test split of a task.
pub fn check_disjoint(tasks: &[TaskSpec]) -> Result<(), String> {
    let mut families: BTreeMap<Stage, BTreeSet<&str>> = BTreeMap::new();
    let mut concepts: BTreeMap<Stage, BTreeMap<&str, &str>> = BTreeMap::new();
    let mut sources: BTreeMap<Stage, BTreeMap<String, &str>> = BTreeMap::new();
    for task in tasks {
        families.entry(task.stage).or_default().insert(&task.family);
        for class in &task.classes {
            concepts
                .entry(task.stage)
                .or_default()
                .insert(&class.concept, &task.name);
            let train: BTreeSet<String> = class.train.iter().map(Source::id).collect();
            if let Some(shared) = class
                .test
                .iter()
                .map(Source::id)
                .find(|id| train.contains(id))
            {
                return Err(format!(
                    "task {} class {}: source {shared} is in both train and test",
                    task.name, class.name
                ));
            }
            for source in class.train.iter().chain(&class.test) {
                sources
                    .entry(task.stage)
                    .or_default()
                    .insert(source.id(), &task.name);
            }
        }
    }
    let empty = Default::default();
    let test_families = families.get(&Stage::MetaTest).unwrap_or(&empty);
    if let Some(family) = families
        .get(&Stage::MetaTrain)
        .and_then(|f| f.intersection(test_families).next())
    {
        return Err(format!(
            "family {family} is in both meta-train and meta-test"
        ));
    }
    if let Some((concept, test_task, train_task)) = shared(&concepts) {
        return Err(format!(
            "class {concept} of meta-test task {test_task} is also in meta-train task {train_task}"
        ));
    }
    if let Some((id, test_task, train_task)) = shared(&sources) {
        return Err(format!(
            "source {id} of meta-test task {test_task} is also in meta-train task {train_task}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str) -> Source {
        Source::Image {
            id: id.into(),
            image: Arc::new(RgbaImage::new(1, 1)),
        }
    }

    fn task(
        name: &str,
        family: &str,
        stage: Stage,
        concept: &str,
        train: &[&str],
        test: &[&str],
    ) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            family: family.into(),
            stage,
            augment: None,
            classes: vec![ClassSpec {
                name: "c".into(),
                concept: concept.into(),
                train: train.iter().map(|i| image(i)).collect(),
                test: test.iter().map(|i| image(i)).collect(),
            }],
        }
    }

    #[test]
    fn disjoint_pools_pass() {
        let tasks = [
            task("a", "glyphs", Stage::MetaTrain, "char:a", &["1"], &["2"]),
            task("b", "mnist", Stage::MetaTest, "char:3", &["3"], &["4"]),
        ];
        check_disjoint(&tasks).unwrap();
    }

    #[test]
    fn every_kind_of_leak_is_caught() {
        let split = [task(
            "a",
            "glyphs",
            Stage::MetaTrain,
            "char:a",
            &["1"],
            &["1"],
        )];
        assert!(
            check_disjoint(&split)
                .unwrap_err()
                .contains("both train and test")
        );
        let family = [
            task("a", "glyphs", Stage::MetaTrain, "char:a", &["1"], &["2"]),
            task("b", "glyphs", Stage::MetaTest, "char:b", &["3"], &["4"]),
        ];
        assert!(
            check_disjoint(&family)
                .unwrap_err()
                .contains("family glyphs")
        );
        let class = [
            task("a", "glyphs", Stage::MetaTrain, "char:3", &["1"], &["2"]),
            task("b", "mnist", Stage::MetaTest, "char:3", &["3"], &["4"]),
        ];
        assert!(check_disjoint(&class).unwrap_err().contains("class char:3"));
        let source = [
            task("a", "glyphs", Stage::MetaTrain, "char:a", &["1"], &["2"]),
            task("b", "mnist", Stage::MetaTest, "char:3", &["2"], &["4"]),
        ];
        assert!(check_disjoint(&source).unwrap_err().contains("source 2"));
    }
}
