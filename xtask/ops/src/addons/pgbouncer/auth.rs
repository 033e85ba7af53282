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
    // Checked before anything changes: an auth role with more than a login, or a
    // schema of that name holding anything a non-superuser owns, is refused.
    let role = admin.query_opt(
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication \
                OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid), \
                rolcanlogin \
         FROM pg_roles r WHERE rolname = $1",
        &[&AUTH_ROLE],
    )?;
    if let Some(row) = &role {
        if row.get::<_, bool>(0) {
            bail!(
                "role `{AUTH_ROLE}` exists with more than a login (superuser, CREATEROLE, CREATEDB, \
                 BYPASSRLS, REPLICATION or a membership), and PgBouncer's auth role must have none; \
                 nothing was changed: drop that role (or take those rights away), then `cargo xtask up`"
            );
        }
    }
    let foreign = crate::maintenance::tables::not_superuser_owned(admin, SCHEMA)?;
    if !foreign.is_empty() {
        bail!(
            "schema `{SCHEMA}` in `{AUTH_DBNAME}` holds objects a superuser does not own ({}), so \
             PgBouncer's lookup function will not be put there; nothing was changed: drop or \
             rename that schema, then `cargo xtask up`",
            foreign.join(", ")
        );
    }
    let comment: Option<String> = admin
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&SCHEMA],
        )?
        .and_then(|row| row.get(0));
    match role {
        None => {
            crate::pg::bootstrap::create_service_role(admin, AUTH_ROLE, password)?;
            changed.push(format!("role `{AUTH_ROLE}`"));
        }
        Some(row) if !row.get::<_, bool>(1) => {
            // Turned NOLOGIN while the profile was off (see `disable`).
            admin.batch_execute(&format!("ALTER ROLE {} LOGIN", quote_ident(AUTH_ROLE)))?;
            changed.push(format!("role `{AUTH_ROLE}` may log in again"));
        }
        Some(_) => {}
    }
    let sql = definitions()?;
    let wanted = fingerprint(&sql);
    // A role created just now has none of the grants the definitions give.
    if changed.is_empty() && comment.as_deref() == Some(wanted.as_str()) {
        return Ok(changed);
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

/// `up`'s step: with the profile on, [`ensure`] the role and the lookup; with it
/// off, [`disable`] the role. Returns what it changed, each said on `progress`.
pub fn sync(
    stack: &crate::stack::Stack,
    progress: &dyn crate::progress::Progress,
) -> anyhow::Result<Vec<String>> {
    let mut admin = stack.connect(AUTH_DBNAME)?;
    if !super::enabled(&stack.config) {
        if !disable(&mut admin)? {
            return Ok(Vec::new());
        }
        let change =
            format!("role `{AUTH_ROLE}` may no longer log in (the pgbouncer profile is off)");
        progress.status("Changed", &change);
        return Ok(vec![change]);
    }
    let password = crate::secrets::read(
        &super::Addon::PgBouncer.secret_file(&stack.paths, super::AUTH_PASSWORD),
    )?;
    let changes = ensure(&mut admin, &password)?;
    for change in &changes {
        progress.status("Created", &format!("{change} (PgBouncer's auth_query)"));
    }
    Ok(changes)
}

/// With the profile off, the auth role (if it exists) may no longer log in: a
/// login that can read every verifier stays only while PgBouncer needs it.
/// Returns whether it changed anything.
pub fn disable(admin: &mut postgres::Client) -> anyhow::Result<bool> {
    let can_login: Option<bool> = admin
        .query_opt(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
            &[&AUTH_ROLE],
        )?
        .map(|row| row.get(0));
    if can_login != Some(true) {
        return Ok(false);
    }
    admin.batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(AUTH_ROLE)))?;
    Ok(true)
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
