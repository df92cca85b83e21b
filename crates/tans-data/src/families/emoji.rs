//! Emoji tasks from the two freely licensed art styles (npm `emoji-datasource-google`, images
//! Apache-2.0, and `emoji-datasource-twitter`, images CC-BY-4.0):
//! - identity tasks: 20 emoji of one category per task; train views come from the Google
//!   drawing, test views from the Twitter drawing, so the test split is a new art style;
//! - subcategory tasks: a category's subcategories as classes; each subcategory's emoji are
//!   split between train and test, so the test split shows emoji never seen in training.
//!
//! Keycaps and alphanumeric symbols are left out: they depict digits and letters, which other
//! families (and meta-test tasks) own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;

use crate::augment::AugmentConfig;
use crate::error::{DataError, IoContext, Result};
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "emoji";
const EXCLUDED_SUBCATEGORIES: [&str; 2] = ["keycap", "alphanum"];
const CLASSES_PER_TASK: usize = 20;
const MAX_IDENTITY_TASKS_PER_CATEGORY: usize = 3;
/// Fewest emoji a subcategory needs to give both splits a few.
const MIN_PER_SUBCATEGORY: usize = 4;

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    unified: String,
    image: String,
    category: String,
    subcategory: String,
    sort_order: u32,
    has_img_google: bool,
    has_img_twitter: bool,
}

/// One emoji with both drawings decoded.
struct Emoji {
    entry: Entry,
    google: Source,
    twitter: Source,
}

fn load(path: &Path, id: String) -> std::result::Result<Source, String> {
    let image = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_rgba8();
    Ok(Source::Image {
        id,
        image: Arc::new(image),
    })
}

fn slug(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Emoji tasks from the unpacked packages (each holding `package/emoji.json` and
/// `package/img/<vendor>/64/<image>`).
pub fn tasks(google: &Path, twitter: &Path, seed: u64) -> Result<(Vec<TaskSpec>, Vec<Dropped>)> {
    let index = google.join("package/emoji.json");
    let entries: Vec<Entry> = serde_json::from_slice(&std::fs::read(&index).at(&index)?)
        .map_err(|e| DataError::input(&index, e))?;
    let mut dropped = Vec::new();
    let mut by_category: BTreeMap<String, Vec<Emoji>> = BTreeMap::new();
    for entry in entries {
        if !(entry.has_img_google && entry.has_img_twitter)
            || EXCLUDED_SUBCATEGORIES.contains(&entry.subcategory.as_str())
            || entry.category == "Component"
        {
            continue;
        }
        let image = |root: &Path, vendor: &str| {
            load(
                &root.join(format!("package/img/{vendor}/64/{}", entry.image)),
                format!("emoji-{vendor}:{}", entry.image),
            )
        };
        match (image(google, "google"), image(twitter, "twitter")) {
            (Ok(google), Ok(twitter)) => by_category
                .entry(entry.category.clone())
                .or_default()
                .push(Emoji {
                    entry,
                    google,
                    twitter,
                }),
            (Err(reason), _) | (_, Err(reason)) => {
                dropped.push(Dropped::new(format!("emoji {}", entry.unified), reason))
            }
        }
    }
    let mut tasks = Vec::new();
    for (category, mut emoji) in by_category {
        emoji.sort_by_key(|e| e.entry.sort_order);
        let name = slug(&category);
        for (k, chunk) in emoji
            .chunks_exact(CLASSES_PER_TASK)
            .take(MAX_IDENTITY_TASKS_PER_CATEGORY)
            .enumerate()
        {
            tasks.push(TaskSpec {
                name: format!("{FAMILY}-{name}-{k}"),
                family: FAMILY.into(),
                stage: Stage::MetaTrain,
                augment: Some(AugmentConfig::OBJECTS),
                classes: chunk
                    .iter()
                    .map(|e| ClassSpec {
                        name: e.entry.unified.to_lowercase(),
                        concept: format!("emoji:{}", e.entry.unified),
                        train: vec![e.google.clone()],
                        test: vec![e.twitter.clone()],
                    })
                    .collect(),
            });
        }
        let mut subcategories: BTreeMap<&str, Vec<&Emoji>> = BTreeMap::new();
        for e in &emoji {
            subcategories
                .entry(&e.entry.subcategory)
                .or_default()
                .push(e);
        }
        let mut subcategories: Vec<(&str, Vec<&Emoji>)> = subcategories
            .into_iter()
            .filter(|(_, list)| list.len() >= MIN_PER_SUBCATEGORY)
            .collect();
        subcategories.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        subcategories.truncate(CLASSES_PER_TASK);
        let task_name = format!("{FAMILY}-{name}-subcategories");
        if subcategories.len() < 2 {
            dropped.push(Dropped::new(
                task_name,
                format!(
                    "{} subcategories with {MIN_PER_SUBCATEGORY}+ emoji",
                    subcategories.len()
                ),
            ));
            continue;
        }
        let mut rng = StdRng::seed_from_u64(seed_for(seed, &task_name));
        let mut classes = Vec::new();
        for (subcategory, mut list) in subcategories {
            let n_test = super::hold_out(&mut list, 1, &mut rng);
            let both = |list: &[&Emoji]| {
                list.iter()
                    .flat_map(|e| [e.google.clone(), e.twitter.clone()])
                    .collect()
            };
            classes.push(ClassSpec {
                name: slug(subcategory),
                concept: format!("emoji-subcategory:{subcategory}"),
                test: both(&list[..n_test]),
                train: both(&list[n_test..]),
            });
        }
        classes.sort_by(|a, b| a.name.cmp(&b.name));
        tasks.push(TaskSpec {
            name: task_name,
            family: FAMILY.into(),
            stage: Stage::MetaTrain,
            augment: Some(AugmentConfig::OBJECTS),
            classes,
        });
    }
    Ok((tasks, dropped))
}

#[cfg(test)]
mod tests {
    use image::{Rgba, RgbaImage};

    use super::*;
    use crate::task::check_disjoint;

    /// A fake pair of packages: `n` emoji in two subcategories of one category, plus a keycap.
    fn fake(root: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
        let (google, twitter) = (root.join("google"), root.join("twitter"));
        let mut entries = Vec::new();
        for i in 0..=n {
            let (unified, sub) = if i == n {
                ("0033-FE0F-20E3".to_string(), "keycap")
            } else {
                (
                    format!("1F{i:03X}"),
                    if i % 2 == 0 {
                        "animal-mammal"
                    } else {
                        "animal-bird"
                    },
                )
            };
            let image = format!("{}.png", unified.to_lowercase());
            for (dir, vendor) in [(&google, "google"), (&twitter, "twitter")] {
                let path = dir.join(format!("package/img/{vendor}/64"));
                std::fs::create_dir_all(&path).unwrap();
                RgbaImage::from_pixel(4, 4, Rgba([i as u8, 0, 0, 255]))
                    .save(path.join(&image))
                    .unwrap();
            }
            entries.push(serde_json::json!({
                "unified": unified, "image": image, "category": "Animals & Nature", "subcategory": sub,
                "sort_order": i, "has_img_google": true, "has_img_twitter": true,
            }));
        }
        std::fs::write(
            google.join("package/emoji.json"),
            serde_json::to_string(&entries).unwrap(),
        )
        .unwrap();
        (google, twitter)
    }

    #[test]
    fn identity_tasks_split_by_art_style_and_subcategory_tasks_by_emoji() {
        let root = std::env::temp_dir().join(format!("tans-emoji-{}", std::process::id()));
        let (google, twitter) = fake(&root, 44);
        let (tasks, dropped) = tasks(&google, &twitter, 3).unwrap();
        assert!(dropped.is_empty(), "{dropped:?}");
        let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "emoji-animals-nature-0",
                "emoji-animals-nature-1",
                "emoji-animals-nature-subcategories"
            ]
        );
        let identity = &tasks[0];
        assert_eq!(identity.classes.len(), 20);
        assert!(
            identity
                .classes
                .iter()
                .all(|c| c.train[0].id().starts_with("emoji-google:")
                    && c.test[0].id().starts_with("emoji-twitter:"))
        );
        assert!(
            tasks
                .iter()
                .flat_map(|t| &t.classes)
                .all(|c| !c.concept.contains("0033")),
            "keycaps are left out"
        );
        let subcategories = &tasks[2];
        assert_eq!(
            subcategories
                .classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            vec!["animal-bird", "animal-mammal"]
        );
        assert_eq!(
            (
                subcategories.classes[0].train.len(),
                subcategories.classes[0].test.len()
            ),
            (36, 8)
        );
        check_disjoint(&tasks).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
