//! Installing and upgrading a queue schema: every check first (names, roles,
//! what the schema already holds), then each pending migration in its own
//! transaction under an advisory lock, the version recorded in the same
//! transaction. Two installs at once serialize; the second finds the work done.

use anyhow::{bail, Context};
use postgres::GenericClient;
use serde::Serialize;

use super::migrations::{self, Names};
use super::names::QueueNames;
use crate::sql::quote_ident;

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub schema: String,
    pub producer_role: String,
    pub worker_role: String,
    /// The version before (0: not installed).
    pub from_version: i32,
    /// The version after.
    pub to_version: i32,
    /// The migrations this run applied, in order (empty: nothing to do).
    pub applied: Vec<i32>,
}

/// Installs the newest version of the queue schema `schema`, or upgrades it.
pub fn install(client: &mut postgres::Client, schema: &str) -> anyhow::Result<InstallReport> {
    install_to(client, schema, migrations::latest())
}

/// Installs or upgrades `schema` up to `target` (tests install an old version
/// this way to prove the upgrade). A schema newer than `target` is left alone.
pub fn install_to(
    client: &mut postgres::Client,
    schema: &str,
    target: i32,
) -> anyhow::Result<InstallReport> {
    let names = QueueNames::new(schema)?;
    if !(1..=migrations::latest()).contains(&target) {
        bail!(
            "queue schema version {target} does not exist (this build has 1 to {})",
            migrations::latest()
        );
    }
    let from = installed_version(client, schema)?.unwrap_or(0);
    if from > migrations::latest() {
        bail!(
            "queue schema `{schema}` is at version {from}, newer than this build's {}; \
             upgrade core_data instead",
            migrations::latest()
        );
    }
    check_roles(client, &names)?;
    let mut applied = Vec::new();
    for version in from + 1..=target {
        let sql = migrations::render(
            version,
            &Names {
                schema,
                producer: &names.producer,
                worker: &names.worker,
            },
        )?;
        if apply(client, &names, version, &sql).with_context(|| {
            format!(
                "failed to apply queue migration {version} to schema `{schema}` (it was rolled back; \
                 the schema is at version {})",
                applied.last().copied().unwrap_or(from)
            )
        })? {
            applied.push(version);
        }
    }
    let to = installed_version(client, schema)?.unwrap_or(0);
    Ok(InstallReport {
        schema: schema.to_owned(),
        producer_role: names.producer,
        worker_role: names.worker,
        from_version: from,
        to_version: to,
        applied,
    })
}

/// One migration in one transaction. Returns false when another install
/// applied it while this one waited for the lock.
fn apply(
    client: &mut postgres::Client,
    names: &QueueNames,
    version: i32,
    sql: &str,
) -> anyhow::Result<bool> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('core_data.async_queue'), hashtext($1))",
        &[&names.schema],
    )?;
    let now = installed_version(&mut tx, &names.schema)?.unwrap_or(0);
    if now >= version {
        return Ok(false);
    }
    if now != version - 1 {
        bail!(
            "queue schema `{}` is at version {now}, expected {}",
            names.schema,
            version - 1
        );
    }
    if version == 1 {
        for role in [&names.producer, &names.worker] {
            let exists = tx
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[role])?
                .is_some();
            if !exists {
                tx.batch_execute(&format!("CREATE ROLE {} NOLOGIN", quote_ident(role)))
                    .with_context(|| format!("failed to create role `{role}`"))?;
            }
        }
    }
    tx.batch_execute(sql)?;
    tx.execute(
        &format!(
            "INSERT INTO {}.schema_version (version) VALUES ($1)",
            quote_ident(&names.schema)
        ),
        &[&version],
    )?;
    check_functions(&mut tx, &names.schema)?;
    tx.commit()?;
    Ok(true)
}

/// The recorded version of queue schema `schema`: `None` when there is no such
/// schema; an error when the schema exists but is not a queue schema.
pub fn installed_version(
    client: &mut impl GenericClient,
    schema: &str,
) -> anyhow::Result<Option<i32>> {
    let row = client.query_one(
        "SELECT n.oid IS NOT NULL, c.oid IS NOT NULL \
         FROM (SELECT 1) one \
         LEFT JOIN pg_namespace n ON n.nspname = $1 \
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'schema_version'",
        &[&schema],
    )?;
    let (schema_exists, table_exists): (bool, bool) = (row.get(0), row.get(1));
    if !schema_exists {
        return Ok(None);
    }
    if !table_exists {
        bail!(
            "schema `{schema}` exists and is not a queue schema (it has no `schema_version` table); \
             choose another `--schema`"
        );
    }
    let version: i32 = client
        .query_one(
            &format!(
                "SELECT coalesce(max(version), 0) FROM {}.schema_version",
                quote_ident(schema)
            ),
            &[],
        )?
        .get(0);
    Ok(Some(version))
}

/// The roles named after the schema must be ours to use: existing ones must be
/// group roles (no login, not superusers), or granting them would hand a
/// person's account the queue's rights by accident.
fn check_roles(client: &mut postgres::Client, names: &QueueNames) -> anyhow::Result<()> {
    for role in [&names.producer, &names.worker] {
        if let Some(row) = client.query_opt(
            "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1",
            &[role],
        )? {
            let (login, superuser): (bool, bool) = (row.get(0), row.get(1));
            if login || superuser {
                bail!(
                    "role `{role}` exists and can log in or is a superuser; the queue's roles must be \
                     NOLOGIN group roles: choose another `--schema` or drop that role"
                );
            }
        }
    }
    Ok(())
}

/// The schema's invariant, checked inside each migration's transaction: every
/// function is a SECURITY DEFINER with a pinned search_path and none is
/// executable by PUBLIC.
fn check_functions(client: &mut impl GenericClient, schema: &str) -> anyhow::Result<()> {
    let loose: Vec<String> = client
        .query(
            "SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND (NOT p.prosecdef \
                OR NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) \
                OR has_function_privilege('public', p.oid, 'EXECUTE')) \
             ORDER BY 1",
            &[&schema],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !loose.is_empty() {
        bail!(
            "queue function(s) {} must be SECURITY DEFINER, pin search_path and not be executable \
             by PUBLIC",
            loose.join(", ")
        );
    }
    Ok(())
}
