//! Level 2: pg_squeeze. Named tables are registered as targets
//! (`squeeze.tables`, a nightly 03:30 schedule unless one is set already) and
//! squeezed now with `squeeze.squeeze_table`; without names, the targets
//! registered in each database are refreshed (entries whose table is gone are
//! removed) and squeezed. pg_squeeze needs a primary key or a replica
//! identity index: tables without one are listed as skipped, with the reason.

use anyhow::Context;

use super::{measured, Outcome, Skipped, Target};
use crate::maintenance::log::Log;
use crate::maintenance::tables::{key_for, KeyUse, Table};
use crate::pg::server_message;
use crate::progress::Progress;

/// The schedule new targets get: daily at 03:30 (pg_squeeze's scheduler
/// squeezes then when the table's free space warrants it).
const NIGHTLY: &str = "('{30}', '{3}', NULL, NULL, NULL)";

/// Whether pg_squeeze is installed in the connected database.
fn installed(client: &mut postgres::Client, database: &str) -> anyhow::Result<()> {
    let present = client
        .query_one(
            "SELECT to_regclass('squeeze.tables') IS NOT NULL AND \
             to_regprocedure('squeeze.squeeze_table(name, name, name, name, name[])') IS NOT NULL",
            &[],
        )?
        .get::<_, bool>(0);
    if !present {
        anyhow::bail!(
            "pg_squeeze is not installed in `{database}`; `cargo xtask up` installs the extension \
             bundle (or leave `{database}` out with `--db`)"
        );
    }
    Ok(())
}

/// Refuses when the server will not load pg_squeeze as a logical decoding
/// output plugin: PostgreSQL 14.24/15.19/16.15/17.11 and later load only the
/// plugins `output_plugin_libraries` names (default `pgoutput, test_decoding`),
/// and `squeeze_table` decodes the changes made while it copies.
fn plugin_allowed(client: &mut postgres::Client) -> anyhow::Result<()> {
    let list: Option<String> = client
        .query_one(
            "SELECT current_setting('output_plugin_libraries', true)",
            &[],
        )?
        .get(0);
    let Some(list) = list else {
        return Ok(());
    };
    let listed = list
        .split(',')
        .map(|name| name.trim().trim_matches('"'))
        .any(|name| name == "pg_squeeze");
    if !listed {
        anyhow::bail!(
            "pg_squeeze cannot run on this server: `output_plugin_libraries` is '{list}', which does \
             not name pg_squeeze (PostgreSQL loads only the logical decoding plugins listed there, and \
             squeeze_table decodes the changes made while it copies); add pg_squeeze to it in \
             postgresql.conf and reload, or use level 3 (pg_repack, also online); nothing was changed"
        );
    }
    Ok(())
}

/// The registered targets of the connected database that still exist, after
/// removing those whose table is gone (noted in `outcome`).
pub(super) fn registered(
    client: &mut postgres::Client,
    database: &str,
    outcome: &mut Outcome,
) -> anyhow::Result<Vec<Table>> {
    installed(client, database)?;
    let rows = client
        .query(
            "SELECT t.tabschema::text, t.tabname::text, c.oid \
             FROM squeeze.tables t \
             LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.tabschema \
             LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.tabname \
             AND c.relkind = 'r' ORDER BY 1, 2",
            &[],
        )
        .context("failed to read squeeze.tables")?;
    let mut tables = Vec::new();
    for row in rows {
        let (schema, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        match row.try_get::<_, Option<u32>>(2)? {
            Some(oid) => tables.push(Table { oid, schema, name }),
            None => outcome.notes.push(format!(
                "{database}: squeeze target {} no longer exists; its registration is removed",
                Table {
                    oid: 0,
                    schema,
                    name
                }
                .display()
            )),
        }
    }
    if tables.is_empty() {
        outcome.notes.push(format!(
            "{database}: no pg_squeeze targets registered; name tables with `--tables` to register and squeeze them"
        ));
    }
    Ok(tables)
}

/// Checks the tables of `target` (before anything changes): pg_squeeze is
/// installed and each table has an identity index; the others move to
/// `outcome.skipped`.
pub(super) fn check(target: &mut Target, named: bool, outcome: &mut Outcome) -> anyhow::Result<()> {
    if named {
        installed(&mut target.client, &target.database)?;
    }
    let mut eligible = Vec::new();
    for table in std::mem::take(&mut target.tables) {
        if key_for(&mut target.client, &table, KeyUse::Squeeze)?.is_some() {
            eligible.push(table);
        } else {
            outcome.skipped.push(Skipped {
                database: target.database.clone(),
                table,
                reason: "no primary key or replica identity index (pg_squeeze needs one; \
                         add a primary key, or use level 4 VACUUM FULL, which locks the table)"
                    .to_owned(),
            });
        }
    }
    if !eligible.is_empty() {
        plugin_allowed(&mut target.client)?;
    }
    target.tables = eligible;
    Ok(())
}

/// Refreshes the registrations and squeezes each table of `target`.
pub(super) fn run(
    target: &mut Target,
    log: &mut Log,
    progress: &dyn Progress,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let database = target.database.clone();
    if target
        .client
        .query_one("SELECT to_regclass('squeeze.tables') IS NOT NULL", &[])?
        .get::<_, bool>(0)
    {
        let removed = target
            .client
            .execute(
                "DELETE FROM squeeze.tables t WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = t.tabschema AND c.relname = t.tabname AND c.relkind = 'r')",
                &[],
            )
            .with_context(|| format!("failed to refresh squeeze.tables in `{database}`"))?;
        if removed > 0 {
            log.line(&format!(
                "{database}: removed {removed} squeeze target(s) whose table is gone"
            ))?;
        }
    }
    for table in target.tables.clone() {
        let added = target
            .client
            .execute(
                &format!(
                    "INSERT INTO squeeze.tables (tabschema, tabname, schedule) VALUES ($1, $2, {NIGHTLY}) \
                     ON CONFLICT (tabschema, tabname) DO NOTHING"
                ),
                &[&table.schema, &table.name],
            )
            .with_context(|| format!("failed to register {} with pg_squeeze", table.display()))?;
        if added > 0 {
            log.line(&format!(
                "{database}: registered {} as a pg_squeeze target (daily 03:30)",
                table.display()
            ))?;
            outcome.notes.push(format!(
                "{database}: {} registered as a pg_squeeze target (daily 03:30)",
                table.display()
            ));
        }
        progress.status("Squeezing", &format!("{} in `{database}`", table.display()));
        let done = measured(target, &table, log, |client| {
            client
                .execute(
                    "SELECT squeeze.squeeze_table($1, $2)",
                    &[&table.schema, &table.name],
                )
                .map(drop)
                .map_err(|e| {
                    anyhow::anyhow!("squeeze.squeeze_table failed: {}", server_message(&e))
                })
        })?;
        outcome.compacted.push(done);
    }
    Ok(())
}
