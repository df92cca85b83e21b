//! SVG and SVGZ rendering with resvg: a whole file fitted into a square, or one element of a
//! sheet (a card of a deck, a tile of a tileset) cropped to its own box.
//!
//! Rendering is deterministic on every machine: no system fonts are loaded (text elements are
//! left out), external files are never read, and embedded raster images larger than
//! [`MAX_EMBEDDED_SIDE`] are skipped before they are decoded.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use image::RgbaImage;
use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, ImageHrefResolver, Options, Tree};

/// Largest SVG or SVGZ file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// Largest side of a raster image embedded in an SVG that is decoded.
pub const MAX_EMBEDDED_SIDE: u32 = 4096;

fn options() -> Options<'static> {
    let default_data = ImageHrefResolver::default_data_resolver();
    Options {
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(move |mime, data: Arc<Vec<u8>>, options| {
                let too_large = image::ImageReader::new(Cursor::new(data.as_slice()))
                    .with_guessed_format()
                    .ok()
                    .and_then(|reader| reader.into_dimensions().ok())
                    .is_some_and(|(w, h)| w.max(h) > MAX_EMBEDDED_SIDE);
                if too_large {
                    None
                } else {
                    default_data(mime, data, options)
                }
            }),
            resolve_string: Box::new(|_, _| None),
        },
        ..Options::default()
    }
}

/// Reads an SVG or SVGZ file as text, refusing files past [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{size} bytes, more than the {MAX_FILE_BYTES} read"));
    }
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        std::io::Read::take(
            flate2::read::GzDecoder::new(data.as_slice()),
            MAX_FILE_BYTES * 8,
        )
        .read_to_string(&mut text)
        .map_err(|e| format!("not a usable SVGZ: {e}"))?;
        Ok(text)
    } else {
        String::from_utf8(data).map_err(|e| format!("not a usable SVG: {e}"))
    }
}

fn parse_text(text: &str) -> Result<Tree, String> {
    Tree::from_str(text, &options()).map_err(|e| format!("not a usable SVG: {e}"))
}

/// Parses an SVG or SVGZ file.
pub fn parse(path: &Path) -> Result<Tree, String> {
    parse_text(&read_text(path)?)
}

/// The id of the `<use>` that [`SvgSheet`] adds for `element`.
fn use_id(element: &str) -> String {
    format!("tans-use-{element}")
}

/// Renders `draw` into a transparent `side × side` square, the box `(x, y, w, h)` scaled to fit
/// and centred.
fn render_box(
    side: u32,
    (x, y, w, h): (f32, f32, f32, f32),
    draw: impl FnOnce(Transform, &mut Pixmap),
) -> Result<RgbaImage, String> {
    if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
        return Err(format!("empty drawing ({w} × {h})"));
    }
    let mut pixmap = Pixmap::new(side, side).ok_or("zero-sized canvas")?;
    let scale = side as f32 / w.max(h);
    let transform = Transform::from_translate(
        (side as f32 - w * scale) / 2.0,
        (side as f32 - h * scale) / 2.0,
    )
    .pre_scale(scale, scale)
    .pre_translate(-x, -y);
    draw(transform, &mut pixmap);
    let mut out = RgbaImage::new(side, side);
    for (pixel, premultiplied) in out.pixels_mut().zip(pixmap.pixels()) {
        let c = premultiplied.demultiply();
        *pixel = image::Rgba([c.red(), c.green(), c.blue(), c.alpha()]);
    }
    Ok(out)
}

/// The whole drawing of `tree`, fitted into a `side × side` square.
fn render_tree(tree: &Tree, side: u32) -> Result<RgbaImage, String> {
    let size = tree.size();
    render_box(
        side,
        (0.0, 0.0, size.width(), size.height()),
        |t, pixmap| resvg::render(tree, t, &mut pixmap.as_mut()),
    )
}

/// An SVG or SVGZ file, rendered into a `side × side` square.
pub fn render_file(path: &Path, side: u32) -> Result<RgbaImage, String> {
    render_tree(&parse(path)?, side)
}

fn node<'t>(tree: &'t Tree, id: &str) -> Result<(&'t usvg::Node, usvg::NonZeroRect), String> {
    let node = tree
        .node_by_id(id)
        .ok_or_else(|| format!("no element with id {id:?}"))?;
    let bbox = node
        .abs_layer_bounding_box()
        .ok_or_else(|| format!("element {id:?} draws nothing"))?;
    Ok((node, bbox))
}

/// Draws `node` where it sits on the canvas, moved by `shift`, through `fit` (canvas to pixels).
fn draw_node(
    node: &usvg::Node,
    bbox: usvg::NonZeroRect,
    fit: Transform,
    shift: (f32, f32),
    pixmap: &mut Pixmap,
) {
    // `render_node` applies the node's own transform but not its ancestors' (the sheet's
    // viewBox scale, layer offsets), and moves the box corner to the origin first: undo both.
    let own = match node {
        usvg::Node::Group(group) => group.transform(),
        _ => Transform::identity(),
    };
    let ancestors = node
        .abs_transform()
        .pre_concat(own.invert().unwrap_or_default());
    let transform = fit
        .pre_translate(shift.0, shift.1)
        .pre_concat(ancestors)
        .pre_translate(bbox.x(), bbox.y());
    resvg::render_node(node, transform, &mut pixmap.as_mut());
}

fn corner_and_size(bbox: usvg::NonZeroRect) -> (f32, f32, f32, f32) {
    (bbox.x(), bbox.y(), bbox.width(), bbox.height())
}

/// The element `id` of `tree`, cropped to its box and fitted into a `side × side` square.
pub fn render_element(tree: &Tree, id: &str, side: u32) -> Result<RgbaImage, String> {
    let (node, bbox) = node(tree, id)?;
    render_box(side, corner_and_size(bbox), |fit, pixmap| {
        draw_node(node, bbox, fit, (0.0, 0.0), pixmap)
    })
}

/// The element `id` centred on the element `backdrop` (a tile face on its tile), at the sheet's
/// own scale, cropped to the backdrop and fitted into a `side × side` square.
pub fn render_element_on(
    tree: &Tree,
    id: &str,
    backdrop: &str,
    side: u32,
) -> Result<RgbaImage, String> {
    let (face, face_box) = node(tree, id)?;
    let (under, under_box) = node(tree, backdrop)?;
    let centre = |b: usvg::NonZeroRect| (b.x() + b.width() / 2.0, b.y() + b.height() / 2.0);
    let (fc, uc) = (centre(face_box), centre(under_box));
    render_box(side, corner_and_size(under_box), |fit, pixmap| {
        draw_node(under, under_box, fit, (0.0, 0.0), pixmap);
        draw_node(face, face_box, fit, (uc.0 - fc.0, uc.1 - fc.1), pixmap);
    })
}

/// An SVG file whose elements are rendered one by one (a deck of cards): parsed once, on first
/// use, and shared by every source that refers to it. Sheets often keep their elements in
/// `<defs>` (as KDE's card decks do), which are not drawn; so that every listed element can be
/// rendered, a `<use>` of each is added to the document before it is parsed.
#[derive(Debug)]
pub struct SvgSheet {
    path: PathBuf,
    elements: Vec<String>,
    /// An element every listed element is drawn on (a tileset's blank tile).
    backdrop: Option<String>,
    tree: OnceLock<Result<Tree, String>>,
}

impl SvgSheet {
    pub fn new(path: PathBuf, elements: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            path,
            elements,
            backdrop: None,
            tree: OnceLock::new(),
        })
    }

    /// A sheet whose elements are each drawn centred on `backdrop`.
    pub fn with_backdrop(path: PathBuf, elements: Vec<String>, backdrop: String) -> Arc<Self> {
        Arc::new(Self {
            path,
            elements,
            backdrop: Some(backdrop),
            tree: OnceLock::new(),
        })
    }

    fn load(&self) -> Result<Tree, String> {
        let mut text = read_text(&self.path)?;
        let end = text.rfind("</svg").ok_or("no closing </svg> tag")?;
        let uses: String = self
            .elements
            .iter()
            .chain(&self.backdrop)
            .filter(|e| {
                e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            })
            .map(|e| format!(r##"<use id="{}" href="#{e}"/>"##, use_id(e)))
            .collect();
        text.insert_str(end, &uses);
        parse_text(&text)
    }

    /// The parsed sheet, or why it cannot be parsed.
    pub fn tree(&self) -> Result<&Tree, String> {
        self.tree
            .get_or_init(|| self.load())
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Renders `element`, which must be one of the sheet's listed elements.
    pub fn render(&self, element: &str, side: u32) -> Result<RgbaImage, String> {
        if !self.elements.iter().any(|e| e == element) {
            return Err(format!("{element:?} is not listed for this sheet"));
        }
        let tree = self.tree()?;
        // The element itself where it is drawn, else its `<use>` copy.
        let drawn = |id: &str| {
            if tree.node_by_id(id).is_some() {
                id.to_string()
            } else {
                use_id(id)
            }
        };
        match &self.backdrop {
            None => render_element(tree, &drawn(element), side),
            Some(backdrop) => render_element_on(tree, &drawn(element), &drawn(backdrop), side),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tans-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// One element drawn inside a shifted layer, one kept in `<defs>` (as card decks keep their
    /// cards), on a sheet whose viewBox scales it by 2.
    const SHEET: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200" viewBox="0 0 200 100">
        <defs><g id="right"><circle cx="150" cy="50" r="30" fill="#0000ff"/></g></defs>
        <g transform="translate(5 0)"><g id="left"><rect x="10" y="10" width="20" height="40" fill="#ff0000"/></g></g>
    </svg>"##;

    #[test]
    fn a_file_renders_into_a_square_keeping_its_aspect() {
        let image = render_file(&write("sheet.svg", SHEET), 40).unwrap();
        assert_eq!(image.dimensions(), (40, 40));
        // 200 × 100 fits as 40 × 20, centred: rows 0..10 stay transparent.
        assert_eq!(image.get_pixel(20, 5)[3], 0);
        // The red bar sits at x 3..7, y 12..20 of the square.
        assert_eq!(image.get_pixel(4, 15).0, [255, 0, 0, 255]);
    }

    #[test]
    fn an_element_renders_cropped_to_its_own_box() {
        let ids = ["left", "right", "missing"].map(String::from).to_vec();
        let sheet = SvgSheet::new(write("sheet2.svg", SHEET), ids);
        let bar = sheet.render("left", 40).unwrap();
        // A 20 × 40 bar fitted into 40 × 40: 20 wide, centred, filling the height.
        assert_eq!(bar.get_pixel(20, 20).0, [255, 0, 0, 255]);
        assert_eq!(
            bar.get_pixel(11, 20).0,
            [255, 0, 0, 255],
            "fills its box: x 10..30"
        );
        assert_eq!(bar.get_pixel(28, 2).0, [255, 0, 0, 255]);
        assert_eq!(bar.get_pixel(5, 20)[3], 0);
        let disc = sheet.render("right", 40).unwrap();
        assert_eq!(disc.get_pixel(20, 20).0, [0, 0, 255, 255]);
        assert_eq!(disc.get_pixel(1, 1)[3], 0, "outside the disc");
        assert!(
            sheet
                .render("missing", 40)
                .unwrap_err()
                .contains("no element")
        );
        assert!(
            sheet
                .render("other", 40)
                .unwrap_err()
                .contains("not listed")
        );
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        assert!(
            render_file(&write("bad.svg", "<svg"), 16)
                .unwrap_err()
                .contains("not a usable SVG")
        );
        assert!(render_file(&write("empty.svg", ""), 16).is_err());
        assert!(render_file(Path::new("/no/such/file.svg"), 16).is_err());
        let sheet = SvgSheet::new(write("bad2.svg", "not xml"), vec!["left".into()]);
        assert!(sheet.render("left", 16).is_err());
    }

    #[test]
    fn oversized_embedded_images_are_skipped() {
        use base64::Engine;
        let svg_with = |side: u32| {
            let mut png = Vec::new();
            image::RgbaImage::from_pixel(side, 1, image::Rgba([0, 255, 0, 255]))
                .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            let data = base64::engine::general_purpose::STANDARD.encode(png);
            format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">
                <image width="10" height="10" preserveAspectRatio="none" xlink:href="data:image/png;base64,{data}"/></svg>"#
            )
        };
        let drawn = |side: u32| {
            render_file(&write(&format!("embedded-{side}.svg"), &svg_with(side)), 10)
                .unwrap()
                .get_pixel(5, 5)
                .0
        };
        assert_eq!(
            drawn(100),
            [0, 255, 0, 255],
            "a small embedded image is drawn"
        );
        // Small on disk, past the cap: dropped before decoding, so nothing is drawn.
        assert_eq!(drawn(MAX_EMBEDDED_SIDE + 1)[3], 0);
    }
}
