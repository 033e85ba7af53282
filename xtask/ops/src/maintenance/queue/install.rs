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
    check_roles(client, &names, from == 0)?;
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
/// schema; an error when the schema exists but is not a queue schema, or is not
/// one an install made (see [`check_owners`]). Nothing of the schema is read
/// before its owners are checked.
pub fn installed_version(
    client: &mut impl GenericClient,
    schema: &str,
) -> anyhow::Result<Option<i32>> {
    let row = client.query_one(
        "SELECT n.oid IS NOT NULL, c.oid IS NOT NULL \
         FROM (SELECT 1) one \
         LEFT JOIN pg_namespace n ON n.nspname = $1 \
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'schema_version' \
              AND c.relkind = 'r'",
        &[&schema],
    )?;
    let (schema_exists, table_exists): (bool, bool) = (row.get(0), row.get(1));
    if !schema_exists {
        return Ok(None);
    }
    check_owners(client, schema)?;
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

/// An install runs as a superuser, so the schema it made and everything in it
/// belongs to a superuser. A schema, relation or function of `schema` owned by
/// anyone else was planted (any role with CREATE on the database can make a
/// schema with a `schema_version` table and functions that look like a queue):
/// it is refused before anything in it is read or run.
pub fn check_owners(client: &mut impl GenericClient, schema: &str) -> anyhow::Result<()> {
    let foreign = crate::maintenance::tables::not_superuser_owned(client, schema)?;
    if !foreign.is_empty() {
        bail!(
            "schema `{schema}` is not a queue this tool installed: {} not owned by a superuser \
             (an install makes everything as a superuser; another role made or took over these, \
             and running them as a superuser would run that role's code). Nothing was changed. \
             Inspect it (`\\dn+ {schema}`, `\\df {schema}.*`); if it is not yours, drop or rename \
             it and install again, or choose another `--schema`",
            foreign.join(", ")
        );
    }
    Ok(())
}

/// The roles named after the schema must be ours to use: existing ones must be
/// group roles (no login, not superusers), or granting them would hand a
/// person's account the queue's rights by accident.
///
/// Roles are cluster-wide, so before the first install of a schema (`fresh`) a
/// role of that name may have been made by someone else: a role with CREATEROLE
/// holds ADMIN on each role it creates and could grant the queue's rights to
/// itself once the install granted them to the role. So a role that exists
/// before the first install is accepted only if it has no attribute beyond
/// NOLOGIN, no non-superuser holds ADMIN on it, and every membership in it was
/// granted by a superuser. That is what an earlier install of the same schema
/// name in another database leaves (the install makes the roles as a
/// superuser; a DBA then grants them to application roles), so a second
/// database's queue of that name shares its roles, as documented.
fn check_roles(
    client: &mut postgres::Client,
    names: &QueueNames,
    fresh: bool,
) -> anyhow::Result<()> {
    for role in [&names.producer, &names.worker] {
        let Some(row) = client.query_opt(
            "SELECT r.rolcanlogin, r.rolsuper, \
                    r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls, \
                    (SELECT string_agg(format('%I (%s)', m.rolname, \
                                CASE WHEN a.admin_option AND NOT m.rolsuper THEN 'admin option' \
                                     ELSE 'granted by ' || quote_ident(g.rolname) END), ', ' \
                                ORDER BY m.rolname) \
                     FROM pg_auth_members a \
                     JOIN pg_roles m ON m.oid = a.member \
                     JOIN pg_roles g ON g.oid = a.grantor \
                     WHERE a.roleid = r.oid \
                       AND ((a.admin_option AND NOT m.rolsuper) OR NOT g.rolsuper)) \
             FROM pg_roles r WHERE r.rolname = $1",
            &[role],
        )?
        else {
            continue;
        };
        let (login, superuser): (bool, bool) = (row.get(0), row.get(1));
        if login || superuser {
            bail!(
                "role `{role}` exists and can log in or is a superuser; the queue's roles must be \
                 NOLOGIN group roles: choose another `--schema` or drop that role"
            );
        }
        if !fresh {
            continue;
        }
        let (attributes, untrusted): (bool, Option<String>) = (row.get(2), row.get(3));
        if attributes {
            bail!(
                "role `{role}` exists before the queue schema `{}` is installed and has attributes \
                 (CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS) a queue role never has; the install \
                 would grant the queue's rights to a role it did not make. Nothing was changed: drop \
                 that role (`DROP ROLE`) if it is not in use, or choose another `--schema`",
                names.schema
            );
        }
        if let Some(untrusted) = untrusted {
            let quoted = quote_ident(role);
            bail!(
                "role `{role}` exists before the queue schema `{}` is installed and non-superusers \
                 control who holds it: {untrusted}; they could grant the queue's rights to anyone \
                 once the install granted them to the role. Nothing was changed: drop that role \
                 (`DROP ROLE`) or revoke those memberships as a superuser (`REVOKE {quoted} FROM ...`), \
                 or choose another `--schema`",
                names.schema
            );
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
