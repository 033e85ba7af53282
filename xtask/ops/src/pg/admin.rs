//! `create-user`, `drop-user`, `create-db`, `drop-db`: names are quoted by
//! `sql::quote_ident`, lookups use bound parameters, and a hostile name such as
//! `x"; DROP DATABASE postgres; --` is just a name.

use anyhow::{bail, Context};

use super::bootstrap;
use crate::config::Config;
use crate::secrets;
use crate::sql::{check_name, quote_ident};

/// The prefix of the platform's own roles and temporary databases.
pub const RESERVED_PREFIX: &str = "core_data_";

/// The roles the platform itself logs in as: never dropped by `drop-user`.
#[derive(Debug, Clone)]
pub struct ServiceRoles {
    pub superuser: String,
    /// Owners of the configured application databases (`APP_DATABASES`), with their database.
    pub app_owners: Vec<(String, String)>,
}

impl ServiceRoles {
    pub fn from_config(config: &Config) -> ServiceRoles {
        ServiceRoles {
            superuser: config.superuser().to_owned(),
            app_owners: config
                .databases()
                .into_iter()
                .map(|db| (db.owner, db.name))
                .collect(),
        }
    }

    /// Why `role` may never be dropped, if it is one of ours.
    fn protects(&self, role: &str) -> Option<String> {
        if role == self.superuser {
            return Some("is the superuser the platform connects as".to_owned());
        }
        if role == secrets::BACKUP_ROLE {
            return Some("is the `logical_backup` sidecar's login".to_owned());
        }
        if role == secrets::READER_ROLE {
            return Some("is the login read-only runbooks query as".to_owned());
        }
        if role == secrets::RUNBOOK_ROLE {
            return Some("is the login runbooks' SQL writes run as".to_owned());
        }
        if role == crate::maintenance::jobs::MAINTENANCE_ROLE {
            return Some("is the role the nightly maintenance jobs run as".to_owned());
        }
        if role == secrets::AUDITOR_ROLE {
            return Some("is the login audits run as".to_owned());
        }
        if role == crate::addons::pgbouncer::AUTH_ROLE {
            return Some("is PgBouncer's auth_query login (profile `pgbouncer`)".to_owned());
        }
        let owned: Vec<&str> = self
            .app_owners
            .iter()
            .filter(|(owner, _)| owner == role)
            .map(|(_, db)| db.as_str())
            .collect();
        if !owned.is_empty() {
            return Some(format!(
                "owns the configured application database(s) `{}` (`APP_DATABASES` in .env); \
                 remove them from `APP_DATABASES` first",
                owned.join("`, `")
            ));
        }
        None
    }
}

/// Refuses a name for a new role or database that belongs to the platform
/// (`core_data_…`) or to PostgreSQL (`pg_…`).
pub fn check_new_name(kind: &str, name: &str) -> anyhow::Result<()> {
    check_name(kind, name)?;
    if name
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(RESERVED_PREFIX))
    {
        bail!(
            "the {kind} name `{name}` starts with `{RESERVED_PREFIX}`, which is reserved for the \
             platform's own roles and databases; choose another name"
        );
    }
    if name.starts_with("pg_") {
        bail!(
            "the {kind} name `{name}` starts with `pg_`, which is reserved for PostgreSQL's own \
             roles; choose another name"
        );
    }
    Ok(())
}

/// Checks, before anything changes and without a server, that `role` may be
/// dropped: the platform's own roles never; `pg_…` names only with `force`.
pub fn check_drop_user(services: &ServiceRoles, role: &str, force: bool) -> anyhow::Result<()> {
    check_name("role", role)?;
    if let Some(why) = services.protects(role) {
        bail!("role `{role}` {why}; it cannot be dropped");
    }
    if role.starts_with("pg_") && !force {
        bail!(
            "role `{role}` has a name reserved for PostgreSQL's own roles (`pg_`); \
             add `--force` if you really mean to drop it"
        );
    }
    Ok(())
}

/// Creates a login role. Returns false when it already existed (its password is left alone).
pub fn create_user(
    client: &mut postgres::Client,
    role: &str,
    password: &str,
) -> anyhow::Result<bool> {
    check_new_name("role", role)?;
    if bootstrap::role_exists(client, role)? {
        return Ok(false);
    }
    bootstrap::create_role(client, role, password)?;
    Ok(true)
}

/// Drops a role. Returns false when there was none. A role that still owns
/// objects is an error naming them, not a silent success. The platform's own
/// roles are refused (`check_drop_user`); a superuser and `pg_…` names only
/// with `force`.
pub fn drop_user(
    client: &mut postgres::Client,
    services: &ServiceRoles,
    role: &str,
    force: bool,
) -> anyhow::Result<bool> {
    check_drop_user(services, role, force)?;
    let Some(row) =
        client.query_opt("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])?
    else {
        return Ok(false);
    };
    if row.get::<_, bool>(0) && !force {
        bail!("role `{role}` is a superuser; add `--force` if you really mean to drop it");
    }
    let owned: Vec<String> = client
        .query("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1", &[&role])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !owned.is_empty() {
        bail!(
            "role `{role}` owns database(s) {}; drop them first with `cargo xtask drop-db`",
            owned.join(", ")
        );
    }
    client
        .batch_execute(&format!("DROP ROLE {}", quote_ident(role)))
        .with_context(|| format!("failed to drop role `{role}`"))?;
    Ok(true)
}

/// Creates a database owned by `owner`, installs the bundle, grants the owner
/// and schedules the nightly jobs.
/// `connect` opens a superuser connection to the named database. Returns the
/// extensions installed (empty when the database existed and was complete).
pub fn create_db(
    client: &mut postgres::Client,
    config: &Config,
    database: &str,
    owner: &str,
    connect: &dyn Fn(&str) -> anyhow::Result<postgres::Client>,
) -> anyhow::Result<(bool, Vec<String>)> {
    check_new_name("database", database)?;
    check_name("role", owner)?;
    if !bootstrap::role_exists(client, owner)? {
        bail!(
            "role `{owner}` does not exist; create it first with `cargo xtask create-user {owner}`"
        );
    }
    let created = !bootstrap::database_exists(client, database)?;
    if created {
        client
            .batch_execute(&format!(
                "CREATE DATABASE {} OWNER {}",
                quote_ident(database),
                quote_ident(owner)
            ))
            .with_context(|| format!("failed to create database `{database}`"))?;
    }
    let mut db_client = connect(database)?;
    if created {
        bootstrap::grant_owner(&mut db_client, database, owner)?;
    }
    let installed = bootstrap::ensure_extensions(&mut db_client, database)?;
    crate::audit::access::grant_in_database(&mut db_client)?;
    crate::maintenance::jobs::ensure_role(client, config)?;
    crate::maintenance::jobs::sync(client, &mut db_client, config, database)?;
    Ok((created, installed))
}

/// Drops a database (and its nightly jobs), ending its sessions first.
/// Returns false when there was none. `client` is connected to `postgres`.
pub fn drop_db(client: &mut postgres::Client, database: &str) -> anyhow::Result<bool> {
    check_name("database", database)?;
    if bootstrap::PROTECTED_DATABASES.contains(&database) {
        bail!("database `{database}` belongs to PostgreSQL itself and cannot be dropped");
    }
    if !bootstrap::database_exists(client, database)? {
        return Ok(false);
    }
    crate::maintenance::jobs::drop(client, database)?;
    client
        .batch_execute(&format!(
            "DROP DATABASE {} WITH (FORCE)",
            quote_ident(database)
        ))
        .with_context(|| format!("failed to drop database `{database}`"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> ServiceRoles {
        ServiceRoles {
            superuser: "postgres".to_owned(),
            app_owners: vec![
                ("app".to_owned(), "app".to_owned()),
                ("shop_owner".to_owned(), "shop".to_owned()),
            ],
        }
    }

    #[test]
    fn the_platforms_roles_are_never_dropped_even_with_force() {
        for (role, why) in [
            ("postgres", "superuser the platform connects as"),
            ("core_data_backup", "sidecar"),
            ("core_data_reader", "runbooks"),
            ("core_data_runbook", "SQL writes"),
            ("shop_owner", "`shop`"),
        ] {
            for force in [false, true] {
                let err = check_drop_user(&services(), role, force).unwrap_err();
                let message = err.to_string();
                assert!(
                    message.contains(why) && message.contains("cannot be dropped"),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn pg_names_need_force_and_ordinary_roles_pass() {
        let err = check_drop_user(&services(), "pg_monitor", false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        check_drop_user(&services(), "pg_monitor", true).unwrap();
        check_drop_user(&services(), "alice", false).unwrap();
        check_drop_user(&services(), "x\"; DROP ROLE postgres; --", false).unwrap();
        assert!(check_drop_user(&services(), "", false).is_err());
    }

    #[test]
    fn new_names_may_not_take_reserved_prefixes() {
        for name in ["core_data_x", "CORE_DATA_x", "core_data_", "pg_x"] {
            assert!(check_new_name("role", name).is_err(), "{name}");
        }
        for name in ["core_datax", "app", "pgx", "Pg_x"] {
            check_new_name("database", name).unwrap();
        }
        let err = check_new_name("database", "core_data_restore_app").unwrap_err();
        assert!(err.to_string().contains("`core_data_`"), "{err}");
    }
}
