//! The PostgreSQL side of PgBouncer's authentication: the auth role
//! ([`super::AUTH_ROLE`], not a superuser, member of nothing) and the lookup
//! function `core_data_pgbouncer.lookup` in `postgres` (`auth.sql`). `up`
//! creates them when the profile is on, checking first: an existing schema of
//! that name that a superuser does not own, or an auth role that is a
//! superuser, is refused rather than trusted.

use anyhow::{bail, Context};

use super::AUTH_ROLE;
use crate::sql::{quote_ident, quote_literal};

/// The schema of the lookup function, in `auth_dbname` (`postgres`).
pub const SCHEMA: &str = "core_data_pgbouncer";
/// The database `auth_query` runs in.
pub const AUTH_DBNAME: &str = "postgres";
/// PgBouncer's `auth_query`: schema-qualified, so the session's search_path plays no part.
pub const AUTH_QUERY: &str = "SELECT username, password FROM core_data_pgbouncer.lookup($1)";

const SQL: &str = include_str!("auth.sql");

fn definitions() -> anyhow::Result<String> {
    crate::sql::fill(
        SQL,
        &[
            ("SCHEMA", &quote_ident(SCHEMA)),
            ("ROLE", &quote_ident(AUTH_ROLE)),
        ],
    )
}

/// The definitions' fingerprint, kept as the schema's comment: unchanged
/// definitions are not applied again.
fn fingerprint(sql: &str) -> String {
    let hex = core_data_sidecar::names::sha256_hex(sql.as_bytes());
    format!("core_data pgbouncer auth {}", &hex[..16])
}

/// Creates the auth role (with its secret's password) and the lookup function
/// in `postgres` when missing or out of date. `admin` is a superuser
/// connection to `postgres`. Returns what it changed.
pub fn ensure(admin: &mut postgres::Client, password: &str) -> anyhow::Result<Vec<String>> {
    let mut changed = Vec::new();
    let role = admin.query_opt(
        "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1",
        &[&AUTH_ROLE],
    )?;
    match role {
        None => {
            crate::pg::bootstrap::create_service_role(admin, AUTH_ROLE, password)?;
            changed.push(format!("role `{AUTH_ROLE}`"));
        }
        Some(row) if row.get::<_, bool>(0) => bail!(
            "role `{AUTH_ROLE}` is a superuser, and PgBouncer's auth role must not be; \
             nothing was changed: `ALTER ROLE {AUTH_ROLE} NOSUPERUSER`, then `cargo xtask up`"
        ),
        Some(_) => {}
    }
    let owner: Option<(bool, Option<String>)> = admin
        .query_opt(
            "SELECT r.rolsuper, obj_description(n.oid, 'pg_namespace') \
             FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $1",
            &[&SCHEMA],
        )?
        .map(|row| (row.get(0), row.get(1)));
    let sql = definitions()?;
    let wanted = fingerprint(&sql);
    match owner {
        Some((false, _)) => bail!(
            "schema `{SCHEMA}` in `{AUTH_DBNAME}` exists and a superuser does not own it, so \
             PgBouncer's lookup function will not be put there; nothing was changed: drop or \
             rename that schema, then `cargo xtask up`"
        ),
        Some((true, Some(comment))) if comment == wanted => return Ok(changed),
        _ => {}
    }
    let mut tx = admin.transaction()?;
    tx.batch_execute(&sql)
        .context("failed to create PgBouncer's lookup function")?;
    tx.batch_execute(&format!(
        "COMMENT ON SCHEMA {} IS {}",
        quote_ident(SCHEMA),
        quote_literal(&wanted)
    ))?;
    tx.commit()?;
    changed.push(format!("function `{SCHEMA}.lookup`"));
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_fill_every_placeholder() {
        let sql = definitions().unwrap();
        assert!(!sql.contains('@'), "{sql}");
        assert!(sql.contains("SECURITY DEFINER"));
        assert!(sql.contains("SET search_path = pg_catalog, pg_temp"));
        assert!(
            sql.contains("REVOKE ALL ON FUNCTION \"core_data_pgbouncer\".lookup(text) FROM PUBLIC")
        );
        assert!(AUTH_QUERY.contains(&format!("{SCHEMA}.lookup")));
    }
}
