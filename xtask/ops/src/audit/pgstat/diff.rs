//! The deltas between two snapshots, ranked.

use std::collections::HashMap;

use serde::Serialize;

use super::snapshot::{Entry, Snapshot};

/// What the ranking is by (descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Calls,
    TotalTime,
    MeanTime,
    Rows,
    SharedBlks,
}

/// The comparison of two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub base_taken_at: String,
    pub compare_taken_at: String,
    pub sort: SortKey,
    /// Whether the statistics were reset between the snapshots (entirely or
    /// for some statements); reset entries count with COMPARE's values.
    pub reset: bool,
    /// Statements that ran between the snapshots (before `--limit`).
    pub statements: usize,
    pub notes: Vec<String>,
    pub rows: Vec<Delta>,
}

/// One statement's activity between the snapshots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    pub rank: usize,
    pub database: Option<String>,
    pub role: Option<String>,
    pub queryid: i64,
    pub toplevel: bool,
    pub calls: i64,
    /// Milliseconds.
    pub total_time_ms: f64,
    pub mean_time_ms: f64,
    pub rows: i64,
    /// Shared blocks hit plus read.
    pub shared_blks: i64,
    /// Only in COMPARE (counted fully).
    pub new: bool,
    /// Counted from zero because its statistics were reset in between.
    pub reset: bool,
    pub query: String,
}

impl Delta {
    fn metric(&self, sort: SortKey) -> f64 {
        match sort {
            SortKey::Calls => self.calls as f64,
            SortKey::TotalTime => self.total_time_ms,
            SortKey::MeanTime => self.mean_time_ms,
            SortKey::Rows => self.rows as f64,
            SortKey::SharedBlks => self.shared_blks as f64,
        }
    }
}

fn delta(entry: &Entry, base: Option<&Entry>, reset_all: bool) -> Delta {
    let blocks = |e: &Entry| e.shared_blks_hit + e.shared_blks_read;
    let mut d = Delta {
        rank: 0,
        database: entry.database.clone(),
        role: entry.role.clone(),
        queryid: entry.queryid,
        toplevel: entry.toplevel,
        calls: entry.calls,
        total_time_ms: entry.total_exec_time,
        mean_time_ms: 0.0,
        rows: entry.rows,
        shared_blks: blocks(entry),
        new: base.is_none(),
        reset: false,
        query: entry.query.clone(),
    };
    if let Some(b) = base {
        let (calls, time, rows, blks) = (
            entry.calls - b.calls,
            entry.total_exec_time - b.total_exec_time,
            entry.rows - b.rows,
            blocks(entry) - blocks(b),
        );
        if reset_all || calls < 0 || time < 0.0 || rows < 0 || blks < 0 {
            d.reset = true;
        } else {
            (d.calls, d.total_time_ms, d.rows, d.shared_blks) = (calls, time, rows, blks);
        }
    }
    if d.calls > 0 {
        d.mean_time_ms = d.total_time_ms / d.calls as f64;
    }
    d
}

/// The statements that ran between `base` and `compare`, ranked by `sort`
/// (descending; ties by calls, then queryid), the first `limit` of them.
pub fn diff(base: &Snapshot, compare: &Snapshot, sort: SortKey, limit: usize) -> Diff {
    let mut notes = Vec::new();
    let reset_all = match (&base.stats_reset, &compare.stats_reset) {
        (Some(a), Some(b)) => b > a,
        (None, Some(_)) => true,
        _ => false,
    };
    if compare.taken_at < base.taken_at {
        notes.push(format!(
            "COMPARE (taken at {}) is older than BASE (taken at {}); the arguments may be the wrong way round",
            compare.taken_at, base.taken_at
        ));
    }
    let before: HashMap<_, &Entry> = base.entries.iter().map(|e| (e.key(), e)).collect();
    let mut rows: Vec<Delta> = compare
        .entries
        .iter()
        .map(|e| delta(e, before.get(&e.key()).copied(), reset_all))
        .filter(|d| d.calls > 0)
        .collect();
    let reset_rows = rows.iter().filter(|d| d.reset).count();
    if reset_all {
        notes.push(format!(
            "pg_stat_statements was reset between the snapshots (at {}); COMPARE's figures are taken as the deltas",
            compare.stats_reset.as_deref().unwrap_or("an unknown time")
        ));
    } else if reset_rows > 0 {
        notes.push(format!(
            "{reset_rows} statement(s) have lower figures in COMPARE than in BASE (their statistics were reset or evicted in between); COMPARE's figures are taken as their deltas"
        ));
    }
    rows.sort_by(|a, b| {
        b.metric(sort)
            .total_cmp(&a.metric(sort))
            .then_with(|| b.calls.cmp(&a.calls))
            .then_with(|| a.queryid.cmp(&b.queryid))
    });
    let statements = rows.len();
    rows.truncate(limit);
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = i + 1;
    }
    Diff {
        base_taken_at: base.taken_at.clone(),
        compare_taken_at: compare.taken_at.clone(),
        sort,
        reset: reset_all || reset_rows > 0,
        statements,
        notes,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::pgstat::snapshot::VERSION;

    fn entry(queryid: i64, calls: i64, time: f64) -> Entry {
        Entry {
            dbid: 5,
            database: Some("shop".to_owned()),
            userid: 10,
            role: Some("postgres".to_owned()),
            queryid,
            toplevel: true,
            query: format!("SELECT {queryid}"),
            calls,
            total_exec_time: time,
            rows: calls,
            shared_blks_hit: calls,
            shared_blks_read: 0,
        }
    }

    fn snapshot(at: &str, reset: Option<&str>, entries: Vec<Entry>) -> Snapshot {
        Snapshot {
            version: VERSION,
            taken_at: at.to_owned(),
            stats_reset: reset.map(str::to_owned),
            server_version: "17".to_owned(),
            excluded_role: "core_data_auditor".to_owned(),
            entries,
        }
    }

    #[test]
    fn deltas_are_ranked_and_new_statements_count_fully() {
        let base = snapshot(
            "2026-01-01T00:00:00Z",
            Some("2025-12-01T00:00:00Z"),
            vec![entry(1, 100, 50.0), entry(2, 10, 5.0), entry(3, 7, 1.0)],
        );
        let compare = snapshot(
            "2026-01-01T00:10:00Z",
            Some("2025-12-01T00:00:00Z"),
            vec![
                entry(1, 101, 90.0),
                entry(2, 510, 20.0),
                entry(3, 7, 1.0),
                entry(4, 3, 3.0),
            ],
        );
        let d = diff(&base, &compare, SortKey::Calls, 10);
        assert!(!d.reset);
        assert_eq!(d.statements, 3, "the unchanged statement is left out");
        assert_eq!(d.rows[0].queryid, 2);
        assert_eq!(d.rows[0].calls, 500);
        assert!((d.rows[0].mean_time_ms - 0.03).abs() < 1e-9);
        assert_eq!(d.rows[0].rank, 1);
        assert_eq!(d.rows[1].queryid, 4);
        assert!(d.rows[1].new);
        let d = diff(&base, &compare, SortKey::TotalTime, 1);
        assert_eq!(d.rows.len(), 1);
        assert_eq!(d.rows[0].queryid, 1);
        assert!((d.rows[0].total_time_ms - 40.0).abs() < 1e-9);
    }

    #[test]
    fn a_reset_between_the_snapshots_is_said_and_compare_counts() {
        let base = snapshot(
            "2026-01-01T00:00:00Z",
            Some("2025-12-01T00:00:00Z"),
            vec![entry(1, 100, 50.0), entry(2, 10, 5.0)],
        );
        let later = snapshot(
            "2026-01-01T00:10:00Z",
            Some("2026-01-01T00:05:00Z"),
            vec![entry(1, 4, 2.0)],
        );
        let d = diff(&base, &later, SortKey::Calls, 10);
        assert!(d.reset);
        assert_eq!(d.rows[0].calls, 4);
        assert!(d.rows[0].reset);
        assert!(d.notes[0].contains("reset"));
        // A single statement evicted and re-added: a negative delta.
        let same_reset = snapshot(
            "2026-01-01T00:10:00Z",
            Some("2025-12-01T00:00:00Z"),
            vec![entry(1, 4, 2.0), entry(2, 12, 6.0)],
        );
        let d = diff(&base, &same_reset, SortKey::Calls, 10);
        assert!(d.reset);
        let first = d.rows.iter().find(|r| r.queryid == 1).unwrap();
        assert_eq!((first.calls, first.reset), (4, true));
        let second = d.rows.iter().find(|r| r.queryid == 2).unwrap();
        assert_eq!((second.calls, second.reset), (2, false));
    }
}
