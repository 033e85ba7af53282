//! `audit roles` and `audit security` against planted problems, and the
//! auditor's least privilege.

use core_data_ops::secrets;
use core_data_tests::{xtask, TestStack};

use crate::{audit, flags, sql, with_check, DB};

/// Planted roles: a password-less login, an MD5 password, an expired
/// password, a second superuser, a role that can create databases and roles,
/// one that bypasses RLS and one in `pg_read_server_files`. Each is flagged;
/// the platform's own roles are Info; dropping the plants clears them.
pub(crate) fn roles_are_flagged(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE ROLE audit_nopass LOGIN;
         SET password_encryption = 'md5';
         CREATE ROLE audit_md5 LOGIN PASSWORD 'audit-md5-secret';
         RESET password_encryption;
         CREATE ROLE audit_expired LOGIN PASSWORD 'audit-expired-secret' VALID UNTIL '2001-01-01';
         CREATE ROLE audit_su SUPERUSER;
         CREATE ROLE audit_maker CREATEDB CREATEROLE;
         CREATE ROLE audit_rls BYPASSRLS;
         CREATE ROLE audit_files;
         CREATE ROLE audit_files_via;
         GRANT pg_read_server_files TO audit_files;
         GRANT audit_files TO audit_files_via;",
    );
    let (report, out) = audit(t, "roles", &[]);
    assert_eq!(out.code, Some(1), "{out}");
    let critical = |check: &str, object: &str| {
        report.findings.iter().any(|f| {
            f.check == check
                && f.object == object
                && f.severity == core_data_ops::audit::Severity::Critical
        })
    };
    assert!(critical("login-without-password", "audit_nopass"), "{out}");
    for (check, object) in [
        ("md5-password", "audit_md5"),
        ("password-expired", "audit_expired"),
        ("superuser", "audit_su"),
        ("can-create-databases", "audit_maker"),
        ("can-create-roles", "audit_maker"),
        ("bypasses-rls", "audit_rls"),
        ("powerful-membership", "audit_files"),
        // Inherited through `audit_files`.
        ("powerful-membership", "audit_files_via"),
    ] {
        assert!(
            flags(&report, check, None, object),
            "{check} {object}: {out}"
        );
    }
    // The platform's own: Info, never a problem.
    let superuser = t.stack.config.superuser();
    for (check, object) in [
        ("superuser", superuser),
        ("bypasses-rls", secrets::BACKUP_ROLE),
        ("powerful-membership", secrets::BACKUP_ROLE),
        ("powerful-membership", secrets::RUNBOOK_ROLE),
    ] {
        let found: Vec<_> = with_check(&report, check)
            .into_iter()
            .filter(|f| f.object == object)
            .collect();
        assert!(!found.is_empty(), "{check} {object}: {out}");
        assert!(found.iter().all(|f| !f.severity.fails()), "{found:#?}");
    }
    assert!(
        !report.findings.iter().any(|f| f.object.starts_with("pg_")),
        "{out}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("ever logged in")),
        "{:?}",
        report.notes
    );

    // `--valid-until require`: login roles with a password and no VALID UNTIL
    // (`app`, `shop_owner`), not the platform's own.
    let (strict, out) = audit(t, "roles", &["--valid-until", "require"]);
    assert!(
        flags(&strict, "no-valid-until", None, "shop_owner"),
        "{out}"
    );
    assert!(
        !with_check(&strict, "no-valid-until")
            .iter()
            .any(|f| f.object == superuser || f.object.starts_with("core_data_")),
        "{out}"
    );

    sql(
        t,
        DB,
        "DROP ROLE audit_nopass, audit_md5, audit_expired, audit_su, audit_maker, audit_rls,
                   audit_files_via, audit_files;",
    );
    let (report, out) = audit(t, "roles", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.object.starts_with("audit_")),
        "{out}"
    );
}

/// A password-less login, an `md5` hba line, a table with an `email` column
/// and no RLS, and a SECURITY DEFINER function without `search_path`, all
/// found by `audit security`, then fixed (`config apply` renders the hba file
/// again).
pub(crate) fn security_problems_are_flagged(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE ROLE audit_sec_nopass LOGIN;
         CREATE TABLE public.audit_customers (id int PRIMARY KEY, email text, Phone text);
         CREATE FUNCTION public.audit_definer() RETURNS int LANGUAGE sql SECURITY DEFINER
             AS 'SELECT 1';
         GRANT CREATE ON SCHEMA public TO PUBLIC;",
    );
    let hba = t.paths().rendered_dir().join("postgres/pg_hba.conf");
    let original = std::fs::read_to_string(&hba).expect("read the rendered pg_hba.conf");
    // An md5 rule, and a `host` rule that also accepts connections without TLS.
    let planted = format!(
        "{original}hostssl    all          all                  10.99.0.0/16 md5\n\
         host       all          all                  10.98.0.0/16 scram-sha-256\n"
    );
    let line = planted.lines().count() - 1;
    std::fs::write(&hba, &planted).expect("append an md5 rule");
    sql(t, "postgres", "SELECT pg_reload_conf()");

    let (report, out) = audit(t, "security", &["--db", DB]);
    assert_eq!(out.code, Some(1), "{out}");
    let hba_object = format!("pg_hba.conf line {line}");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == "hba-weak-method" && f.object == hba_object && f.severity.fails()),
        "{hba_object}: {out}"
    );
    let non_tls = format!("pg_hba.conf line {}", line + 1);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == "hba-allows-non-tls" && f.object == non_tls && f.severity.fails()),
        "{non_tls}: {out}"
    );
    assert!(
        flags(&report, "login-without-password", None, "audit_sec_nopass"),
        "{out}"
    );
    assert!(
        flags(&report, "public-schema-create", Some(DB), "public"),
        "{out}"
    );
    let sensitive: Vec<_> = with_check(&report, "sensitive-without-rls")
        .into_iter()
        .filter(|f| f.object == "public.audit_customers" && f.database.as_deref() == Some(DB))
        .collect();
    assert_eq!(sensitive.len(), 1, "{out}");
    assert!(sensitive[0].detail.contains("`email`") && sensitive[0].detail.contains("`phone`"));
    assert!(
        flags(
            &report,
            "definer-without-search-path",
            Some(DB),
            "public.audit_definer()"
        ),
        "{out}"
    );

    let applied = xtask(t.paths().state(), &["config", "apply"]);
    assert_eq!(applied.code, Some(0), "{applied}");
    assert_eq!(
        std::fs::read_to_string(&hba).expect("read pg_hba.conf"),
        original
    );
    sql(
        t,
        DB,
        "DROP ROLE audit_sec_nopass;
         ALTER TABLE public.audit_customers ENABLE ROW LEVEL SECURITY;
         ALTER FUNCTION public.audit_definer() SET search_path = pg_catalog, pg_temp;
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
    );
    let (report, out) = audit(t, "security", &["--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !report.findings.iter().any(|f| f.check.starts_with("hba-")
            || f.check == "public-schema-create"
            || f.object.contains("audit_")),
        "{out}"
    );
    sql(
        t,
        DB,
        "DROP TABLE public.audit_customers; DROP FUNCTION public.audit_definer();",
    );
}

/// The auditor is refused `pg_authid` and `pg_hba_file_rules` themselves but
/// may call `core_data_audit.roles()`, which returns no password hash.
pub(crate) fn the_auditor_is_least_privileged(t: &TestStack) {
    let password = secrets::read(&secrets::auditor_password_file(t.paths())).expect("password");
    let mut client = t
        .stack
        .connect_as(secrets::AUDITOR_ROLE, &password, "postgres")
        .expect("connect as the auditor");
    for table in ["pg_authid", "pg_hba_file_rules"] {
        let error = client
            .query(&format!("SELECT * FROM {table}"), &[])
            .expect_err(table);
        assert_eq!(
            error.code(),
            Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{table}: {error}"
        );
    }
    let rows = client
        .query("SELECT * FROM core_data_audit.roles()", &[])
        .expect("roles()");
    assert!(!rows.is_empty());
    let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        columns,
        ["role_name", "can_login", "has_password", "password_kind"]
    );
    for row in &rows {
        let kind: String = row.get("password_kind");
        assert!(["none", "scram-sha-256", "md5", "other"].contains(&kind.as_str()));
        let name: String = row.get("role_name");
        assert!(!name.starts_with("SCRAM-SHA-256$") && !kind.starts_with("SCRAM-SHA-256$"));
    }
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .expect("rolsuper")
        .get(0);
    assert!(!superuser);
}
