//! Bar charts drawn as SVG on the server: no script, no library, readable in any browser.

use maud::{Markup, html};

/// A bar chart of `values` labelled by `labels` (same length), `height` pixels of bars.
pub fn bars(title: &str, labels: &[String], values: &[i64], class: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (bar, gap, height, top, bottom) = (28i64, 8i64, 120i64, 18i64, 22i64);
    let width = i64::try_from(values.len()).unwrap_or(0) * (bar + gap) + gap;
    html! {
        figure.chart {
            figcaption { (title) }
            svg role="img" aria-label=(title) width=(width) height=(height + top + bottom)
                viewBox=(format!("0 0 {width} {}", height + top + bottom)) {
                @for (i, (label, value)) in labels.iter().zip(values).enumerate() {
                    @let x = gap + i64::try_from(i).unwrap_or(0) * (bar + gap);
                    @let h = value * height / max;
                    rect class=(class) x=(x) y=(top + height - h) width=(bar) height=(h) {
                        title { (label) ": " (value) }
                    }
                    text x=(x + bar / 2) y=(top + height - h - 4) text-anchor="middle" { (value) }
                    text x=(x + bar / 2) y=(top + height + 15) text-anchor="middle" { (label) }
                }
            }
        }
    }
}
