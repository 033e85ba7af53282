//! `audit index-bloat`: B-tree indexes of at least `--min-size-mb` whose leaf
//! pages are mostly empty (pgstattuple's `pgstatindex`, which `pg_monitor`
//! may call through `pg_stat_scan_tables`). `pgstatindex` reads the whole
//! index, so only indexes over the size threshold are examined.

use anyhow::Context;

use super::user_objects::{extension_schema, not_extension_relation, qualified, USER_SCHEMA};
use super::{Audit, Finding, Report, Severity};
use crate::backup::dump::human_bytes;
use crate::sql::quote_ident;

/// B-tree's fillfactor when the index does not set one.
const DEFAULT_FILLFACTOR: f64 = 90.0;

/// The share of the expected leaf density that is wasted: a freshly built
/// index is filled to its fillfactor, so that is 0 %; an empty one is 100 %.
pub fn wasted_percent(avg_leaf_density: f64, fillfactor: f64) -> Option<f64> {
    if !avg_leaf_density.is_finite() || fillfactor <= 0.0 {
        return None;
    }
    Some(((fillfactor - avg_leaf_density) / fillfactor * 100.0).clamp(0.0, 100.0))
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("index-bloat");
    report.databases = audit.databases.clone();
    let t = &audit.thresholds;
    let min_bytes = t.min_size_mb.max(0) * 1024 * 1024;
    let mut examined = 0usize;
    audit.each_database(|db, client| {
        let Some(pgstattuple) = extension_schema(client, "pgstattuple")? else {
            report.notes.push(format!(
                "pgstattuple is not installed in `{db}`; its indexes were not examined"
            ));
            return Ok(());
        };
        let candidates = format!(
            "SELECT c.oid, n.nspname::text, c.relname::text, \
             (SELECT tn.nspname FROM pg_catalog.pg_namespace tn WHERE tn.oid = t.relnamespace)::text || '.' || t.relname::text, \
             pg_catalog.pg_relation_size(c.oid), \
             COALESCE((SELECT option_value FROM pg_catalog.pg_options_to_table(c.reloptions) \
                       WHERE option_name = 'fillfactor'), '{DEFAULT_FILLFACTOR}')::float8, \
             current_setting('block_size')::int8 \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_am am ON am.oid = c.relam \
             WHERE am.amname = 'btree' AND c.relkind = 'i' AND i.indisvalid \
             AND c.relpersistence <> 't' AND pg_catalog.pg_relation_size(c.oid) >= $1 \
             AND {USER_SCHEMA} AND {} AND {} ORDER BY 2, 3",
            not_extension_relation("c.oid"),
            not_extension_relation("t.oid")
        );
        let rows = client
            .query(&candidates, &[&min_bytes])
            .context("failed to list the B-tree indexes")?;
        let stat = format!(
            "SELECT avg_leaf_density::float8, leaf_pages::int8 FROM {pgstattuple}.pgstatindex($1::oid::regclass)"
        );
        for row in rows {
            let oid: u32 = row.try_get(0)?;
            let (schema, index): (String, String) = (row.try_get(1)?, row.try_get(2)?);
            let name = qualified(&schema, &index);
            let reindex = format!("{}.{}", quote_ident(&schema), quote_ident(&index));
            let table: String = row.try_get(3)?;
            let (size, fillfactor, block): (i64, f64, i64) =
                (row.try_get(4)?, row.try_get(5)?, row.try_get(6)?);
            // The index may be dropped between the two queries: skip it then.
            let Some(stats) = client
                .query_opt(&stat, &[&oid])
                .or_else(|e| if e.code().is_some_and(|c| c.code() == "42P01") { Ok(None) } else { Err(e) })
                .with_context(|| format!("pgstatindex failed on `{name}`"))?
            else {
                continue;
            };
            examined += 1;
            let (density, leaf_pages): (f64, i64) = (stats.try_get(0)?, stats.try_get(1)?);
            let Some(wasted) = wasted_percent(density, fillfactor) else {
                continue;
            };
            if wasted < t.index_bloat_percent {
                continue;
            }
            let wasted_bytes = (leaf_pages * block) as f64 * wasted / 100.0;
            report.push(
                Finding::new(
                    Some(db),
                    name.clone(),
                    "index-bloat",
                    Severity::Warning,
                    format!(
                        "{wasted:.1} % of the leaf space of `{name}` on `{table}` is wasted \
                         (average leaf density {density:.1} % for fillfactor {fillfactor}; \
                         threshold {:.1} %); the index is {} and about {} could be reclaimed \
                         with `REINDEX INDEX CONCURRENTLY {reindex}`",
                        t.index_bloat_percent,
                        human_bytes(size.max(0) as u64),
                        human_bytes(wasted_bytes as u64),
                    ),
                )
                .with_value(wasted),
            );
        }
        Ok(())
    })?;
    report.notes.push(format!(
        "examined {examined} B-tree index(es) of at least {} MB",
        t.min_size_mb
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waste_is_measured_against_the_fillfactor() {
        assert_eq!(wasted_percent(90.0, 90.0), Some(0.0));
        assert_eq!(wasted_percent(95.0, 90.0), Some(0.0));
        assert_eq!(wasted_percent(9.0, 90.0), Some(90.0));
        assert_eq!(wasted_percent(50.0, 100.0), Some(50.0));
        assert_eq!(wasted_percent(f64::NAN, 90.0), None);
    }
}
