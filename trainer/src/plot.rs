//! Small SVG charts for the reports (`tans eval`, `tans transfer`): horizontal bars per row and
//! scatter plots.
//! Plain SVG text, so a report folder opens in any browser with no plotting stack.

/// Escapes text for SVG.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 260.0;
const COLOURS: [&str; 8] = [
    "#3b6ea8", "#d9822b", "#5a9e4b", "#a23b72", "#7f7f7f", "#b8a22b", "#2bb8b0", "#6a3d9a",
];

/// Horizontal bars: one group per row, one bar per series (`values[row][series]`), on a common
/// scale from 0 to `max`.
pub fn bars(title: &str, series: &[&str], rows: &[(String, Vec<f64>)], max: f64) -> String {
    let bar = 14.0;
    let group = bar * series.len() as f64 + 10.0;
    let top = 50.0;
    let height = top + group * rows.len() as f64 + 30.0;
    let plot = WIDTH - LABEL - 70.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"15\">{}</text>\n",
        text(title)
    );
    for (s, name) in series.iter().enumerate() {
        let x = LABEL + 160.0 * s as f64;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"30\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"39\">{}</text>\n",
            COLOURS[s % COLOURS.len()],
            x + 14.0,
            text(name)
        ));
    }
    for (r, (label, values)) in rows.iter().enumerate() {
        let y = top + group * r as f64;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            LABEL - 8.0,
            y + group / 2.0,
            text(label)
        ));
        for (s, value) in values.iter().enumerate() {
            let length = if max > 0.0 {
                (value / max).clamp(0.0, 1.0) * plot
            } else {
                0.0
            };
            let by = y + bar * s as f64;
            svg.push_str(&format!(
                "<rect x=\"{LABEL}\" y=\"{by}\" width=\"{length:.1}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{value:.1}</text>\n",
                bar - 2.0,
                COLOURS[s % COLOURS.len()],
                LABEL + length + 4.0,
                by + bar - 4.0
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// One point of a [`scatter`]: its series picks the colour; labelled points are drawn larger.
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub series: usize,
    pub label: Option<String>,
}

/// A scatter plot scaled to its points, with a legend naming each series.
pub fn scatter(title: &str, series: &[String], points: &[Point]) -> String {
    let (size, top, left) = (560.0, 40.0, 20.0);
    let bounds = |f: fn(&Point) -> f64| {
        points
            .iter()
            .map(f)
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let ((x0, x1), (y0, y1)) = (bounds(|p| p.x), bounds(|p| p.y));
    let scale = |v: f64, lo: f64, hi: f64| (v - lo) / (hi - lo).max(1e-12) * size;
    let height = top + size + 20.0 + 16.0 * series.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n",
        text(title)
    );
    // Unlabelled points first, so the labelled ones stay on top.
    for labelled in [false, true] {
        for p in points.iter().filter(|p| p.label.is_some() == labelled) {
            let (x, y) = (left + scale(p.x, x0, x1), top + size - scale(p.y, y0, y1));
            let colour = COLOURS[p.series % COLOURS.len()];
            match &p.label {
                None => svg.push_str(&format!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"{colour}\" fill-opacity=\"0.6\"/>\n"
                )),
                Some(label) => svg.push_str(&format!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{colour}\" stroke=\"black\"/>\n\
                     <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                    x + 7.0,
                    y + 4.0,
                    text(label)
                )),
            }
        }
    }
    for (s, name) in series.iter().enumerate() {
        let y = top + size + 20.0 + 16.0 * s as f64;
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            left + 4.0,
            y - 4.0,
            COLOURS[s % COLOURS.len()],
            left + 14.0,
            y,
            text(name)
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_maximum_and_escape_labels() {
        let svg = bars(
            "R@1 <per task>",
            &["a", "b"],
            &[("x & y".into(), vec![50.0, 100.0])],
            100.0,
        );
        assert!(svg.contains("R@1 &lt;per task&gt;") && svg.contains("x &amp; y"));
        let plot = WIDTH - LABEL - 70.0;
        assert!(svg.contains(&format!("width=\"{:.1}\"", plot / 2.0)));
        assert!(svg.contains(&format!("width=\"{plot:.1}\"")));
    }

    #[test]
    fn scatter_spans_the_plot_and_names_labelled_points() {
        let point = |x, y, label: Option<&str>| Point {
            x,
            y,
            series: usize::from(label.is_some()),
            label: label.map(str::to_string),
        };
        let svg = scatter(
            "t",
            &["models".into(), "queries".into()],
            &[point(-1.0, 0.0, None), point(1.0, 2.0, Some("mnist <q>"))],
        );
        // The extremes land on the plot's corners: (20, 600) and (580, 40).
        assert!(svg.contains("cx=\"20.0\" cy=\"600.0\""), "{svg}");
        assert!(svg.contains("cx=\"580.0\" cy=\"40.0\""), "{svg}");
        assert!(svg.contains("mnist &lt;q&gt;") && svg.contains(">queries<"));
    }
}
