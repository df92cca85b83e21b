//! Desktop icons from seven freedesktop icon themes (Debian packages, licenses per theme), in
//! two meta-train families:
//! - `icons` identity tasks: 20 icon names per task (`folder`, `edit-copy`, …), each drawn by
//!   at least [`MIN_THEMES`] themes; a class's themes are split, so test views show a theme's
//!   drawing never seen in training;
//! - `icons-context`: one task whose classes are the icon contexts (actions, apps, devices, …);
//!   icon names are split, so test views show icons never seen in training.
//!
//! Each theme contributes one drawing per name: its SVG or its largest PNG. Themes alias many
//! names to one file (symlinks such as `gtk-copy` → `edit-copy`); such a file is kept under one
//! name only, the one the most themes draw, so no drawing is in two classes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment::AugmentConfig;
use crate::error::Result;
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "icons";
pub const CONTEXT_FAMILY: &str = "icons-context";
const CLASSES_PER_TASK: usize = 20;
/// Fewest themes that must draw a name for it to be an identity class.
pub const MIN_THEMES: usize = 6;
/// Sources kept per context class and split (the views cycle over them).
const CONTEXT_SOURCES: (usize, usize) = (96, 24);

/// Freedesktop contexts, under the folder names the themes use.
const CONTEXTS: [(&str, &str); 10] = [
    ("actions", "actions"),
    ("apps", "apps"),
    ("categories", "categories"),
    ("devices", "devices"),
    ("emblems", "emblems"),
    ("emotes", "emotes"),
    ("mimes", "mimetypes"),
    ("mimetypes", "mimetypes"),
    ("places", "places"),
    ("status", "status"),
];

/// One theme's drawing of one icon name.
#[derive(Debug, Clone)]
pub struct Icon {
    pub theme: String,
    pub name: String,
    pub context: String,
    pub path: PathBuf,
    /// The file `path` resolves to.
    pub file: PathBuf,
}

impl Icon {
    fn source(&self) -> Source {
        let id = format!("icons:{}/{}", self.theme, self.name);
        if self.path.extension().is_some_and(|e| e == "svg") {
            Source::Svg {
                id,
                path: self.path.clone(),
            }
        } else {
            Source::File {
                id,
                path: self.path.clone(),
            }
        }
    }
}

/// How large a file's drawing is, from its folder names (`48x48`, `48`, `scalable`): `None`
/// for symbolic and high-DPI copies, which are not used.
fn drawing_size(relative: &Path) -> Option<u32> {
    let mut size = 0;
    for part in relative.iter().map(|p| p.to_string_lossy()) {
        if part.contains("symbolic") || part.contains('@') {
            return None;
        }
        if part == "scalable" {
            size = 1024;
        } else if let Some(n) = part
            .split('x')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|_| part.chars().all(|c| c.is_ascii_digit() || c == 'x'))
        {
            size = n;
        }
    }
    Some(size)
}

/// The icons of one theme folder: one drawing per name (the SVG or the largest PNG), in a
/// known context. Links that lead outside the package are left out.
pub fn theme_icons(theme: &str, dir: &Path) -> Result<Vec<Icon>> {
    let mut best: BTreeMap<String, (u32, bool, Icon)> = BTreeMap::new();
    for path in super::files_below(dir, &["png", "svg"])? {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        let Some(size) = drawing_size(relative) else {
            continue;
        };
        let Some(context) = relative.iter().find_map(|part| {
            CONTEXTS
                .iter()
                .find(|(folder, _)| part == *folder)
                .map(|(_, context)| context.to_string())
        }) else {
            continue;
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.is_empty() || name.ends_with("-symbolic") {
            continue;
        }
        let is_svg = path.extension().is_some_and(|e| e == "svg");
        let rank = (size, is_svg);
        if best.get(&name).is_none_or(|(s, svg, _)| rank > (*s, *svg)) {
            best.insert(
                name.clone(),
                (
                    size,
                    is_svg,
                    Icon {
                        theme: theme.into(),
                        name,
                        context,
                        file: PathBuf::new(),
                        path,
                    },
                ),
            );
        }
    }
    Ok(best
        .into_values()
        .filter_map(|(_, _, icon)| {
            let file = std::fs::canonicalize(&icon.path).ok()?;
            Some(Icon { file, ..icon })
        })
        .collect())
}

/// `themes` with each file kept under one name: the one the most themes draw (then the first).
fn without_aliases(themes: &[Vec<Icon>]) -> Vec<Vec<&Icon>> {
    let mut spread: BTreeMap<&str, usize> = BTreeMap::new();
    for icon in themes.iter().flatten() {
        *spread.entry(&icon.name).or_default() += 1;
    }
    themes
        .iter()
        .map(|icons| {
            let mut by_file: BTreeMap<&Path, &Icon> = BTreeMap::new();
            for icon in icons {
                let kept = by_file.entry(&icon.file).or_insert(icon);
                if spread[icon.name.as_str()] > spread[kept.name.as_str()] {
                    *kept = icon;
                }
            }
            let mut kept: Vec<&Icon> = by_file.into_values().collect();
            kept.sort_by(|a, b| a.name.cmp(&b.name));
            kept
        })
        .collect()
}

/// Identity tasks and the context task from the icons of every theme.
pub fn tasks(themes: &[Vec<Icon>], seed: u64) -> (Vec<TaskSpec>, Vec<Dropped>) {
    let themes = without_aliases(themes);
    let mut by_name: BTreeMap<&str, Vec<&Icon>> = BTreeMap::new();
    for icon in themes.iter().flatten().copied() {
        by_name.entry(&icon.name).or_default().push(icon);
    }
    let mut tasks = Vec::new();
    let mut dropped = Vec::new();

    let mut rng = StdRng::seed_from_u64(seed_for(seed, FAMILY));
    let mut names: Vec<(&str, Vec<&Icon>)> = by_name
        .iter()
        .filter(|(_, icons)| icons.len() >= MIN_THEMES)
        .map(|(name, icons)| (*name, icons.clone()))
        .collect();
    names.shuffle(&mut rng);
    let leftover = names.len() % CLASSES_PER_TASK;
    if leftover > 0 {
        dropped.push(Dropped::new(
            format!("{leftover} icon names"),
            format!("left over after tasks of {CLASSES_PER_TASK}"),
        ));
    }
    for (k, chunk) in names.chunks_exact(CLASSES_PER_TASK).enumerate() {
        let classes: Vec<ClassSpec> = chunk
            .iter()
            .map(|(name, icons)| {
                let mut icons = icons.clone();
                let n_test = super::hold_out(&mut icons, 1, &mut rng);
                ClassSpec {
                    name: (*name).into(),
                    concept: format!("icon:{name}"),
                    test: icons[..n_test].iter().map(|i| i.source()).collect(),
                    train: icons[n_test..].iter().map(|i| i.source()).collect(),
                }
            })
            .collect();
        tasks.push(TaskSpec::augmented(
            format!("{FAMILY}-{k}"),
            FAMILY,
            Stage::MetaTrain,
            AugmentConfig::OBJECTS,
            classes,
        ));
    }

    // Contexts: each context's names split, every theme's drawing of a name on its side.
    let mut rng = StdRng::seed_from_u64(seed_for(seed, CONTEXT_FAMILY));
    let mut by_context: BTreeMap<&str, BTreeMap<&str, Vec<&Icon>>> = BTreeMap::new();
    for icon in themes.iter().flatten().copied() {
        by_context
            .entry(&icon.context)
            .or_default()
            .entry(&icon.name)
            .or_default()
            .push(icon);
    }
    let mut classes = Vec::new();
    for (context, names) in by_context {
        let mut names: Vec<Vec<&Icon>> = names.into_values().collect();
        let n_test = super::hold_out(&mut names, 1, &mut rng);
        let mut pick = |names: &[Vec<&Icon>], keep: usize| -> Vec<Source> {
            let mut icons: Vec<&Icon> = names.iter().flatten().copied().collect();
            icons.shuffle(&mut rng);
            icons.iter().take(keep).map(|i| i.source()).collect()
        };
        let test = pick(&names[..n_test], CONTEXT_SOURCES.1);
        let train = pick(&names[n_test..], CONTEXT_SOURCES.0);
        if test.len() < CONTEXT_SOURCES.1 / 2 || train.len() < CONTEXT_SOURCES.0 / 2 {
            dropped.push(Dropped::new(
                format!("icon context {context}"),
                format!("{} train and {} test drawings", train.len(), test.len()),
            ));
            continue;
        }
        classes.push(ClassSpec {
            name: context.into(),
            concept: format!("icon-context:{context}"),
            train,
            test,
        });
    }
    tasks.push(TaskSpec::augmented(
        CONTEXT_FAMILY,
        CONTEXT_FAMILY,
        Stage::MetaTrain,
        AugmentConfig::OBJECTS,
        classes,
    ));
    (tasks, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::check_disjoint;

    #[test]
    fn sizes_come_from_folder_names() {
        assert_eq!(drawing_size(Path::new("48x48/places/folder.png")), Some(48));
        assert_eq!(drawing_size(Path::new("places/64/folder.png")), Some(64));
        assert_eq!(drawing_size(Path::new("scalable/places/a.svg")), Some(1024));
        assert_eq!(drawing_size(Path::new("22x22@2x/places/a.svg")), None);
        assert_eq!(drawing_size(Path::new("symbolic/places/a.svg")), None);
    }

    #[test]
    fn themes_give_identity_and_context_tasks() {
        let root = std::env::temp_dir().join(format!("tans-icons-{}", std::process::id()));
        let png = image::RgbaImage::from_pixel(2, 2, image::Rgba([9, 9, 9, 255]));
        let mut themes = Vec::new();
        for t in 0..7 {
            let theme = root.join(format!("theme{t}"));
            for (i, context) in ["actions", "places"].iter().enumerate() {
                for n in 0..30 {
                    // Two layouts, as the themes use: size/context and context/size.
                    let (small, large) = if t % 2 == 0 {
                        (
                            theme.join(format!("16x16/{context}")),
                            theme.join(format!("48x48/{context}")),
                        )
                    } else {
                        (
                            theme.join(format!("{context}/16")),
                            theme.join(format!("{context}/48")),
                        )
                    };
                    for dir in [&small, &large] {
                        std::fs::create_dir_all(dir).unwrap();
                        png.save(dir.join(format!("icon{i}-{n}.png"))).unwrap();
                    }
                }
            }
            // An alias of icon0-0 that only this theme has: left out, icon0-0 kept.
            #[cfg(unix)]
            std::os::unix::fs::symlink(
                "icon0-0.png",
                root.join(if t % 2 == 0 {
                    format!("theme{t}/48x48/actions/alias{t}.png")
                } else {
                    format!("theme{t}/actions/48/alias{t}.png")
                }),
            )
            .unwrap();
            let icons = theme_icons(&format!("theme{t}"), &theme).unwrap();
            assert_eq!(icons.len(), 61, "one drawing per name");
            assert!(
                icons
                    .iter()
                    .all(|i| i.path.to_string_lossy().contains("48"))
            );
            themes.push(icons);
        }
        let (tasks, dropped) = tasks(&themes, 3);
        assert_eq!(
            tasks.len(),
            4,
            "60 names make 3 identity tasks, plus contexts"
        );
        assert!(dropped.is_empty(), "{dropped:?}");
        for task in &tasks[..3] {
            for class in &task.classes {
                assert_eq!((class.train.len(), class.test.len()), (6, 1));
            }
        }
        let contexts = &tasks[3];
        assert_eq!(contexts.classes.len(), 2);
        for class in &contexts.classes {
            let names = |s: &[Source]| -> std::collections::BTreeSet<String> {
                s.iter()
                    .map(|s| s.id().rsplit('/').next().unwrap().to_string())
                    .collect()
            };
            assert!(names(&class.train).is_disjoint(&names(&class.test)));
        }
        check_disjoint(&tasks).unwrap();
        std::fs::remove_dir_all(root).unwrap();
    }
}
