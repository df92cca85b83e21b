//! Small SVG charts for the reports (`tans eval`): horizontal bars per row and lines over steps.
//! Plain SVG text, so a report folder opens in any browser with no plotting stack.

/// Escapes text for SVG.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 260.0;
const COLOURS: [&str; 4] = ["#3b6ea8", "#d9822b", "#5a9e4b", "#a23b72"];

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
}
