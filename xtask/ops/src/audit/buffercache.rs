//! `audit buffercache`: the relations occupying most of shared_buffers
//! (pg_buffercache, which `pg_monitor` may read). Each database's buffers
//! are resolved to names in that database; the top `--limit` across the
//! databases in scope are listed. Context only: never a warning.

use anyhow::Context;

use super::user_objects::{extension_schema, qualified};
use super::{Audit, Finding, Report, Severity};
use crate::backup::dump::human_bytes;

/// One relation's share of shared_buffers.
#[derive(Debug, Clone, PartialEq)]
struct Cached {
    database: String,
    name: String,
    kind: String,
    buffers: i64,
    dirty: i64,
    relation_bytes: i64,
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("buffercache");
    report.databases = audit.databases.clone();
    let limit = audit.thresholds.buffercache_limit.max(1);
    let mut cached: Vec<Cached> = Vec::new();
    let mut shared = (0i64, 8192i64);
    audit.each_database(|db, client| {
        let Some(schema) = extension_schema(client, "pg_buffercache")? else {
            report.notes.push(format!(
                "pg_buffercache is not installed in `{db}`; its relations were not resolved"
            ));
            return Ok(());
        };
        let row = client.query_one(
            "SELECT setting::int8, current_setting('block_size')::int8 FROM pg_catalog.pg_settings \
             WHERE name = 'shared_buffers'",
            &[],
        )?;
        shared = (row.try_get(0)?, row.try_get(1)?);
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, count(*)::int8, \
             count(*) FILTER (WHERE b.isdirty)::int8, \
             (pg_catalog.pg_relation_size(c.oid, 'main') + pg_catalog.pg_relation_size(c.oid, 'fsm') \
              + pg_catalog.pg_relation_size(c.oid, 'vm') + pg_catalog.pg_relation_size(c.oid, 'init'))::int8 \
             FROM {schema}.pg_buffercache b \
             JOIN pg_catalog.pg_class c ON b.relfilenode = pg_catalog.pg_relation_filenode(c.oid) \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE b.reldatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
             GROUP BY c.oid, n.nspname, c.relname, c.relkind \
             ORDER BY 4 DESC, 1, 2 LIMIT $1"
        );
        for row in client
            .query(&sql, &[&limit])
            .context("failed to read pg_buffercache")?
        {
            cached.push(Cached {
                database: db.to_owned(),
                name: qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
                kind: kind(&row.try_get::<_, String>(2)?).to_owned(),
                buffers: row.try_get(3)?,
                dirty: row.try_get(4)?,
                relation_bytes: row.try_get(5)?,
            });
        }
        Ok(())
    })?;
    cached.sort_by(|a, b| {
        b.buffers
            .cmp(&a.buffers)
            .then_with(|| (&a.database, &a.name).cmp(&(&b.database, &b.name)))
    });
    cached.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let (shared_buffers, block) = shared;
    for c in cached {
        let bytes = c.buffers * block;
        let of_shared = percent(c.buffers, shared_buffers);
        let of_relation = percent(bytes, c.relation_bytes).min(100.0);
        report.push(
            Finding::new(
                Some(&c.database),
                c.name.clone(),
                "cached-relation",
                Severity::Info,
                format!(
                    "{} `{}`: {} buffers ({:.1} MB, {of_shared:.1} % of shared_buffers), \
                     {of_relation:.0} % of its {} cached, {} dirty",
                    c.kind,
                    c.name,
                    c.buffers,
                    bytes as f64 / 1024.0 / 1024.0,
                    human_bytes(c.relation_bytes.max(0) as u64),
                    c.dirty
                ),
            )
            .with_value(c.buffers as f64),
        );
    }
    if shared_buffers > 0 {
        report.notes.push(format!(
            "shared_buffers holds {shared_buffers} buffers of {block} bytes ({})",
            human_bytes((shared_buffers * block).max(0) as u64)
        ));
    }
    Ok(report)
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn kind(relkind: &str) -> &'static str {
    match relkind {
        "r" => "table",
        "i" => "index",
        "t" => "TOAST table",
        "m" => "materialized view",
        "S" => "sequence",
        "p" => "partitioned table",
        "I" => "partitioned index",
        _ => "relation",
    }
}
