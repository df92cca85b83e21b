//! The one way an image becomes backbone input, shared by the trainer and the browser: decode
//! (size-capped) → RGB, transparency flattened over white and grayscale expanded → the centred
//! square → resized with an antialiasing filter → normalised with the Lite mean and std, in
//! channel-first order. Huge images are downscaled before anything the size of the input is
//! allocated again.

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, Rgba, RgbaImage};

use crate::backbone::{MEAN, STD};
use crate::error::{Result, TansError};

/// Largest side accepted, and the most bytes a decoder may allocate.
pub const MAX_SIDE: u32 = 16_384;
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// Decodes PNG, JPEG or TGA bytes (any mode and bit depth); `name` names the image in errors.
pub fn decode(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| TansError::invalid(name, e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| TansError::invalid(name, e.to_string()))
}

/// `image` as `3 × side × side` normalised floats (channel-first).
pub fn to_input(image: &DynamicImage, side: u32) -> Vec<f32> {
    let (w, h) = (image.width(), image.height());
    let square = w.min(h).max(1);
    let cropped = image.crop_imm(
        (w - square.min(w)) / 2,
        (h - square.min(h)) / 2,
        square,
        square,
    );
    let rgba: RgbaImage = if square > 4 * side {
        // Shrink huge images in two steps, so the full-size copy is converted only once.
        cropped
            .resize_exact(4 * side, 4 * side, FilterType::Triangle)
            .to_rgba8()
    } else {
        cropped.to_rgba8()
    };
    let resized = image::imageops::resize(&rgba, side, side, FilterType::Triangle);
    let plane = (side * side) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, Rgba([r, g, b, a])) in resized.pixels().enumerate() {
        let alpha = f32::from(*a) / 255.0;
        for (c, v) in [r, g, b].into_iter().enumerate() {
            let over_white = f32::from(*v) / 255.0 * alpha + (1.0 - alpha);
            out[c * plane + i] = (over_white - MEAN) / STD;
        }
    }
    out
}

/// A batch tensor `[n, 3, side, side]` from inputs made by [`to_input`].
pub fn batch(inputs: &[Vec<f32>], side: u32, device: &Device) -> Result<Tensor<4>> {
    let s = side as usize;
    if let Some(bad) = inputs.iter().position(|x| x.len() != 3 * s * s) {
        return Err(TansError::invalid(
            format!("backbone input {bad}"),
            format!("{} values, expected 3 × {side} × {side}", inputs[bad].len()),
        ));
    }
    let values: Vec<f32> = inputs.concat();
    Ok(Tensor::from_data(
        TensorData::new(values, [inputs.len(), 3, s, s]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Luma, Rgb};

    use super::*;

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn every_mode_becomes_the_same_normalised_rgb() {
        let white = (1.0 - MEAN) / STD;
        let black = (0.0 - MEAN) / STD;
        let gray16 = DynamicImage::ImageLuma16(ImageBuffer::from_pixel(5, 3, Luma([65535u16])));
        let transparent = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 2, Rgba([0, 0, 0, 0])));
        let one_pixel = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(1, 1, Rgb([0u8, 0, 0])));
        for (image, expected) in [(gray16, white), (transparent, white), (one_pixel, black)] {
            let decoded = decode(&png(&image), "test.png").unwrap();
            let input = to_input(&decoded, 8);
            assert_eq!(input.len(), 3 * 64);
            assert!(
                input.iter().all(|v| (v - expected).abs() < 1e-5),
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_centred_square_is_kept() {
        // Left third red, middle third green, right third blue: only green survives the crop.
        let wide = RgbaImage::from_fn(30, 10, |x, _| match x / 10 {
            0 => Rgba([255, 0, 0, 255]),
            1 => Rgba([0, 255, 0, 255]),
            _ => Rgba([0, 0, 255, 255]),
        });
        let input = to_input(&DynamicImage::ImageRgba8(wide), 4);
        let (low, high) = ((0.0 - MEAN) / STD, (1.0 - MEAN) / STD);
        assert!(input[..16].iter().all(|v| (v - low).abs() < 1e-5), "no red");
        assert!(
            input[16..32].iter().all(|v| (v - high).abs() < 1e-5),
            "all green"
        );
    }

    #[test]
    fn huge_images_shrink_and_garbage_is_named() {
        let huge = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(6000, 5000, Rgb([0u8, 0, 0])));
        assert_eq!(to_input(&huge, 16).len(), 3 * 256);
        let error = decode(b"not an image", "upload-3.png").unwrap_err();
        assert!(error.to_string().contains("upload-3.png"), "{error}");
        let error = decode(&png(&huge)[..100], "cut.png").unwrap_err();
        assert!(error.to_string().contains("cut.png"), "{error}");
        let device = Device::flex();
        assert_eq!(
            batch(&[vec![0.0; 48], vec![0.0; 48]], 4, &device)
                .unwrap()
                .dims(),
            [2, 3, 4, 4]
        );
        assert!(batch(&[vec![0.0; 47]], 4, &device).is_err());
    }
}
