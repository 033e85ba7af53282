//! Every user table of the databases in scope with its live and dead tuples
//! and its table and index sizes, read as the auditor (`pg_stat_user_tables`;
//! the size functions need no privilege on the table): the bundle's
//! `tables.csv` and its dead-tuple and size charts.

use serde::Serialize;

use crate::audit::user_objects::qualified;
use crate::audit::Audit;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableStats {
    pub database: String,
    pub table: String,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    pub table_bytes: i64,
    pub index_bytes: i64,
    pub last_autovacuum: Option<String>,
}

pub const HEADER: &[&str] = &[
    "database",
    "table",
    "live_tuples",
    "dead_tuples",
    "table_bytes",
    "index_bytes",
    "last_autovacuum",
];

pub fn read(audit: &Audit<'_>) -> anyhow::Result<Vec<TableStats>> {
    let mut tables = Vec::new();
    audit.each_database(|db, client| {
        let rows = client.query(
            &format!(
                "SELECT s.schemaname::text, s.relname::text, s.n_live_tup, s.n_dead_tup, \
                 pg_catalog.pg_table_size(s.relid), pg_catalog.pg_indexes_size(s.relid), {} \
                 FROM pg_catalog.pg_stat_user_tables s ORDER BY 1, 2",
                crate::audit::snapshot_file::utc_text("s.last_autovacuum")
            ),
            &[],
        )?;
        for row in rows {
            tables.push(TableStats {
                database: db.to_owned(),
                table: qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
                live_tuples: row.try_get(2)?,
                dead_tuples: row.try_get(3)?,
                table_bytes: row.try_get(4)?,
                index_bytes: row.try_get(5)?,
                last_autovacuum: row.try_get(6)?,
            });
        }
        Ok(())
    })?;
    Ok(tables)
}

/// The `n` tables with most of `key`, largest first, labelled `database: schema.table`.
pub fn top(tables: &[TableStats], n: usize, key: impl Fn(&TableStats) -> i64) -> Vec<&TableStats> {
    let mut sorted: Vec<&TableStats> = tables.iter().filter(|t| key(t) > 0).collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(key(t)));
    sorted.truncate(n);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, dead: i64) -> TableStats {
        TableStats {
            database: "app".to_owned(),
            table: name.to_owned(),
            live_tuples: 0,
            dead_tuples: dead,
            table_bytes: 0,
            index_bytes: 0,
            last_autovacuum: None,
        }
    }

    #[test]
    fn top_ranks_and_drops_zeroes() {
        let tables = [table("a", 5), table("b", 0), table("c", 50)];
        let names: Vec<_> = top(&tables, 5, |t| t.dead_tuples)
            .iter()
            .map(|t| t.table.as_str())
            .collect();
        assert_eq!(names, ["c", "a"]);
    }
}
