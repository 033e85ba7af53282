//! The dashboard's login, `core_data_dashboard`: `pg_monitor`, EXECUTE on the
//! audits' definer functions (`audit::access`: it runs the same audits), and
//! the schema `core_data_dashboard` in `postgres` that it owns (its captured
//! history). `pg_read_all_data` only with `DASHBOARD_ALLOW_EXPLAIN=true`
//! (EXPLAIN and HypoPG need SELECT on the tables), `pg_signal_backend` only
//! with `DASHBOARD_ALLOW_SIGNAL=true`; turning a key off revokes it. Never a
//! superuser, CREATEROLE, CREATEDB, BYPASSRLS or REPLICATION.

use anyhow::{bail, Context};

use super::settings::{ROLE, SCHEMA};
use crate::addons::Addon;
use crate::config::Config;
use crate::progress::Progress;
use crate::sql::quote_ident;
use crate::stack::Stack;

/// The predefined roles granted on a key, with that key.
pub const OPTIONAL_RIGHTS: &[(&str, &str)] = &[
    ("pg_read_all_data", "DASHBOARD_ALLOW_EXPLAIN"),
    ("pg_signal_backend", "DASHBOARD_ALLOW_SIGNAL"),
];

/// `up`'s step: with the profile on, [`ensure`] the role as `.env` says; with
/// it off, the role (if any) may no longer log in. Returns what it changed.
pub fn sync(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Vec<String>> {
    let mut admin = stack.connect("postgres")?;
    if !super::enabled(&stack.config) {
        let can_login: Option<bool> = admin
            .query_opt(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                &[&ROLE],
            )?
            .map(|row| row.get(0));
        if can_login != Some(true) {
            return Ok(Vec::new());
        }
        admin.batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(ROLE)))?;
        let change = format!("role `{ROLE}` may no longer log in (the dashboard profile is off)");
        progress.status("Changed", &change);
        return Ok(vec![change]);
    }
    let password =
        crate::secrets::read(&Addon::Dashboard.secret_file(&stack.paths, super::DB_PASSWORD))?;
    let changes = ensure(&mut admin, &password, &stack.config)?;
    for change in &changes {
        progress.status("Changed", &format!("{change} (the dashboard's role)"));
    }
    Ok(changes)
}

/// Creates or corrects the role, its grants and its schema (`admin`: a
/// superuser in `postgres`). Everything is checked before anything changes.
/// The password of an existing role is `pg::passwords::sync`'s (it keeps every
/// service login equal to its secret file).
pub fn ensure(
    admin: &mut postgres::Client,
    password: &str,
    config: &Config,
) -> anyhow::Result<Vec<String>> {
    let role = admin.query_opt(
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication, \
                rolcanlogin \
         FROM pg_roles WHERE rolname = $1",
        &[&ROLE],
    )?;
    if role.as_ref().is_some_and(|row| row.get::<_, bool>(0)) {
        bail!(
            "role `{ROLE}` exists with more than a login (superuser, CREATEROLE, CREATEDB, \
             BYPASSRLS or REPLICATION) and the dashboard's role must have none; nothing was \
             changed: take those rights away (or drop the role), then `cargo xtask up`"
        );
    }
    let owner: Option<String> = admin
        .query_opt(
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1",
            &[&SCHEMA],
        )?
        .map(|row| row.get(0));
    if owner.as_deref().is_some_and(|owner| owner != ROLE) {
        bail!(
            "schema `{SCHEMA}` in `postgres` exists and is owned by `{}`, not by `{ROLE}`; \
             nothing was changed: rename or drop that schema, then `cargo xtask up`",
            owner.unwrap_or_default()
        );
    }
    let quoted = quote_ident(ROLE);
    let mut changes = Vec::new();
    let mut tx = admin.transaction()?;
    match &role {
        None => {
            crate::pg::bootstrap::create_role(&mut tx, ROLE, password)?;
            changes.push(format!("role `{ROLE}` (pg_monitor)"));
        }
        Some(row) if !row.get::<_, bool>(1) => {
            tx.batch_execute(&format!("ALTER ROLE {quoted} LOGIN"))?;
            changes.push(format!("role `{ROLE}` may log in again"));
        }
        Some(_) => {}
    }
    let monitor: bool = tx
        .query_one("SELECT pg_has_role($1, 'pg_monitor', 'MEMBER')", &[&ROLE])?
        .get(0);
    if !monitor {
        tx.batch_execute(&format!("GRANT pg_monitor TO {quoted}"))?;
        if role.is_some() {
            changes.push("granted `pg_monitor` again".to_owned());
        }
    }
    for (predefined, key) in OPTIONAL_RIGHTS {
        let wanted = config.get(key) == "true";
        let member: bool = tx
            .query_one("SELECT pg_has_role($1, $2, 'MEMBER')", &[&ROLE, predefined])?
            .get(0);
        if wanted && !member {
            tx.batch_execute(&format!("GRANT {predefined} TO {quoted}"))?;
            changes.push(format!("granted `{predefined}` ({key}=true)"));
        } else if !wanted && member {
            tx.batch_execute(&format!("REVOKE {predefined} FROM {quoted}"))?;
            changes.push(format!("revoked `{predefined}` ({key}=false)"));
        }
    }
    if owner.is_none() {
        tx.batch_execute(&format!(
            "CREATE SCHEMA {} AUTHORIZATION {quoted}",
            quote_ident(SCHEMA)
        ))?;
        changes.push(format!("schema `{SCHEMA}` (its history)"));
    }
    let audit_schema = crate::audit::access::SCHEMA;
    let missing: bool = tx
        .query_one(
            "SELECT NOT has_schema_privilege($1, $2, 'USAGE') OR EXISTS ( \
               SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = $2 AND NOT has_function_privilege($1, p.oid, 'EXECUTE'))",
            &[&ROLE, &audit_schema],
        )?
        .get(0);
    if missing {
        tx.batch_execute(&format!(
            "GRANT USAGE ON SCHEMA {audit_schema} TO {quoted}; \
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {audit_schema} TO {quoted}"
        ))
        .context("failed to grant the dashboard the audit functions")?;
        changes.push(format!("EXECUTE on `{audit_schema}`'s functions"));
    }
    tx.commit()?;
    Ok(changes)
}
