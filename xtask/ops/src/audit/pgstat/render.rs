//! A diff as a table for people (query text collapsed and truncated), CSV
//! and JSON (full query text).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::Serialize;

use super::diff::Diff;

/// The query's whitespace collapsed to single spaces, cut at `max`
/// characters with `…`.
pub fn short_query(query: &str, max: usize) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The aligned table with the notes and a one-line summary.
pub fn table(diff: &Diff) -> String {
    let mut out = String::new();
    if !diff.rows.is_empty() {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header([
                "#",
                "calls",
                "total ms",
                "mean ms",
                "rows",
                "shared blks",
                "database",
                "role",
                "query",
            ]);
        for row in &diff.rows {
            table.add_row([
                row.rank.to_string(),
                row.calls.to_string(),
                format!("{:.2}", row.total_time_ms),
                format!("{:.3}", row.mean_time_ms),
                row.rows.to_string(),
                row.shared_blks.to_string(),
                row.database.clone().unwrap_or_else(|| "?".to_owned()),
                row.role.clone().unwrap_or_else(|| "?".to_owned()),
                short_query(&row.query, 80),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for note in &diff.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&verdict(diff));
    out.push('\n');
    out
}

/// `diff-pgstat: 12 statements ran between … and …; the top 10 by total_time`.
pub fn verdict(diff: &Diff) -> String {
    format!(
        "diff-pgstat: {} statement(s) ran between {} and {}; {} listed by {}",
        diff.statements,
        diff.base_taken_at,
        diff.compare_taken_at,
        diff.rows.len(),
        serde_json::to_value(diff.sort)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    )
}

#[derive(Serialize)]
struct CsvRow<'a> {
    rank: usize,
    database: &'a str,
    role: &'a str,
    queryid: i64,
    toplevel: bool,
    calls: i64,
    total_time_ms: f64,
    mean_time_ms: f64,
    rows: i64,
    shared_blks: i64,
    new: bool,
    reset: bool,
    query: &'a str,
}

/// One row per statement with a header, the full query text.
pub fn csv(diff: &Diff) -> anyhow::Result<String> {
    // The header is written by hand so that it is there without rows too.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record([
        "rank",
        "database",
        "role",
        "queryid",
        "toplevel",
        "calls",
        "total_time_ms",
        "mean_time_ms",
        "rows",
        "shared_blks",
        "new",
        "reset",
        "query",
    ])?;
    for row in &diff.rows {
        writer.serialize(CsvRow {
            rank: row.rank,
            database: row.database.as_deref().unwrap_or(""),
            role: row.role.as_deref().unwrap_or(""),
            queryid: row.queryid,
            toplevel: row.toplevel,
            calls: row.calls,
            total_time_ms: row.total_time_ms,
            mean_time_ms: row.mean_time_ms,
            rows: row.rows,
            shared_blks: row.shared_blks,
            new: row.new,
            reset: row.reset,
            query: &row.query,
        })?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_collapsed_and_truncated() {
        assert_eq!(short_query("SELECT  1\n  FROM t", 80), "SELECT 1 FROM t");
        let long = format!("SELECT {}", "x, ".repeat(50));
        let short = short_query(&long, 20);
        assert_eq!(short.chars().count(), 20);
        assert!(short.ends_with('…'));
        assert_eq!(short_query("é".repeat(30).as_str(), 10).chars().count(), 10);
    }

    #[test]
    fn csv_has_one_header_and_the_full_query() {
        use crate::audit::pgstat::diff::{Delta, SortKey};
        let mut diff = Diff {
            base_taken_at: "a".to_owned(),
            compare_taken_at: "b".to_owned(),
            sort: SortKey::Calls,
            reset: false,
            statements: 0,
            notes: Vec::new(),
            rows: Vec::new(),
        };
        assert_eq!(csv(&diff).unwrap().lines().count(), 1);
        let query = format!("SELECT\n{}", "x".repeat(200));
        diff.rows.push(Delta {
            rank: 1,
            database: Some("shop".to_owned()),
            role: None,
            queryid: 7,
            toplevel: true,
            calls: 3,
            total_time_ms: 1.5,
            mean_time_ms: 0.5,
            rows: 3,
            shared_blks: 0,
            new: true,
            reset: false,
            query: query.clone(),
        });
        let text = csv(&diff).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][12], query);
        assert!(verdict(&diff).contains("calls"));
    }
}
