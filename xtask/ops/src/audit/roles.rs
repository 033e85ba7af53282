//! `audit roles`: every role of the cluster (but PostgreSQL's predefined
//! `pg_*` roles) against what a hardened stack allows. Passwords come from
//! `core_data_audit.roles()` (presence and kind only, never the verifier);
//! attributes from `pg_roles`; memberships, direct or through other roles,
//! from `pg_auth_members`. The configured superuser and the service roles of
//! `pg::bootstrap::SERVICE_RIGHTS` are the platform's own: their documented
//! rights are Info, anything beyond them is a finding like any other role's.

use anyhow::Context;

use super::{Audit, Finding, Report, Severity};
use crate::pg::bootstrap;

/// Predefined roles whose members can read or write server files, run server
/// programs, read or write every table, signal other backends, force
/// checkpoints or create subscriptions.
pub const POWERFUL_ROLES: &[&str] = &[
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_write_all_data",
    "pg_read_all_data",
    "pg_signal_backend",
    "pg_checkpoint",
    "pg_create_subscription",
];

/// One role's attributes as `pg_roles` and `core_data_audit.roles()` have them.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub login: bool,
    pub superuser: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub bypass_rls: bool,
    /// `none`, `scram-sha-256`, `md5` or `other`.
    pub password_kind: String,
    /// `rolvaliduntil` as text, when set.
    pub valid_until: Option<String>,
    /// Whether `rolvaliduntil` lies in the past.
    pub expired: bool,
}

/// Every role but the predefined ones, by name (the auditor reads passwords'
/// kinds through `core_data_audit.roles()`; `client` is connected to `postgres`).
pub fn roles(client: &mut postgres::Client) -> anyhow::Result<Vec<Role>> {
    let rows = client
        .query(
            "SELECT r.rolname::text, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, \
                    r.rolbypassrls, a.password_kind, r.rolvaliduntil::text, \
                    coalesce(r.rolvaliduntil < now(), false) \
             FROM pg_catalog.pg_roles r \
             JOIN core_data_audit.roles() a ON a.role_name = r.rolname \
             WHERE r.rolname !~ '^pg_' \
             ORDER BY r.rolname",
            &[],
        )
        .context("failed to read the roles (`core_data_audit.roles()` and `pg_roles`)")?;
    rows.iter()
        .map(|row| {
            Ok(Role {
                name: row.try_get(0)?,
                login: row.try_get(1)?,
                superuser: row.try_get(2)?,
                create_role: row.try_get(3)?,
                create_db: row.try_get(4)?,
                bypass_rls: row.try_get(5)?,
                password_kind: row.try_get(6)?,
                valid_until: row.try_get(7)?,
                expired: row.try_get(8)?,
            })
        })
        .collect()
}

/// `(role, predefined role)` for every membership in `POWERFUL_ROLES`, direct
/// or inherited through other roles, of roles that are not predefined.
fn powerful_memberships(client: &mut postgres::Client) -> anyhow::Result<Vec<(String, String)>> {
    let powerful: Vec<String> = POWERFUL_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let rows = client
        .query(
            "WITH RECURSIVE m(member, roleid) AS ( \
                 SELECT member, roleid FROM pg_catalog.pg_auth_members \
                 UNION \
                 SELECT m.member, a.roleid FROM m JOIN pg_catalog.pg_auth_members a \
                   ON a.member = m.roleid) \
             SELECT DISTINCT r.rolname::text, g.rolname::text \
             FROM m JOIN pg_catalog.pg_roles r ON r.oid = m.member \
                    JOIN pg_catalog.pg_roles g ON g.oid = m.roleid \
             WHERE g.rolname = ANY($1) AND r.rolname !~ '^pg_' \
             ORDER BY 1, 2",
            &[&powerful],
        )
        .context("failed to read role memberships (`pg_auth_members`)")?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// A critical finding for every login role without a password (shared with `audit security`).
pub fn passwordless_logins(roles: &[Role]) -> Vec<Finding> {
    roles
        .iter()
        .filter(|role| role.login && role.password_kind == "none")
        .map(|role| {
            Finding::new(
                None,
                &role.name,
                "login-without-password",
                Severity::Critical,
                format!(
                    "login role `{}` has no password: any hba rule with `trust`, `peer` or \
                     `ident` lets it in unchecked; set one (`ALTER ROLE … PASSWORD`) or \
                     `ALTER ROLE {} NOLOGIN`",
                    role.name,
                    crate::sql::quote_ident(&role.name)
                ),
            )
        })
        .collect()
}

/// Whether `role` is the platform's own: the configured superuser or a service role.
fn platform_role(audit: &Audit<'_>, role: &str) -> bool {
    role == audit.superuser() || bootstrap::service_rights(role).is_some()
}

/// The findings for one role's attributes (not its memberships).
pub fn check_role(role: &Role, superuser: &str, require_valid_until: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let name = role.name.as_str();
    let service = bootstrap::service_rights(name);
    let own = name == superuser || service.is_some();
    let finding = |check: &str, severity: Severity, detail: String| {
        Finding::new(None, name, check, severity, detail)
    };
    if role.login && role.password_kind == "md5" {
        findings.push(finding(
            "md5-password",
            Severity::Warning,
            format!(
                "`{name}` has an MD5 password (deprecated, weak against offline attacks); \
                 set it again with `password_encryption = 'scram-sha-256'`"
            ),
        ));
    }
    if role.login && role.password_kind != "none" {
        match &role.valid_until {
            Some(until) if role.expired => findings.push(finding(
                "password-expired",
                Severity::Warning,
                format!(
                    "`{name}`'s password expired at {until}: it can no longer log in with it; \
                     set a new one or drop the role"
                ),
            )),
            None if require_valid_until && !own => findings.push(finding(
                "no-valid-until",
                Severity::Warning,
                format!(
                    "`{name}` logs in with a password that never expires; \
                     `ALTER ROLE … VALID UNTIL '…'` (policy AUDIT_VALID_UNTIL=require)"
                ),
            )),
            _ => {}
        }
    }
    if role.superuser {
        if name == superuser {
            findings.push(finding(
                "superuser",
                Severity::Info,
                format!("`{name}` is the platform's own superuser (POSTGRES_SUPERUSER)"),
            ));
        } else {
            findings.push(finding(
                "superuser",
                Severity::Warning,
                format!(
                    "`{name}` is a superuser besides the platform's `{superuser}`: it bypasses \
                     every permission check; `ALTER ROLE … NOSUPERUSER` unless it must be one"
                ),
            ));
        }
        // A superuser can do everything below anyway; one finding says it.
        return findings;
    }
    let mut capability = |allowed: bool, check: &str, what: &str, fix: &str| {
        if allowed {
            findings.push(finding(
                check,
                Severity::Info,
                format!("`{name}` {what}: the platform's own service role, by design"),
            ));
        } else {
            findings.push(finding(
                check,
                Severity::Warning,
                format!("`{name}` {what}; `ALTER ROLE … {fix}` unless it needs to"),
            ));
        }
    };
    if role.create_role {
        capability(
            false,
            "can-create-roles",
            "can create, alter and drop roles",
            "NOCREATEROLE",
        );
    }
    if role.create_db {
        capability(
            false,
            "can-create-databases",
            "can create databases",
            "NOCREATEDB",
        );
    }
    if role.bypass_rls {
        let allowed = service.is_some_and(|rights| rights.bypass_rls);
        capability(
            allowed,
            "bypasses-rls",
            "bypasses row-level security",
            "NOBYPASSRLS",
        );
    }
    findings
}

/// The finding for one membership in a powerful predefined role.
pub fn check_membership(role: &str, predefined: &str) -> Finding {
    let documented = bootstrap::service_rights(role)
        .is_some_and(|rights| rights.predefined.contains(&predefined));
    if documented {
        Finding::new(
            None,
            role,
            "powerful-membership",
            Severity::Info,
            format!("`{role}` is a member of `{predefined}`: the platform's own service role, by design"),
        )
    } else {
        Finding::new(
            None,
            role,
            "powerful-membership",
            Severity::Warning,
            format!(
                "`{role}` is a member of `{predefined}` (directly or through another role); \
                 `REVOKE {predefined} FROM …` unless it needs to"
            ),
        )
    }
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("roles");
    let mut client = audit.connect("postgres")?;
    let roles = roles(&mut client)?;
    let superuser = audit.superuser();
    for finding in passwordless_logins(&roles) {
        report.push(finding);
    }
    for role in &roles {
        for finding in check_role(role, superuser, audit.thresholds.require_valid_until) {
            report.push(finding);
        }
    }
    for (role, predefined) in powerful_memberships(&mut client)? {
        // A superuser is a member of everything; its own finding says so.
        if roles.iter().any(|r| r.name == role && r.superuser) {
            continue;
        }
        report.push(check_membership(&role, &predefined));
    }
    let logins = roles.iter().filter(|r| r.login).count();
    let platform = roles
        .iter()
        .filter(|r| platform_role(audit, &r.name))
        .count();
    report.notes.push(format!(
        "{} roles ({logins} can log in, {platform} the platform's own); predefined `pg_*` roles \
         are not listed",
        roles.len()
    ));
    report.notes.push(
        "whether a role ever logged in is not recorded by PostgreSQL 17 \
         (it would take parsing the server log with `log_connections`); not checked"
            .to_owned(),
    );
    if audit.thresholds.require_valid_until {
        report.notes.push(
            "VALID UNTIL is required (AUDIT_VALID_UNTIL=require) of every login role with a \
             password but the platform's own, whose passwords the stack manages"
                .to_owned(),
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checks;

    fn role(name: &str) -> Role {
        Role {
            name: name.to_owned(),
            login: true,
            superuser: false,
            create_role: false,
            create_db: false,
            bypass_rls: false,
            password_kind: "scram-sha-256".to_owned(),
            valid_until: None,
            expired: false,
        }
    }

    #[test]
    fn a_plain_login_role_is_clean_and_a_passwordless_one_is_critical() {
        assert!(check_role(&role("app"), "postgres", false).is_empty());
        let mut nopass = role("nopass");
        nopass.password_kind = "none".to_owned();
        let found = passwordless_logins(&[role("app"), nopass.clone()]);
        assert_eq!(
            checks(&found),
            [("login-without-password", Severity::Critical)]
        );
        assert_eq!(found[0].object, "nopass");
        nopass.login = false;
        assert!(passwordless_logins(&[nopass]).is_empty());
    }

    #[test]
    fn the_configured_superuser_is_info_and_another_is_a_warning() {
        let mut su = role("postgres");
        su.superuser = true;
        su.create_role = true;
        su.create_db = true;
        su.bypass_rls = true;
        assert_eq!(
            checks(&check_role(&su, "postgres", true)),
            [("superuser", Severity::Info)]
        );
        su.name = "admin".to_owned();
        assert_eq!(
            checks(&check_role(&su, "postgres", false)),
            [("superuser", Severity::Warning)]
        );
    }

    #[test]
    fn passwords_md5_expired_and_missing_valid_until() {
        let mut r = role("old");
        r.password_kind = "md5".to_owned();
        r.valid_until = Some("2000-01-01 00:00:00+00".to_owned());
        r.expired = true;
        assert_eq!(
            checks(&check_role(&r, "postgres", false)),
            [
                ("md5-password", Severity::Warning),
                ("password-expired", Severity::Warning)
            ]
        );
        assert_eq!(
            checks(&check_role(&role("app"), "postgres", true)),
            [("no-valid-until", Severity::Warning)]
        );
        // The platform's own roles are exempt from the VALID UNTIL policy.
        assert!(check_role(&role(crate::secrets::AUDITOR_ROLE), "postgres", true).is_empty());
    }

    #[test]
    fn only_the_backup_role_bypasses_rls_by_design() {
        let mut backup = role(crate::secrets::BACKUP_ROLE);
        backup.bypass_rls = true;
        assert_eq!(
            checks(&check_role(&backup, "postgres", false)),
            [("bypasses-rls", Severity::Info)]
        );
        let mut other = role("etl");
        other.bypass_rls = true;
        other.create_db = true;
        other.create_role = true;
        assert_eq!(
            checks(&check_role(&other, "postgres", false)),
            [
                ("can-create-roles", Severity::Warning),
                ("can-create-databases", Severity::Warning),
                ("bypasses-rls", Severity::Warning)
            ]
        );
    }

    #[test]
    fn memberships_are_info_only_as_documented() {
        let reader = crate::secrets::READER_ROLE;
        assert_eq!(
            check_membership(reader, "pg_read_all_data").severity,
            Severity::Info
        );
        assert_eq!(
            check_membership(reader, "pg_write_all_data").severity,
            Severity::Warning
        );
        assert_eq!(
            check_membership(crate::secrets::AUDITOR_ROLE, "pg_read_server_files").severity,
            Severity::Warning
        );
        assert_eq!(
            check_membership("app", "pg_signal_backend").severity,
            Severity::Warning
        );
    }
}
