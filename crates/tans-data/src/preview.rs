//! Contact sheets for people to look at: one PNG per task, a row per class with its first
//! train views, a gap, then its first test views, each pixel doubled.

use image::{Rgb, RgbImage};

use crate::packed::PackedTask;

const TRAIN_COLUMNS: usize = 10;
const TEST_COLUMNS: usize = 4;
const SCALE: u32 = 2;
const GAP: u32 = 6;

pub fn contact_sheet(task: &PackedTask) -> RgbImage {
    let side = task.image_size;
    let cell = side * SCALE + 2;
    let width = cell * (TRAIN_COLUMNS + TEST_COLUMNS) as u32 + GAP;
    let height = cell * task.classes.len().max(1) as u32;
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([128, 128, 128]));
    let image_bytes = (side * side * 3) as usize;
    let mut draw = |images: &[u8], index: usize, row: usize, column: usize, x0: u32| {
        let pixels = &images[index * image_bytes..(index + 1) * image_bytes];
        let (cx, cy) = (x0 + column as u32 * cell + 1, row as u32 * cell + 1);
        for y in 0..side * SCALE {
            for x in 0..side * SCALE {
                let i = (((y / SCALE) * side + x / SCALE) * 3) as usize;
                sheet.put_pixel(
                    cx + x,
                    cy + y,
                    Rgb([pixels[i], pixels[i + 1], pixels[i + 2]]),
                );
            }
        }
    };
    for (row, _) in task.classes.iter().enumerate() {
        let pick = |labels: &[i64], n: usize| -> Vec<usize> {
            (0..labels.len())
                .filter(|&i| labels[i] == row as i64)
                .take(n)
                .collect()
        };
        for (column, index) in pick(&task.train_labels, TRAIN_COLUMNS)
            .into_iter()
            .enumerate()
        {
            draw(&task.train_images, index, row, column, 0);
        }
        let x0 = cell * TRAIN_COLUMNS as u32 + GAP;
        for (column, index) in pick(&task.test_labels, TEST_COLUMNS)
            .into_iter()
            .enumerate()
        {
            draw(&task.test_images, index, row, column, x0);
        }
    }
    sheet
}
