//! Charts drawn on the server as plain SVG (inline in `index.html`, no script):
//! horizontal bars for ranked things (queries, tables, backups), one bar per
//! row and up to two stacked series, and columns for the hours of a day.
//! Every label is escaped; an empty chart says so instead of drawing nothing.

use std::fmt::Write;

const WIDTH: f64 = 760.0;
const LABEL_WIDTH: f64 = 300.0;
const ROW: f64 = 22.0;
const TOP: f64 = 34.0;
const COLORS: &[&str] = &["#3b6ea5", "#e39b3b", "#5a9e5a"];

/// One row of a bar chart: a label and one value per series.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub values: Vec<f64>,
}

/// How values are written beside the bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Millis,
}

impl Unit {
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Count => format!("{value:.0}"),
            Unit::Millis if value >= 1000.0 => format!("{:.1} s", value / 1000.0),
            Unit::Millis => format!("{value:.1} ms"),
            Unit::Bytes => crate::backup::dump::human_bytes(value.max(0.0) as u64),
        }
    }
}

/// Escapes text for SVG/HTML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut short: String = flat.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

fn open(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12"><title>{t}</title><text x="0" y="16" font-size="14" font-weight="bold">{t}</text>"#,
        t = escape(title)
    );
}

fn empty(title: &str, why: &str) -> String {
    let mut out = String::new();
    open(&mut out, title, 60.0);
    let _ = write!(
        out,
        r##"<text x="0" y="44" fill="#666">{}</text></svg>"##,
        escape(why)
    );
    out
}

/// Horizontal bars, largest first as given; `series` names the stacked values
/// (a legend is drawn when there are several).
pub fn bars(title: &str, series: &[&str], unit: Unit, rows: &[Bar]) -> String {
    let max = rows
        .iter()
        .map(|bar| bar.values.iter().sum::<f64>())
        .fold(0.0, f64::max);
    if rows.is_empty() || max <= 0.0 {
        return empty(title, "nothing to show for this day");
    }
    let legend = if series.len() > 1 { ROW } else { 0.0 };
    let height = TOP + legend + ROW * rows.len() as f64 + 8.0;
    let plot = WIDTH - LABEL_WIDTH - 90.0;
    let mut out = String::new();
    open(&mut out, title, height);
    if series.len() > 1 {
        let mut x = LABEL_WIDTH;
        for (i, name) in series.iter().enumerate() {
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{c}"/><text x="{tx}" y="{ty}">{n}</text>"#,
                y = TOP - 6.0,
                c = COLORS[i % COLORS.len()],
                tx = x + 14.0,
                ty = TOP + 3.0,
                n = escape(name)
            );
            x += 20.0 + 8.0 * name.len() as f64;
        }
    }
    for (row, bar) in rows.iter().enumerate() {
        let y = TOP + legend + ROW * row as f64;
        let label = shorten(&bar.label, 46);
        let _ = write!(
            out,
            r#"<text x="{lx}" y="{ty}" text-anchor="end"><title>{full}</title>{label}</text>"#,
            lx = LABEL_WIDTH - 6.0,
            ty = y + 14.0,
            full = escape(&bar.label),
            label = escape(&label)
        );
        let mut x = LABEL_WIDTH;
        for (i, value) in bar.values.iter().enumerate() {
            let width = (value.max(0.0) / max * plot).max(if *value > 0.0 { 1.0 } else { 0.0 });
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{h}" fill="{c}"><title>{s}: {v}</title></rect>"#,
                y = y + 3.0,
                h = ROW - 6.0,
                c = COLORS[i % COLORS.len()],
                s = escape(series.get(i).copied().unwrap_or("")),
                v = escape(&unit.format(*value))
            );
            x += width;
        }
        let total: f64 = bar.values.iter().sum();
        let _ = write!(
            out,
            r#"<text x="{tx:.1}" y="{ty}">{v}</text>"#,
            tx = x + 4.0,
            ty = y + 14.0,
            v = escape(&unit.format(total))
        );
    }
    out.push_str("</svg>");
    out
}

/// Vertical columns, one per label (the hours of a day).
pub fn columns(title: &str, labels: &[String], values: &[f64]) -> String {
    columns_in(
        title,
        Unit::Count,
        labels,
        values,
        "nothing to show for this day",
    )
}

/// Vertical columns of `unit`, one per label (the hours of a day, the
/// dashboard's capture intervals), saying `why_empty` when all are zero. At
/// most 24 labels are written under the columns (every column keeps its
/// label in its tooltip).
pub fn columns_in(
    title: &str,
    unit: Unit,
    labels: &[String],
    values: &[f64],
    why_empty: &str,
) -> String {
    let max = values.iter().copied().fold(0.0, f64::max);
    if values.is_empty() || max <= 0.0 {
        return empty(title, why_empty);
    }
    let every = values.len().div_ceil(24);
    let plot_height = 140.0;
    let height = TOP + plot_height + 30.0;
    let left = 40.0;
    let step = (WIDTH - left) / values.len() as f64;
    let mut out = String::new();
    open(&mut out, title, height);
    let base = TOP + plot_height;
    let _ = write!(
        out,
        r##"<line x1="{left}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#999"/><text x="{lx}" y="{ty}" text-anchor="end">{m}</text>"##,
        lx = left - 4.0,
        ty = TOP + 10.0,
        m = unit.format(max)
    );
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let h = value / max * plot_height;
        let x = left + step * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{l}: {v}</title></rect>"#,
            y = base - h,
            w = step * 0.8,
            c = COLORS[0],
            l = escape(label),
            v = escape(&unit.format(*value)),
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text x="{tx:.1}" y="{ly}" text-anchor="middle" font-size="10">{l}</text>"#,
                l = escape(label),
                tx = x + step * 0.4,
                ly = base + 14.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scaled() {
        let svg = bars(
            "Top <queries>",
            &["time"],
            Unit::Millis,
            &[
                Bar {
                    label: "SELECT '<b>' & 1".to_owned(),
                    values: vec![2000.0],
                },
                Bar {
                    label: "SELECT 2".to_owned(),
                    values: vec![500.0],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Top &lt;queries&gt;"));
        assert!(svg.contains("SELECT &#39;&lt;b&gt;&#39; &amp; 1"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("2.0 s") && svg.contains("500.0 ms"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(bars("x", &["a"], Unit::Count, &[]).contains("nothing to show"));
        assert!(columns("x", &[], &[]).contains("nothing to show"));
        let svg = columns("c", &["00".to_owned(), "01".to_owned()], &[1.0, 3.0]);
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
