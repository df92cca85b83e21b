//! Glyph rendering with a real rasteriser (ab_glyph): a character of a font as black ink with
//! anti-aliased alpha on a transparent background, ready for augmentation.

use std::path::{Path, PathBuf};

use ab_glyph::{Font as _, FontArc, PxScale, ScaleFont as _, point};
use image::{Rgba, RgbaImage};

use crate::error::{DataError, IoContext, Result};

/// A loaded font file.
#[derive(Clone)]
pub struct Font {
    path: PathBuf,
    font: FontArc,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Font({})", self.path.display())
    }
}

impl Font {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        let font = FontArc::try_from_vec(bytes)
            .map_err(|e| DataError::input(path, format!("not a usable font: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            font,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every character the font maps to a glyph.
    pub fn chars(&self) -> Vec<char> {
        let mut chars: Vec<char> = self.font.codepoint_ids().map(|(_, c)| c).collect();
        chars.sort_unstable();
        chars.dedup();
        chars
    }

    /// `c` at `px` pixels per em on a square canvas as tall as the font's line (ascent to
    /// descent), on its baseline and centred across, so a glyph keeps its size and place relative
    /// to the others of its font. `None` when the font draws nothing for `c`.
    pub fn render(&self, c: char, px: f32) -> Option<RgbaImage> {
        let id = self.font.glyph_id(c);
        if id.0 == 0 {
            return None;
        }
        let scaled = self.font.as_scaled(PxScale::from(px));
        let (ascent, descent) = (scaled.ascent(), scaled.descent());
        let outline = self
            .font
            .outline_glyph(id.with_scale_and_position(PxScale::from(px), point(0.0, ascent)))?;
        let bounds = outline.px_bounds();
        let side = ((ascent - descent).max(bounds.width()).max(bounds.height())).ceil() as u32;
        if side == 0 || bounds.width() < 1.0 || bounds.height() < 1.0 {
            return None;
        }
        let x0 = ((side as f32 - bounds.width()) / 2.0).round() as i64;
        let y0 = bounds.min.y.round() as i64;
        let mut image = RgbaImage::new(side, side);
        outline.draw(|x, y, coverage| {
            let (cx, cy) = (x0 + i64::from(x), y0 + i64::from(y));
            if (0..i64::from(side)).contains(&cx) && (0..i64::from(side)).contains(&cy) {
                let alpha = (coverage.clamp(0.0, 1.0) * 255.0).round() as u8;
                image.put_pixel(cx as u32, cy as u32, Rgba([0, 0, 0, alpha]));
            }
        });
        image.pixels().any(|p| p[3] > 0).then_some(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_share_the_font_line_box_and_missing_ones_are_none() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/NotoSansLycian-Regular.ttf");
        let font = Font::load(&path).unwrap();
        let letters: Vec<char> = font
            .chars()
            .into_iter()
            .filter(|c| u32::from(*c) >= 0x10280)
            .collect();
        assert!(letters.len() >= 20, "{letters:?}");
        let a = font.render(letters[0], 64.0).unwrap();
        let b = font.render(letters[5], 64.0).unwrap();
        assert_eq!(
            a.dimensions(),
            b.dimensions(),
            "one canvas size per font and size"
        );
        assert!(a.pixels().any(|p| p[3] == 255));
        assert!(
            font.render('\u{0915}', 64.0).is_none(),
            "Lycian has no Devanagari"
        );
        assert!(font.render(' ', 64.0).is_none(), "a space draws nothing");
        let error = Font::load(&path.with_file_name("README.md")).unwrap_err();
        assert!(error.to_string().contains("README.md"), "{error}");
    }
}
