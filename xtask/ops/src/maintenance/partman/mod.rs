//! Partition management with pg_partman 5 (installed in schema `partman` of
//! every database): `show` lists the managed partition sets, `maintenance`
//! runs the nightly job's call (`core_data_maintenance.run_partman()`, see
//! `maintenance::jobs`) now and reports which partitions it
//! created or removed, `create` ([`create`]) puts a partitioned table under
//! management. pg_partman refers to a table as unquoted `schema.table` text
//! (it splits on the dot); that text is always a bound value here.

pub mod create;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::maintenance::jobs::PARTMAN_MAINTENANCE;
use crate::maintenance::session;
use crate::stack::Stack;

pub use create::{create_parent, CreateParent, Created};

/// How long partition DDL waits for a lock before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// One managed partition set.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionSet {
    pub database: String,
    /// As pg_partman stores it: `schema.table`, unquoted.
    pub parent: String,
    pub control: String,
    pub interval: String,
    pub partition_type: String,
    pub premake: i32,
    pub retention: Option<String>,
    pub automatic_maintenance: String,
    /// Child tables now (the default partition included).
    pub partitions: i64,
    /// The partition with the highest bound (without the default one).
    pub newest: Option<String>,
    pub last_maintenance: Option<String>,
}

/// Whether pg_partman is installed (in `partman`) in the connected database.
pub fn installed(client: &mut postgres::Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one("SELECT to_regclass('partman.part_config') IS NOT NULL", &[])?
        .get(0))
}

/// The managed partition sets of the databases in scope; only `parent`
/// (as written: `schema.table`, quoted where needed) when given.
pub fn show(
    stack: &Stack,
    only: &[String],
    parent: Option<&str>,
) -> anyhow::Result<Vec<PartitionSet>> {
    let mut sets = Vec::new();
    for database in session::databases(stack, only)? {
        let mut client = session::open(stack, &database, LOCK_TIMEOUT)?;
        if !installed(&mut client)? {
            continue;
        }
        let wanted = match parent {
            Some(text) => {
                let (schema, name) = crate::maintenance::tables::parse(&mut client, text)?;
                Some(format!("{schema}.{name}"))
            }
            None => None,
        };
        let rows = client
            .query(
                "SELECT p.parent_table, p.control, p.partition_interval, p.partition_type, p.premake, \
                 p.retention, p.automatic_maintenance, p.maintenance_last_run::text, \
                 (SELECT count(*) FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid), \
                 (SELECT s.partition_schemaname || '.' || s.partition_tablename \
                  FROM partman.show_partitions(p.parent_table, 'DESC') s LIMIT 1) \
                 FROM partman.part_config p \
                 LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = split_part(p.parent_table, '.', 1) \
                 LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid \
                 AND c.relname = split_part(p.parent_table, '.', 2) \
                 WHERE $1::text IS NULL OR p.parent_table = $1 ORDER BY p.parent_table",
                &[&wanted],
            )
            .with_context(|| format!("failed to read partman.part_config in `{database}`"))?;
        for row in rows {
            sets.push(PartitionSet {
                database: database.clone(),
                parent: row.try_get(0)?,
                control: row.try_get(1)?,
                interval: row.try_get(2)?,
                partition_type: row.try_get(3)?,
                premake: row.try_get(4)?,
                retention: row.try_get(5)?,
                automatic_maintenance: row.try_get(6)?,
                last_maintenance: row.try_get(7)?,
                partitions: row.try_get(8)?,
                newest: row.try_get(9)?,
            });
        }
    }
    if let (Some(text), true) = (parent, sets.is_empty()) {
        bail!("`{text}` is not managed by pg_partman in the databases in scope");
    }
    Ok(sets)
}

/// What one database's maintenance run changed.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceRun {
    pub database: String,
    /// `schema.table` of each partition it created.
    pub created: Vec<String>,
    /// Partitions that left their set (retention).
    pub removed: Vec<String>,
}

/// Every partition (`schema.table`) of every managed set in the connected database.
pub fn managed_partitions(client: &mut postgres::Client) -> anyhow::Result<BTreeSet<String>> {
    Ok(client
        .query(
            "SELECT cn.nspname::text || '.' || cc.relname::text FROM partman.part_config p \
             JOIN pg_catalog.pg_namespace n ON n.nspname = split_part(p.parent_table, '.', 1) \
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid \
             AND c.relname = split_part(p.parent_table, '.', 2) \
             JOIN pg_catalog.pg_inherits i ON i.inhparent = c.oid \
             JOIN pg_catalog.pg_class cc ON cc.oid = i.inhrelid \
             JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace",
            &[],
        )
        .context("failed to list the managed partitions")?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// Runs pg_partman's maintenance now in each database in scope that has it
/// (the hourly job's own statement), reporting what appeared and went.
pub fn maintenance(stack: &Stack, only: &[String]) -> anyhow::Result<Vec<MaintenanceRun>> {
    let mut runs = Vec::new();
    for database in session::databases(stack, only)? {
        let mut client = session::open(stack, &database, LOCK_TIMEOUT)?;
        if !installed(&mut client)? {
            if !only.is_empty() {
                bail!("pg_partman is not installed in `{database}`; `cargo xtask up` installs the extension bundle");
            }
            continue;
        }
        let before = managed_partitions(&mut client)?;
        client
            .batch_execute(PARTMAN_MAINTENANCE)
            .with_context(|| format!("`{PARTMAN_MAINTENANCE}` failed in `{database}`"))?;
        let after = managed_partitions(&mut client)?;
        runs.push(MaintenanceRun {
            database,
            created: after.difference(&before).cloned().collect(),
            removed: before.difference(&after).cloned().collect(),
        });
    }
    Ok(runs)
}
