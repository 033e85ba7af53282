//! `create-user`, `drop-user`, `create-db`, `drop-db`: names are quoted by
//! `sql::quote_ident`, lookups use bound parameters, and a hostile name such as
//! `x"; DROP DATABASE postgres; --` is just a name.

use anyhow::{bail, Context};

use super::bootstrap;
use crate::sql::{check_name, quote_ident};

const PROTECTED_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// Creates a login role. Returns false when it already existed (its password is left alone).
pub fn create_user(
    client: &mut postgres::Client,
    role: &str,
    password: &str,
) -> anyhow::Result<bool> {
    check_name("role", role)?;
    if bootstrap::role_exists(client, role)? {
        return Ok(false);
    }
    bootstrap::create_role(client, role, password)?;
    Ok(true)
}

/// Drops a role. Returns false when there was none. A role that still owns
/// objects is an error naming them, not a silent success.
pub fn drop_user(client: &mut postgres::Client, role: &str) -> anyhow::Result<bool> {
    check_name("role", role)?;
    if !bootstrap::role_exists(client, role)? {
        return Ok(false);
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

/// Creates a database owned by `owner`, installs the bundle and grants the owner.
/// `connect` opens a superuser connection to the named database. Returns the
/// extensions installed (empty when the database existed and was complete).
pub fn create_db(
    client: &mut postgres::Client,
    database: &str,
    owner: &str,
    connect: &dyn Fn(&str) -> anyhow::Result<postgres::Client>,
) -> anyhow::Result<(bool, Vec<String>)> {
    check_name("database", database)?;
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
    bootstrap::ensure_partman_job(client, database)?;
    Ok((created, installed))
}

/// Drops a database (and its maintenance job), ending its sessions first.
/// Returns false when there was none. `client` is connected to `postgres`.
pub fn drop_db(client: &mut postgres::Client, database: &str) -> anyhow::Result<bool> {
    check_name("database", database)?;
    if PROTECTED_DATABASES.contains(&database) {
        bail!("database `{database}` belongs to PostgreSQL itself and cannot be dropped");
    }
    if !bootstrap::database_exists(client, database)? {
        return Ok(false);
    }
    bootstrap::drop_partman_job(client, database)?;
    client
        .batch_execute(&format!(
            "DROP DATABASE {} WITH (FORCE)",
            quote_ident(database)
        ))
        .with_context(|| format!("failed to drop database `{database}`"))?;
    Ok(true)
}
