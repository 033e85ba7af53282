//! Bringing a running server to the configured state: application roles with
//! their generated passwords, application databases, and the extension bundle
//! in each. Every step checks first, so a second run changes nothing.

use anyhow::Context;

use crate::config::Config;
use crate::paths::Paths;
use crate::secrets;
use crate::sql::{quote_ident, quote_literal};

/// The extension list shared with the image's entrypoint.
pub const EXTENSIONS_FILE: &str = include_str!("../../../../postgres/extensions.txt");

/// The bundle's `CREATE EXTENSION` names, in install order.
pub fn extensions() -> Vec<&'static str> {
    EXTENSIONS_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// The bundle names that belong in `database` (pg_cron lives only in `postgres`).
pub fn extensions_for(database: &str) -> Vec<&'static str> {
    extensions()
        .into_iter()
        .filter(|ext| *ext != "pg_cron" || database == "postgres")
        .collect()
}

/// What a bootstrap run created.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub roles: Vec<String>,
    /// Roles of the stack's own services (the `logical_backup` sidecar's).
    pub service_roles: Vec<String>,
    pub databases: Vec<String>,
    pub extensions: Vec<(String, String)>,
    /// Changes to the nightly pg_cron jobs (`maintenance::jobs`).
    pub jobs: Vec<String>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.jobs.is_empty()
            && self.service_roles.is_empty()
            && self.databases.is_empty()
            && self.extensions.is_empty()
    }
}

/// Creates a login role with a SCRAM verifier computed here, so the clear
/// password never reaches the server or its (pgaudit) logs.
pub fn create_role(
    client: &mut impl postgres::GenericClient,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    client
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            quote_ident(role),
            quote_literal(&verifier)
        ))
        .with_context(|| format!("failed to create role `{role}`"))
}

/// What one of the stack's own service roles is granted beyond `LOGIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRights {
    pub role: &'static str,
    /// The predefined roles (`pg_*`) it is a member of.
    pub predefined: &'static [&'static str],
    /// Whether it has `BYPASSRLS`.
    pub bypass_rls: bool,
}

/// Every service role's rights, as the `create_*_role` functions below grant
/// them; `audit roles` reports exactly these as the platform's own (Info).
pub const SERVICE_RIGHTS: &[ServiceRights] = &[
    // The `logical_backup` sidecar's login: it reads every table
    // (`pg_read_all_data`, and `BYPASSRLS` so row-level security cannot
    // silently thin a dump) and writes nothing.
    ServiceRights {
        role: secrets::BACKUP_ROLE,
        predefined: &["pg_read_all_data"],
        bypass_rls: true,
    },
    // The runbooks' read-only login: reads all data and statistics, is not a
    // superuser, and may not run server programs or write server files.
    ServiceRights {
        role: secrets::READER_ROLE,
        predefined: &["pg_read_all_data", "pg_read_all_stats", "pg_monitor"],
        bypass_rls: false,
    },
    // The runbooks' writing login (granted `--allow-sql-writes`): DML on every
    // table (`pg_read_all_data`, `pg_write_all_data`), VACUUM/ANALYZE/REINDEX
    // (`pg_maintain`) and the statistics views (`pg_monitor`). Not a superuser,
    // owns nothing, cannot create roles, databases or schema objects, run
    // server programs or write server files; row-level security still applies.
    ServiceRights {
        role: secrets::RUNBOOK_ROLE,
        predefined: &[
            "pg_read_all_data",
            "pg_write_all_data",
            "pg_maintain",
            "pg_monitor",
        ],
        bypass_rls: false,
    },
    // The audits' login: `pg_monitor` (statistics, settings, pgstattuple,
    // pg_buffercache) and nothing else; see `audit::access`.
    ServiceRights {
        role: secrets::AUDITOR_ROLE,
        predefined: &["pg_monitor"],
        bypass_rls: false,
    },
    // The nightly pg_cron jobs' role: VACUUM/ANALYZE (`pg_maintain`); the rest
    // through `maintenance/functions.sql`. Its password is random and never
    // stored, so it has no secret file and no hba lines (`maintenance::jobs`).
    ServiceRights {
        role: crate::maintenance::jobs::MAINTENANCE_ROLE,
        predefined: &["pg_maintain"],
        bypass_rls: false,
    },
    // The dashboard's login (profile `dashboard`): `pg_monitor` always; at most
    // `pg_read_all_data` (DASHBOARD_ALLOW_EXPLAIN) and `pg_signal_backend`
    // (DASHBOARD_ALLOW_SIGNAL), each only while its key is true
    // (`dashboard::role`, which creates it).
    ServiceRights {
        role: crate::dashboard::settings::ROLE,
        predefined: &["pg_monitor", "pg_read_all_data", "pg_signal_backend"],
        bypass_rls: false,
    },
    // PgBouncer's `auth_user` (profile `pgbouncer`): no predefined role at all;
    // it may only execute `core_data_pgbouncer.lookup` in `postgres`
    // (`addons::pgbouncer::auth`), and every session is read-only.
    ServiceRights {
        role: crate::addons::pgbouncer::AUTH_ROLE,
        predefined: &[],
        bypass_rls: false,
    },
];

/// `role`'s entry in `SERVICE_RIGHTS`, if it is a service role.
pub fn service_rights(role: &str) -> Option<&'static ServiceRights> {
    SERVICE_RIGHTS.iter().find(|rights| rights.role == role)
}

/// Creates service role `role` with its password and the rights `SERVICE_RIGHTS` lists.
pub(crate) fn create_service_role(
    client: &mut postgres::Client,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    let rights = service_rights(role)
        .with_context(|| format!("`{role}` is not one of the stack's service roles"))?;
    create_role(client, role, password)?;
    let quoted = quote_ident(role);
    let mut sql = String::new();
    if rights.bypass_rls {
        sql.push_str(&format!("ALTER ROLE {quoted} BYPASSRLS; "));
    }
    // Only the predefined roles this major has (pg_maintain is 17's).
    let names: Vec<String> = rights.predefined.iter().map(|r| (*r).to_owned()).collect();
    let existing: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) ORDER BY array_position($1, rolname::text)",
            &[&names],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !existing.is_empty() {
        sql.push_str(&format!("GRANT {} TO {quoted}", existing.join(", ")));
    }
    client
        .batch_execute(&sql)
        .with_context(|| format!("failed to grant `{role}` its rights"))
}

/// The `logical_backup` sidecar's login (see `SERVICE_RIGHTS`).
pub fn create_backup_role(client: &mut postgres::Client, password: &str) -> anyhow::Result<()> {
    create_service_role(client, secrets::BACKUP_ROLE, password)
}

/// The runbooks' read-only login (see `SERVICE_RIGHTS`).
pub fn create_reader_role(client: &mut postgres::Client, password: &str) -> anyhow::Result<()> {
    create_service_role(client, secrets::READER_ROLE, password)
}

/// The runbooks' writing login (see `SERVICE_RIGHTS`).
pub fn create_runbook_role(client: &mut postgres::Client, password: &str) -> anyhow::Result<()> {
    create_service_role(client, secrets::RUNBOOK_ROLE, password)
}

/// The audits' login (see `SERVICE_RIGHTS` and `audit::access`).
pub fn create_auditor_role(client: &mut postgres::Client, password: &str) -> anyhow::Result<()> {
    create_service_role(client, secrets::AUDITOR_ROLE, password)
}

pub fn role_exists(client: &mut postgres::Client, role: &str) -> anyhow::Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])?
        .is_some())
}

/// `Ready` once the server has left recovery (promoted), for `poll_until`.
pub fn promoted(client: &mut postgres::Client) -> anyhow::Result<crate::wait::Poll<()>> {
    let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[])?.get(0);
    Ok(crate::wait::ready_if(!in_recovery, || {
        "still in recovery".to_owned()
    }))
}

/// PostgreSQL's own databases: never dropped, replaced or restored over.
pub const PROTECTED_DATABASES: &[&str] = &["postgres", "template0", "template1"];

pub use core_data_sidecar::names::DATABASES_SQL;

/// The names `DATABASES_SQL` lists.
pub fn databases(client: &mut postgres::Client) -> anyhow::Result<Vec<String>> {
    Ok(client
        .query(DATABASES_SQL, &[])?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

pub fn database_exists(client: &mut postgres::Client, database: &str) -> anyhow::Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])?
        .is_some())
}

/// The bundle names of `database` that the server's image carries (an image
/// built from a suite that lacks a package leaves its extensions out; the
/// image's build fails when any other is missing).
pub fn image_bundle_for(
    client: &mut postgres::Client,
    database: &str,
) -> anyhow::Result<Vec<&'static str>> {
    let available: Vec<String> = client
        .query("SELECT name::text FROM pg_available_extensions", &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(extensions_for(database)
        .into_iter()
        .filter(|ext| available.iter().any(|name| name == ext))
        .collect())
}

/// The bundle extensions `database` (which `client` is connected to) lacks, in install order.
pub fn missing_extensions(
    client: &mut postgres::Client,
    database: &str,
) -> anyhow::Result<Vec<&'static str>> {
    let installed: Vec<String> = client
        .query("SELECT extname::text FROM pg_extension", &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(image_bundle_for(client, database)?
        .into_iter()
        .filter(|ext| !installed.iter().any(|name| name == ext))
        .collect())
}

/// Installs the missing bundle extensions into the database `client` is connected to.
/// Returns the names it installed.
pub fn ensure_extensions(
    client: &mut postgres::Client,
    database: &str,
) -> anyhow::Result<Vec<String>> {
    let mut created = Vec::new();
    for ext in missing_extensions(client, database)? {
        let statement = if ext == "pg_partman" {
            "CREATE SCHEMA IF NOT EXISTS partman; CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman".to_owned()
        } else if ext.starts_with("postgis") {
            // PostGIS 3.3 (PostgreSQL 15's) refuses to install while pgaudit logs DDL.
            format!(
                "SET pgaudit.log = 'none'; CREATE EXTENSION IF NOT EXISTS {} CASCADE; RESET pgaudit.log",
                quote_ident(ext)
            )
        } else {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} CASCADE",
                quote_ident(ext)
            )
        };
        client.batch_execute(&statement).with_context(|| {
            format!("failed to install extension `{ext}` in database `{database}`")
        })?;
        created.push(ext.to_owned());
    }
    Ok(created)
}

/// Gives `owner` the rights an application owner expects on its database.
pub fn grant_owner(
    client: &mut postgres::Client,
    database: &str,
    owner: &str,
) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "GRANT ALL PRIVILEGES ON DATABASE {db} TO {owner}; ALTER SCHEMA public OWNER TO {owner}",
            db = quote_ident(database),
            owner = quote_ident(owner)
        ))
        .with_context(|| format!("failed to grant `{owner}` its rights on `{database}`"))
}

/// Runs the bootstrap. `connect` opens a superuser connection to a database.
pub fn run(
    paths: &Paths,
    config: &Config,
    connect: &dyn Fn(&str) -> anyhow::Result<postgres::Client>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut admin = connect("postgres")?;
    for ext in ensure_extensions(&mut admin, "postgres")? {
        report.extensions.push(("postgres".to_owned(), ext));
    }
    if crate::maintenance::jobs::ensure_role(&mut admin, config)? {
        report
            .service_roles
            .push(crate::maintenance::jobs::MAINTENANCE_ROLE.to_owned());
    }
    for db in config.databases() {
        if !role_exists(&mut admin, &db.owner)? {
            let password = secrets::read(&secrets::role_password_file(paths, &db.owner))?;
            create_role(&mut admin, &db.owner, &password)?;
            report.roles.push(db.owner.clone());
        }
        if !database_exists(&mut admin, &db.name)? {
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE {} OWNER {}",
                    quote_ident(&db.name),
                    quote_ident(&db.owner)
                ))
                .with_context(|| format!("failed to create database `{}`", db.name))?;
            report.databases.push(db.name.clone());
            let mut client = connect(&db.name)?;
            grant_owner(&mut client, &db.name, &db.owner)?;
        }
        let mut client = connect(&db.name)?;
        for ext in ensure_extensions(&mut client, &db.name)? {
            report.extensions.push((db.name.clone(), ext));
        }
    }
    // Last: the sidecar starts dumping as soon as its role can log in, and its
    // first run should find the application databases complete.
    if !role_exists(&mut admin, secrets::BACKUP_ROLE)? {
        create_backup_role(
            &mut admin,
            &secrets::read(&secrets::backup_password_file(paths))?,
        )?;
        report.service_roles.push(secrets::BACKUP_ROLE.to_owned());
    }
    if !role_exists(&mut admin, secrets::READER_ROLE)? {
        create_reader_role(
            &mut admin,
            &secrets::read(&secrets::reader_password_file(paths))?,
        )?;
        report.service_roles.push(secrets::READER_ROLE.to_owned());
    }
    if !role_exists(&mut admin, secrets::RUNBOOK_ROLE)? {
        create_runbook_role(
            &mut admin,
            &secrets::read(&secrets::runbook_password_file(paths))?,
        )?;
        report.service_roles.push(secrets::RUNBOOK_ROLE.to_owned());
    }
    if !role_exists(&mut admin, secrets::AUDITOR_ROLE)? {
        create_auditor_role(
            &mut admin,
            &secrets::read(&secrets::auditor_password_file(paths))?,
        )?;
        report.service_roles.push(secrets::AUDITOR_ROLE.to_owned());
    }
    crate::audit::access::ensure_functions(&mut admin)?;
    // Every database, not only the configured ones: audits cover them all, and
    // each gets the nightly jobs (a restore's temporary copies excepted).
    for database in databases(&mut admin)? {
        let mut client = connect(&database)?;
        crate::audit::access::grant_in_database(&mut client)?;
        if !database.starts_with(crate::pg::admin::RESERVED_PREFIX) {
            for change in
                crate::maintenance::jobs::sync(&mut admin, &mut client, config, &database)?
            {
                report.jobs.push(change.to_string());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_thirty_names_with_age_first() {
        let all = extensions();
        assert_eq!(all.len(), 30, "{all:?}");
        assert_eq!(all[0], "age");
        assert!(!extensions_for("app").contains(&"pg_cron"));
        assert!(extensions_for("postgres").contains(&"pg_cron"));
        assert_eq!(extensions_for("app").len(), 29);
    }

    #[test]
    fn every_service_role_has_its_rights_listed() {
        for role in crate::render::SERVICE_ROLES {
            let rights = service_rights(role).unwrap();
            assert!(rights.predefined.iter().all(|r| r.starts_with("pg_")));
        }
        // Plus the maintenance role, which has no password file and so no hba lines, and
        // PgBouncer's auth role, whose hba lines allow `postgres` only.
        assert_eq!(SERVICE_RIGHTS.len(), crate::render::SERVICE_ROLES.len() + 2);
        assert!(service_rights(crate::addons::pgbouncer::AUTH_ROLE).is_some());
        assert!(service_rights(secrets::BACKUP_ROLE).unwrap().bypass_rls);
    }
}
