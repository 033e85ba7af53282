//! The per-table row counts recorded beside each physical backup, for
//! `verify` to compare against a restored copy.
//!
//! The counts are taken after the backup ends, so writes between the backup's
//! end and the count make them differ from the restored copy. To tell that
//! drift from a real loss, each permanent table's write fingerprint
//! (`n_tup_ins + n_tup_del` from `pg_stat_all_tables`, and its relfilenode,
//! which TRUNCATE changes) is read before the backup starts and again after the
//! counts: a table whose fingerprint did not move had no insert, delete or
//! truncate in that whole window, so its restored count must equal its
//! recorded one exactly (a mismatch fails verify); a table that moved may
//! differ, and a difference is a warning naming the activity.

use std::collections::BTreeMap;

use anyhow::Context;
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::stack::Stack;

/// Row counts by database, then `schema.table`.
pub type RowCounts = BTreeMap<String, BTreeMap<String, i64>>;

/// The same query counts rows on the live cluster (recording) and on a restored
/// copy (verifying): every permanent ordinary table outside the system schemas
/// (unlogged tables come back empty from a backup; other sessions' temporary
/// tables cannot even be read).
pub const ROW_COUNT_SQL: &str = "\
SELECT n.nspname || '.' || c.relname, \
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint \
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind = 'r' AND c.relpersistence = 'p' \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
ORDER BY 1";

/// Each permanent table's write fingerprint: inserts + deletes so far, and its file node.
pub const FINGERPRINT_SQL: &str = "\
SELECT n.nspname || '.' || c.relname, \
       format('%s/%s', coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_del, 0), pg_relation_filenode(c.oid)) \
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid \
WHERE c.relkind = 'r' AND c.relpersistence = 'p' \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
ORDER BY 1";

/// Write fingerprints by database, then `schema.table`.
pub type Fingerprints = BTreeMap<String, BTreeMap<String, String>>;

/// Fingerprints read before the backup and after the counts (see the module documentation).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Activity {
    pub before: Fingerprints,
    pub after: Fingerprints,
}

impl Activity {
    /// Whether `table` had inserts, deletes or a truncate in the window (or appeared in it).
    pub fn changed(&self, database: &str, table: &str) -> bool {
        let get = |f: &Fingerprints| f.get(database).and_then(|t| t.get(table)).cloned();
        match (get(&self.before), get(&self.after)) {
            (Some(before), Some(after)) => before != after,
            _ => true,
        }
    }
}

/// Where the row counts of a backup set are kept (host side, under backups/).
pub fn counts_file(stack: &Stack, label: &str) -> Utf8PathBuf {
    stack
        .paths
        .backups_dir()
        .join("pgbackrest")
        .join(format!("{label}.rowcounts.json"))
}

/// Where the write fingerprints of a backup set are kept, beside its counts.
pub fn activity_file(stack: &Stack, label: &str) -> Utf8PathBuf {
    stack
        .paths
        .backups_dir()
        .join("pgbackrest")
        .join(format!("{label}.activity.json"))
}

/// The recorded write fingerprints of a set, if any (sets taken before they were recorded have none).
pub fn recorded_activity(stack: &Stack, label: &str) -> anyhow::Result<Option<Activity>> {
    read_recorded(&activity_file(stack, label))
}

/// The recorded row counts of a set, if any.
pub fn recorded_counts(stack: &Stack, label: &str) -> anyhow::Result<Option<RowCounts>> {
    read_recorded(&counts_file(stack, label))
}

/// A JSON file recorded beside a set, or `None` when there is none.
fn read_recorded<T: serde::de::DeserializeOwned>(
    file: &camino::Utf8Path,
) -> anyhow::Result<Option<T>> {
    if !file.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("failed to read `{file}`"))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("`{file}` is not valid JSON"))?,
    ))
}

/// Runs `sql` (rows of `schema.table` and a value) in every database of the live cluster.
fn per_table<T>(
    stack: &Stack,
    sql: &str,
    doing: &str,
    value: impl Fn(&postgres::Row) -> T,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, T>>> {
    let mut admin = stack.connect("postgres")?;
    let databases = crate::pg::bootstrap::databases(&mut admin)?;
    let mut all = BTreeMap::new();
    for database in databases {
        let mut client = stack.connect(&database)?;
        let tables = client
            .query(sql, &[])
            .with_context(|| format!("failed to {doing} in `{database}`"))?
            .iter()
            .map(|row| (row.get::<_, String>(0), value(row)))
            .collect();
        all.insert(database, tables);
    }
    Ok(all)
}

/// Write fingerprints of every permanent table in every database of the live cluster.
pub fn fingerprints(stack: &Stack) -> anyhow::Result<Fingerprints> {
    per_table(stack, FINGERPRINT_SQL, "read table statistics", |row| {
        row.get::<_, String>(1)
    })
}

/// Exact row counts of every permanent table in every database of the live cluster.
pub fn row_counts(stack: &Stack) -> anyhow::Result<RowCounts> {
    per_table(stack, ROW_COUNT_SQL, "count rows", |row| {
        row.get::<_, i64>(1)
    })
}

/// What a row-count comparison found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountComparison {
    pub tables: usize,
    /// Differences on tables without writes in the backup window: failures.
    pub mismatches: Vec<String>,
    /// Differences on tables written to in the backup window: explained drift.
    pub warnings: Vec<String>,
}

/// Compares counts recorded at backup time with counts of a restored copy. With
/// `activity`, a difference on a table written to between the backup's start
/// and the count is a warning; without it (older sets) every difference fails.
pub fn compare_counts(
    recorded: &RowCounts,
    restored: &RowCounts,
    activity: Option<&Activity>,
) -> CountComparison {
    let mut result = CountComparison::default();
    for (database, tables) in recorded {
        for (table, expected) in tables {
            result.tables += 1;
            let got = restored.get(database).and_then(|t| t.get(table));
            if got == Some(expected) {
                continue;
            }
            let difference = format!(
                "`{database}`.`{table}`: {expected} row(s) counted after the backup, {} in the restored copy",
                got.map_or_else(|| "missing".to_owned(), ToString::to_string)
            );
            if activity.is_some_and(|a| a.changed(database, table)) {
                result.warnings.push(format!(
                    "{difference} (written to between the backup's start and the count: drift, not loss)"
                ));
            } else {
                result.mismatches.push(difference);
            }
        }
    }
    result
}
