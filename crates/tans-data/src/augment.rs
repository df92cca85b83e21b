//! Seeded augmentation: one rendered source image (RGBA, any size) becomes a square RGB view of
//! the pool's resolution — fitted to a square, randomly rotated, scaled and shifted, composited
//! over a random background, with brightness jitter and pixel noise. The same seed always gives
//! the same view.

use image::imageops::FilterType;
use image::{Rgb, RgbImage, Rgba, RgbaImage};
use rand::Rng;

/// How strongly to vary the views of one source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentConfig {
    pub max_rotation_deg: f32,
    pub scale: (f32, f32),
    /// Largest shift as a fraction of the side.
    pub max_shift: f32,
    /// Standard deviation of per-pixel noise, in 0–255 units.
    pub noise: f32,
    /// Paint the source's opaque parts one random ink colour (for glyphs, drawn in black).
    pub recolour: bool,
    /// Crop the source to its visible pixels first (sprites drawn small on a large canvas).
    pub crop: bool,
}

impl AugmentConfig {
    /// For icons, emoji and sprites: coloured objects on a transparent background.
    pub const OBJECTS: Self = Self {
        max_rotation_deg: 15.0,
        scale: (0.75, 1.0),
        max_shift: 0.08,
        noise: 6.0,
        recolour: false,
        crop: false,
    };

    /// For textures that fill the frame: no rotation, zoomed in, so no background shows.
    pub const TEXTURES: Self = Self {
        max_rotation_deg: 0.0,
        scale: (1.0, 1.4),
        max_shift: 0.0,
        noise: 4.0,
        recolour: false,
        crop: false,
    };

    /// For game sprites: as [`Self::OBJECTS`], cropped to the sprite.
    pub const SPRITES: Self = Self {
        crop: true,
        ..Self::OBJECTS
    };

    /// For glyphs: in a random ink, and larger, since a glyph sits in its font's whole line
    /// box (ascent to descent) rather than a tight crop.
    pub const GLYPHS: Self = Self {
        recolour: true,
        scale: (0.95, 1.35),
        ..Self::OBJECTS
    };
}

/// Scales `image` to fit a `side × side` transparent square, centred, keeping its aspect ratio.
pub fn fit_square(image: &RgbaImage, side: u32) -> RgbaImage {
    let (w, h) = image.dimensions();
    let mut canvas = RgbaImage::new(side, side);
    if w == 0 || h == 0 {
        return canvas;
    }
    let scale = side as f32 / w.max(h) as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let resized = image::imageops::resize(image, nw, nh, FilterType::Triangle);
    image::imageops::overlay(
        &mut canvas,
        &resized,
        i64::from((side - nw) / 2),
        i64::from((side - nh) / 2),
    );
    canvas
}

fn bilinear(image: &RgbaImage, x: f32, y: f32) -> [f32; 4] {
    let (w, h) = image.dimensions();
    if x < 0.0 || y < 0.0 || x > (w - 1) as f32 || y > (h - 1) as f32 {
        return [0.0; 4];
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| image.get_pixel(x, y).0.map(f32::from);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    let mut out = [0.0; 4];
    for i in 0..4 {
        out[i] =
            (a[i] * (1.0 - fx) + b[i] * fx) * (1.0 - fy) + (c[i] * (1.0 - fx) + d[i] * fx) * fy;
    }
    out
}

/// `image` cut to the bounding box of its pixels with alpha above 16 (unchanged if none are).
pub fn crop_to_content(image: &RgbaImage) -> RgbaImage {
    let visible = |p: &image::Rgba<u8>| p[3] > 16;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in image.enumerate_pixels() {
        if visible(p) {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return image.clone();
    }
    image::imageops::crop_imm(image, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image()
}

/// One augmented `size × size` RGB view of `source`.
pub fn view(source: &RgbaImage, size: u32, config: &AugmentConfig, rng: &mut impl Rng) -> RgbImage {
    let work = size * 4;
    let fitted = if config.crop {
        fit_square(&crop_to_content(source), work)
    } else {
        fit_square(source, work)
    };
    let angle = rng
        .random_range(-config.max_rotation_deg..=config.max_rotation_deg)
        .to_radians();
    let scale = rng.random_range(config.scale.0..=config.scale.1);
    let shift = config.max_shift * work as f32;
    let (dx, dy) = (
        rng.random_range(-shift..=shift),
        rng.random_range(-shift..=shift),
    );
    let mut colour = || -> [f32; 3] { std::array::from_fn(|_| rng.random_range(0.0..=255.0f32)) };
    let ink = config.recolour.then(&mut colour);
    let luminance = |c: [f32; 3]| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    // A background that stands out from the ink (or from the source's own colours, on average).
    let contrast_with = ink.map(luminance).unwrap_or(96.0);
    let background = (0..16)
        .map(|_| colour())
        .find(|c| (luminance(*c) - contrast_with).abs() >= 96.0)
        .unwrap_or([if contrast_with < 128.0 { 255.0 } else { 0.0 }; 3]);
    let brightness = rng.random_range(0.85..=1.15f32);
    let (cos, sin) = (angle.cos(), angle.sin());
    let centre = work as f32 / 2.0;
    // Sample at the working resolution's pixel centres, 2 × 2 per output pixel.
    let step = work as f32 / size as f32;
    let mut out = RgbImage::new(size, size);
    for (ox, oy, pixel) in out.enumerate_pixels_mut() {
        let mut acc = [0f32; 3];
        for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
            let (u, v) = (
                (ox as f32 + sx) * step - centre - dx,
                (oy as f32 + sy) * step - centre - dy,
            );
            let (x, y) = (
                (cos * u + sin * v) / scale + centre,
                (-sin * u + cos * v) / scale + centre,
            );
            let [r, g, b, a] = bilinear(&fitted, x, y);
            let [r, g, b] = ink.unwrap_or([r, g, b]);
            let alpha = a / 255.0;
            for (i, c) in [r, g, b].into_iter().enumerate() {
                acc[i] += c * alpha + background[i] * (1.0 - alpha);
            }
        }
        *pixel = Rgb(acc.map(|c| {
            let noise = config.noise
                * (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5);
            (c / 4.0 * brightness + noise).clamp(0.0, 255.0) as u8
        }));
    }
    out
}

/// A grayscale or RGB image resized to `size × size` without augmentation (real photos and
/// handwriting keep their own variation).
pub fn resize_rgb(source: &RgbaImage, size: u32, background: Rgba<u8>) -> RgbImage {
    let mut flat = RgbaImage::from_pixel(source.width(), source.height(), background);
    image::imageops::overlay(&mut flat, source, 0, 0);
    let square = fit_square(&flat, size);
    RgbImage::from_fn(size, size, |x, y| {
        let p = square.get_pixel(x, y).0;
        let a = f32::from(p[3]) / 255.0;
        Rgb(std::array::from_fn(|i| {
            (f32::from(p[i]) * a + f32::from(background.0[i]) * (1.0 - a)).round() as u8
        }))
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn square_source() -> RgbaImage {
        RgbaImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgba([0, 0, 0, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        })
    }

    #[test]
    fn views_are_seeded_and_sized() {
        let source = square_source();
        let a = view(
            &source,
            32,
            &AugmentConfig::OBJECTS,
            &mut StdRng::seed_from_u64(1),
        );
        let b = view(
            &source,
            32,
            &AugmentConfig::OBJECTS,
            &mut StdRng::seed_from_u64(1),
        );
        let c = view(
            &source,
            32,
            &AugmentConfig::OBJECTS,
            &mut StdRng::seed_from_u64(2),
        );
        assert_eq!(a.dimensions(), (32, 32));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fit_square_keeps_the_aspect_ratio() {
        let fitted = fit_square(&square_source(), 8);
        assert_eq!(fitted.dimensions(), (8, 8));
        assert_eq!(
            fitted.get_pixel(0, 0)[3],
            0,
            "padding above the wide source"
        );
        assert_eq!(fitted.get_pixel(1, 4)[3], 255, "the opaque half");
        assert_eq!(fitted.get_pixel(6, 4)[3], 0, "the transparent half");
        assert_eq!(fit_square(&RgbaImage::new(0, 0), 4).dimensions(), (4, 4));
    }

    #[test]
    fn crop_keeps_only_the_visible_part() {
        let mut image = RgbaImage::new(10, 10);
        image.put_pixel(3, 4, Rgba([0, 0, 0, 255]));
        image.put_pixel(5, 7, Rgba([0, 0, 0, 255]));
        image.put_pixel(9, 9, Rgba([0, 0, 0, 10]));
        assert_eq!(crop_to_content(&image).dimensions(), (3, 4));
        assert_eq!(crop_to_content(&RgbaImage::new(2, 2)).dimensions(), (2, 2));
    }

    #[test]
    fn resize_flattens_alpha_over_the_background() {
        let out = resize_rgb(&square_source(), 8, Rgba([255, 255, 255, 255]));
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(1, 4).0, [0, 0, 0]);
    }
}
