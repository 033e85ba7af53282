//! Charts of captured history: points over time put into at most
//! [`BUCKETS`] columns and drawn by the daily bundle's own SVG charts
//! (`core_data_ops::daily::chart`), so the dashboard and the bundle look
//! alike and neither has a second chart drawer.

use core_data_ops::daily::chart::{self, Unit};

/// Columns per chart at most.
pub(crate) const BUCKETS: usize = 48;

/// How a bucket's points combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Activity per interval (calls, time): added up.
    Sum,
    /// A level (a size): the last one.
    Last,
}

/// `points` (epoch seconds, value; in time order) in at most `max` buckets
/// of equal width from the first point to the last: each bucket's start and
/// combined value.
pub(crate) fn bucket(points: &[(i64, f64)], max: usize, combine: Combine) -> Vec<(i64, f64)> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    if points.len() <= max {
        return points.to_vec();
    }
    let span = (last.0 - first.0).max(1);
    let width = (span / max as i64).max(1) + 1;
    let mut buckets: Vec<(i64, f64)> = Vec::new();
    for (at, value) in points {
        let start = first.0 + (at - first.0) / width * width;
        match buckets.last_mut() {
            Some((bucket_start, total)) if *bucket_start == start => match combine {
                Combine::Sum => *total += value,
                Combine::Last => *total = *value,
            },
            _ => buckets.push((start, *value)),
        }
    }
    buckets
}

/// A label for a bucket: `MM-DD HH:MM` (UTC).
fn label(epoch: i64) -> String {
    jiff::Timestamp::from_second(epoch)
        .map(|at| at.strftime("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Columns over time.
pub(crate) fn over_time(
    title: &str,
    unit: Unit,
    points: &[(i64, f64)],
    combine: Combine,
) -> String {
    let buckets = bucket(points, BUCKETS, combine);
    let labels: Vec<String> = buckets.iter().map(|(at, _)| label(*at)).collect();
    let values: Vec<f64> = buckets.iter().map(|(_, value)| *value).collect();
    chart::columns_in(
        title,
        unit,
        &labels,
        &values,
        "nothing captured yet: the history fills at every capture interval",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_bucketed_by_sum_or_last() {
        let points: Vec<(i64, f64)> = (0..100).map(|i| (i * 60, 1.0 + i as f64)).collect();
        let sums = bucket(&points, 10, Combine::Sum);
        assert!(sums.len() <= 10, "{}", sums.len());
        let total: f64 = sums.iter().map(|(_, v)| v).sum();
        assert_eq!(total, points.iter().map(|(_, v)| v).sum::<f64>());
        let lasts = bucket(&points, 10, Combine::Last);
        assert_eq!(lasts.last().unwrap().1, 100.0);
        assert_eq!(bucket(&points[..3], 10, Combine::Sum), points[..3].to_vec());
        assert!(bucket(&[], 10, Combine::Sum).is_empty());
    }

    #[test]
    fn charts_are_svg_with_their_values() {
        let svg = over_time(
            "Calls of <q>",
            Unit::Count,
            &[(0, 3.0), (60, 5.0)],
            Combine::Sum,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("Calls of &lt;q&gt;"));
        assert!(svg.contains("01-01 00:01: 5"));
        assert!(over_time("x", Unit::Millis, &[], Combine::Sum).contains("nothing captured yet"));
    }
}
