//! The jobs' role, `core_data_maintenance`: made once, checked every time.

use anyhow::Context;

use super::MAINTENANCE_ROLE;
use crate::config::Config;
use crate::sql::quote_literal;

/// Creates the jobs' role when missing and (re)sets its rights and timeouts.
/// An existing role is used only when it is what this function makes: no
/// attribute beyond LOGIN and nobody a member of it (otherwise whoever made it
/// could become it). `admin` is a superuser connection. Returns whether it
/// created the role.
pub fn ensure_role(admin: &mut postgres::Client, config: &Config) -> anyhow::Result<bool> {
    let existing = admin.query_opt(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls, \
                EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid) \
         FROM pg_roles r WHERE r.rolname = $1",
        &[&MAINTENANCE_ROLE],
    )?;
    let created = existing.is_none();
    match existing {
        None => {
            // A random password that is never written anywhere: the role cannot be
            // logged into, but it is not a password-less login.
            crate::pg::bootstrap::create_role(
                admin,
                MAINTENANCE_ROLE,
                &crate::secrets::generate_password(),
            )?;
        }
        Some(row) => {
            let (powers, members): (bool, bool) = (row.get(0), row.get(1));
            if powers || members {
                anyhow::bail!(
                    "role `{MAINTENANCE_ROLE}` exists but is not the one core_data makes (it has {}); \
                     the nightly jobs would run with it. Drop it (`DROP ROLE {MAINTENANCE_ROLE}`) and \
                     run `cargo xtask up` to make it again",
                    if powers {
                        "attributes beyond LOGIN"
                    } else {
                        "members"
                    }
                );
            }
        }
    }
    // pg_maintain is PostgreSQL 17's; on an older major (a stack waiting for its
    // upgrade) the jobs' VACUUM and ANALYZE reach only what the role may touch.
    let has_maintain = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = 'pg_maintain'", &[])?
        .is_some();
    if has_maintain {
        admin
            .batch_execute("GRANT pg_maintain TO core_data_maintenance")
            .context("failed to grant `core_data_maintenance` pg_maintain")?;
    }
    let lock_timeout = config.get("MAINTENANCE_LOCK_TIMEOUT");
    let current: Vec<String> = admin
        .query(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s \
             JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1 AND s.setdatabase = 0",
            &[&MAINTENANCE_ROLE],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let wanted = [
        "statement_timeout=0".to_owned(),
        format!("lock_timeout={lock_timeout}"),
    ];
    if !wanted.iter().all(|setting| current.contains(setting)) {
        admin
            .batch_execute(&format!(
                "ALTER ROLE core_data_maintenance SET statement_timeout = 0; \
                 ALTER ROLE core_data_maintenance SET lock_timeout = {}",
                quote_literal(lock_timeout)
            ))
            .context("failed to set the maintenance role's timeouts")?;
    }
    Ok(created)
}
