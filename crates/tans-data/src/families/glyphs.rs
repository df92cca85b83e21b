//! Omniglot-like tasks: 20 characters of one writing system per task, drawn in every font that
//! covers them. Fonts are split between train and test, so no rendered source (a character in a
//! font) is in both. Digits are left out: they are meta-test classes (MNIST, sklearn digits).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_script::{Script, UnicodeScript};

use crate::augment::AugmentConfig;
use crate::font::Font;
use crate::task::{ClassSpec, Source, Stage, TaskSpec};
use crate::{Dropped, seed_for};

pub const FAMILY: &str = "glyphs";

/// The fonts of one script, each with the letters of that script it draws.
type ScriptFonts = Vec<(Arc<Font>, BTreeSet<char>)>;

#[derive(Debug, Clone)]
pub struct GlyphConfig {
    pub classes_per_task: usize,
    pub max_tasks_per_script: usize,
    /// Share of a script's fonts held out for the test split (at least one font).
    pub test_font_share: f32,
}

impl Default for GlyphConfig {
    fn default() -> Self {
        Self {
            classes_per_task: 20,
            max_tasks_per_script: 3,
            test_font_share: 0.2,
        }
    }
}

/// The letters of `script` a font may contribute: for Latin, Greek and Cyrillic the basic
/// lower-case alphabet (their hundreds of accented forms would make near-duplicate classes),
/// for every other script each letter (general category L: no digits, and no combining marks,
/// which draw as a lone dot or stroke), leaving out presentation forms (compatibility ligatures
/// and contextual shapes of letters that are classes already).
fn is_class_letter(c: char, script: Script) -> bool {
    if ('\u{FB00}'..='\u{FDFF}').contains(&c) || ('\u{FE70}'..='\u{FEFF}').contains(&c) {
        return false;
    }
    match script {
        Script::Latin => c.is_ascii_lowercase(),
        Script::Greek => ('\u{03B1}'..='\u{03C9}').contains(&c) && c != '\u{03C2}',
        Script::Cyrillic => ('\u{0430}'..='\u{044F}').contains(&c),
        _ => {
            c.general_category_group() == GeneralCategoryGroup::Letter
                && c.general_category() != GeneralCategory::ModifierLetter
        }
    }
}

fn letters_by_script(font: &Font) -> BTreeMap<String, BTreeSet<char>> {
    let mut by_script: BTreeMap<String, BTreeSet<char>> = BTreeMap::new();
    for c in font.chars() {
        let script = c.script();
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown)
            || !is_class_letter(c, script)
        {
            continue;
        }
        by_script
            .entry(script.full_name().to_string())
            .or_default()
            .insert(c);
    }
    by_script
}

/// Glyph tasks from `fonts` (Noto and handwriting fonts alike: each font joins every script it
/// covers with enough letters).
pub fn tasks(fonts: &[PathBuf], config: &GlyphConfig, seed: u64) -> (Vec<TaskSpec>, Vec<Dropped>) {
    let mut dropped = Vec::new();
    let mut scripts: BTreeMap<String, ScriptFonts> = BTreeMap::new();
    for path in fonts {
        let font = match Font::load(path) {
            Ok(font) => Arc::new(font),
            Err(e) => {
                dropped.push(Dropped::new(path.display().to_string(), e.to_string()));
                continue;
            }
        };
        for (script, letters) in letters_by_script(&font) {
            if letters.len() >= config.classes_per_task {
                scripts
                    .entry(script)
                    .or_default()
                    .push((Arc::clone(&font), letters));
            }
        }
    }
    let mut tasks = Vec::new();
    for (script, mut fonts) in scripts {
        let name = format!("{FAMILY}-{}", script.to_lowercase().replace(' ', "-"));
        if fonts.len() < 2 {
            dropped.push(Dropped::new(
                name,
                "one font only: no font left for the test split".into(),
            ));
            continue;
        }
        // The letters at least half of the script's fonts draw, and the fonts that draw them
        // all: fonts of one script can cover different parts of it (Arabic's presentation
        // forms, Urdu-only letters), and every class needs every kept font.
        let mut coverage: BTreeMap<char, usize> = BTreeMap::new();
        for (_, letters) in &fonts {
            for &c in letters {
                *coverage.entry(c).or_default() += 1;
            }
        }
        let shared: BTreeSet<char> = coverage
            .into_iter()
            .filter(|&(_, n)| 2 * n >= fonts.len())
            .map(|(c, _)| c)
            .collect();
        fonts.retain(|(_, letters)| shared.is_subset(letters));
        if shared.len() < config.classes_per_task || fonts.len() < 2 {
            dropped.push(Dropped::new(
                name,
                format!(
                    "{} font(s) draw all of its {} most common letters; a task needs 2 fonts and {} letters",
                    fonts.len(),
                    shared.len(),
                    config.classes_per_task
                ),
            ));
            continue;
        }
        let mut rng = StdRng::seed_from_u64(seed_for(seed, &name));
        fonts.sort_by(|a, b| a.0.path().cmp(b.0.path()));
        fonts.shuffle(&mut rng);
        let n_test = ((fonts.len() as f32 * config.test_font_share).round() as usize)
            .clamp(1, fonts.len() - 1);
        let (test_fonts, train_fonts) = fonts.split_at(n_test);
        let mut letters: Vec<char> = shared.into_iter().collect();
        letters.shuffle(&mut rng);
        for (k, chunk) in letters
            .chunks_exact(config.classes_per_task)
            .take(config.max_tasks_per_script)
            .enumerate()
        {
            let mut chunk = chunk.to_vec();
            chunk.sort_unstable();
            let sources = |fonts: &[(Arc<Font>, BTreeSet<char>)], ch: char| -> Vec<Source> {
                fonts
                    .iter()
                    .map(|(font, _)| Source::Glyph {
                        font: Arc::clone(font),
                        ch,
                    })
                    .collect()
            };
            tasks.push(TaskSpec {
                name: format!("{name}-{k}"),
                family: FAMILY.into(),
                stage: Stage::MetaTrain,
                augment: Some(AugmentConfig::GLYPHS),
                classes: chunk
                    .iter()
                    .map(|&ch| ClassSpec {
                        name: format!("U+{:04X}", u32::from(ch)),
                        concept: format!("char:U+{:04X}", u32::from(ch)),
                        train: sources(train_fonts, ch),
                        test: sources(test_fonts, ch),
                    })
                    .collect(),
            });
        }
    }
    (tasks, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::check_disjoint;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn scripts_with_two_fonts_become_tasks_split_by_font() {
        let dir = std::env::temp_dir().join(format!("tans-glyphs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Two "fonts" of Lycian (the same file under two names), one of Ogham.
        let lycian = fixture("NotoSansLycian-Regular.ttf");
        let (a, b) = (dir.join("LycianA.ttf"), dir.join("LycianB.ttf"));
        std::fs::copy(&lycian, &a).unwrap();
        std::fs::copy(&lycian, &b).unwrap();
        let fonts = vec![
            a,
            b,
            fixture("NotoSansOgham-Regular.ttf"),
            dir.join("missing.ttf"),
        ];
        let (tasks, dropped) = tasks(&fonts, &GlyphConfig::default(), 1);
        assert_eq!(tasks.len(), 1, "Lycian has 29 letters: one task of 20");
        let task = &tasks[0];
        assert_eq!(task.name, "glyphs-lycian-0");
        assert_eq!(task.classes.len(), 20);
        for class in &task.classes {
            assert_eq!((class.train.len(), class.test.len()), (1, 1));
            assert!(class.concept.starts_with("char:U+102"), "{}", class.concept);
        }
        check_disjoint(&tasks).unwrap();
        let reasons: Vec<String> = dropped
            .iter()
            .map(|d| format!("{}: {}", d.what, d.reason))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with("glyphs-ogham: one font only")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("missing.ttf")),
            "{reasons:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn digits_and_accented_latin_are_not_classes() {
        assert!(!is_class_letter('3', Script::Latin));
        assert!(
            !is_class_letter('\u{0967}', Script::Devanagari),
            "Devanagari digit one"
        );
        assert!(!is_class_letter('é', Script::Latin));
        assert!(is_class_letter('q', Script::Latin));
        assert!(is_class_letter('\u{0915}', Script::Devanagari));
        assert!(
            !is_class_letter('\u{0902}', Script::Devanagari),
            "anusvara, a combining mark"
        );
        assert!(
            !is_class_letter('\u{093E}', Script::Devanagari),
            "vowel sign aa, a spacing mark"
        );
        assert!(
            !is_class_letter('\u{FC5E}', Script::Arabic),
            "a presentation-form ligature"
        );
        assert!(is_class_letter('\u{0628}', Script::Arabic), "beh");
    }
}
