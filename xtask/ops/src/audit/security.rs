//! `audit security`: how the server lets people in and what a login may do
//! once in. Cluster-wide: the hba rules as the server parsed them
//! (`core_data_audit.hba_rules()`) and password-less logins (the roles
//! audit's check). Per database: CREATE on schema `public` for PUBLIC, tables
//! with sensitive-looking columns and no row-level security, `SECURITY DEFINER`
//! functions without a pinned `search_path`, and extensions that hand PUBLIC
//! code running with their owner's rights.

use anyhow::Context;

use super::user_objects::{self, USER_SCHEMA};
use super::{roles, Audit, Finding, Report, Severity};
use crate::pg::bootstrap;

/// One rule of `pg_hba_file_rules`.
#[derive(Debug, Clone, PartialEq)]
pub struct HbaRule {
    pub line: Option<i32>,
    /// `local`, `host`, `hostssl`, `hostnossl`, …
    pub kind: Option<String>,
    pub method: Option<String>,
    pub error: Option<String>,
}

/// The findings for one hba rule.
pub fn check_hba_rule(rule: &HbaRule) -> Vec<Finding> {
    let object = match rule.line {
        Some(line) => format!("pg_hba.conf line {line}"),
        None => "pg_hba.conf".to_owned(),
    };
    let finding = |check: &str, severity: Severity, detail: String| {
        Finding::new(None, object.as_str(), check, severity, detail)
    };
    if let Some(error) = &rule.error {
        return vec![finding(
            "hba-error",
            Severity::Critical,
            format!(
                "the server could not parse this rule ({error}); a reload keeps the old rules, \
                 a restart refuses to start: fix the template and run `cargo xtask config apply`"
            ),
        )];
    }
    let kind = rule.kind.as_deref().unwrap_or("");
    let method = rule.method.as_deref().unwrap_or("");
    // `host` matches connections with and without TLS.
    let plain_tcp = matches!(kind, "host" | "hostnossl");
    let mut findings = Vec::new();
    let weak = match method {
        "trust" => Some((
            Severity::Critical,
            "`trust` lets anyone matching the rule in without a password",
        )),
        "password" if plain_tcp => Some((
            Severity::Critical,
            "`password` sends the password in clear text, here possibly without TLS",
        )),
        "password" => Some((
            Severity::Warning,
            "`password` sends the password in clear text to the server",
        )),
        "md5" => Some((
            Severity::Warning,
            "`md5` accepts MD5 verifiers (deprecated, weak against offline attacks)",
        )),
        _ => None,
    };
    if let Some((severity, why)) = weak {
        findings.push(finding(
            "hba-weak-method",
            severity,
            format!(
                "a `{kind}` rule authenticates with {why}; use `scram-sha-256` (the template's \
                 rules do: `cargo xtask config apply` renders them again)"
            ),
        ));
    }
    if plain_tcp && method != "reject" {
        findings.push(finding(
            "hba-allows-non-tls",
            Severity::Warning,
            format!(
                "a `{kind}` rule with method `{method}` accepts TCP connections without TLS; \
                 make it `hostssl` (or `reject`)"
            ),
        ));
    }
    findings
}

fn hba_rules(client: &mut postgres::Client) -> anyhow::Result<Vec<HbaRule>> {
    let rows = client
        .query(
            "SELECT line_number, type, auth_method, error \
             FROM core_data_audit.hba_rules() ORDER BY rule_number NULLS FIRST, line_number",
            &[],
        )
        .context("failed to read the hba rules (`core_data_audit.hba_rules()`)")?;
    rows.iter()
        .map(|row| {
            Ok(HbaRule {
                line: row.try_get(0)?,
                kind: row.try_get(1)?,
                method: row.try_get(2)?,
                error: row.try_get(3)?,
            })
        })
        .collect()
}

/// Whether PUBLIC may create objects in schema `public` (a PostgreSQL 14 default).
fn public_schema_create(
    db: &str,
    client: &mut postgres::Client,
) -> anyhow::Result<Option<Finding>> {
    let open: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, \
                 aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
             WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE')",
            &[],
        )?
        .try_get(0)?;
    Ok(open.then(|| {
        Finding::new(
            Some(db),
            "public",
            "public-schema-create",
            Severity::Warning,
            "every role may create objects in schema `public` (and so plant functions or \
             operators others call); `REVOKE CREATE ON SCHEMA public FROM PUBLIC`",
        )
    }))
}

/// Tables with a column named like sensitive data and no row-level security.
fn sensitive_without_rls(
    db: &str,
    client: &mut postgres::Client,
    sensitive: &[String],
) -> anyhow::Result<Vec<Finding>> {
    let rows = client.query(
        &format!(
            "SELECT n.nspname::text, c.relname::text, \
                    array_agg(a.attname::text ORDER BY a.attnum) \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT c.relrowsecurity \
               AND a.attnum > 0 AND NOT a.attisdropped AND lower(a.attname) = ANY($1) \
               AND {USER_SCHEMA} AND {not_member} \
             GROUP BY 1, 2 ORDER BY 1, 2",
            not_member = user_objects::not_extension_relation("c.oid")
        ),
        &[&sensitive],
    )?;
    rows.iter()
        .map(|row| {
            let (schema, table, columns): (String, String, Vec<String>) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            Ok(Finding::new(
                Some(db),
                format!("{schema}.{table}"),
                "sensitive-without-rls",
                Severity::Warning,
                format!(
                    "`{schema}.{table}` has column{} {} and no row-level security: every role \
                     with SELECT reads every row; `ALTER TABLE … ENABLE ROW LEVEL SECURITY` and \
                     add policies",
                    if columns.len() == 1 { "" } else { "s" },
                    columns
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        })
        .collect()
}

/// `SECURITY DEFINER` functions (not an extension's) without `search_path` in `proconfig`.
fn definers_without_search_path(
    db: &str,
    client: &mut postgres::Client,
) -> anyhow::Result<Vec<Finding>> {
    let rows = client.query(
        &format!(
            "SELECT n.nspname::text, p.proname::text, \
                    pg_catalog.pg_get_function_identity_arguments(p.oid), \
                    pg_catalog.pg_get_userbyid(p.proowner)::text \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prosecdef AND {USER_SCHEMA} \
               AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c \
                   WHERE c LIKE 'search\\_path=%') \
               AND {not_member} \
             ORDER BY 1, 2, 3",
            not_member = user_objects::not_extension_member("pg_proc", "p.oid")
        ),
        &[],
    )?;
    rows.iter()
        .map(|row| {
            let (schema, name, args, owner): (String, String, String, String) = (
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
            Ok(Finding::new(
                Some(db),
                format!("{schema}.{name}({args})"),
                "definer-without-search-path",
                Severity::Warning,
                format!(
                    "`{schema}.{name}` runs as `{owner}` (SECURITY DEFINER) with the caller's \
                     search_path, so a caller can substitute objects it resolves; \
                     `ALTER FUNCTION … SET search_path = pg_catalog, pg_temp`"
                ),
            ))
        })
        .collect()
}

/// One installed extension, with its SECURITY DEFINER functions PUBLIC may execute.
struct Extension {
    name: String,
    definers: Vec<String>,
}

fn extensions(client: &mut postgres::Client) -> anyhow::Result<Vec<Extension>> {
    let rows = client.query(
        "SELECT e.extname::text, \
                coalesce(array_agg(n.nspname || '.' || p.proname ORDER BY n.nspname, p.proname) \
                    FILTER (WHERE p.oid IS NOT NULL), '{}') \
         FROM pg_catalog.pg_extension e \
         LEFT JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::regclass \
              AND d.refobjid = e.oid AND d.classid = 'pg_catalog.pg_proc'::regclass \
              AND d.deptype = 'e' \
         LEFT JOIN pg_catalog.pg_proc p ON p.oid = d.objid AND p.prosecdef \
              AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') \
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         GROUP BY e.extname ORDER BY e.extname",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            Ok(Extension {
                name: row.try_get(0)?,
                definers: row.try_get(1)?,
            })
        })
        .collect()
}

/// The rule for extensions: a SECURITY DEFINER function that PUBLIC may run
/// is code running with the installer's (usually the superuser's) rights for
/// anyone. In a bundle extension that is vetted with the image: Info, so it
/// is known. In an extension outside the bundle nobody vetted it: Warning.
/// An extension outside the bundle without such functions is listed (Info).
fn check_extension(db: &str, bundle: &[&str], ext: &Extension) -> Option<Finding> {
    let in_bundle = bundle.contains(&ext.name.as_str());
    if ext.name == "plpgsql" || (in_bundle && ext.definers.is_empty()) {
        return None;
    }
    let functions = ext
        .definers
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let (severity, detail) = match (in_bundle, ext.definers.is_empty()) {
        (true, _) => (
            Severity::Info,
            format!(
                "bundle extension `{}` has SECURITY DEFINER functions PUBLIC may execute \
                 ({functions}); part of the vetted bundle",
                ext.name
            ),
        ),
        (false, true) => (
            Severity::Info,
            format!(
                "extension `{}` is not part of the bundle (not vetted by the platform); it has \
                 no SECURITY DEFINER function PUBLIC may execute",
                ext.name
            ),
        ),
        (false, false) => (
            Severity::Warning,
            format!(
                "extension `{}` (not part of the bundle) lets PUBLIC execute SECURITY DEFINER \
                 functions ({functions}), which run with their owner's rights; \
                 `REVOKE EXECUTE ON FUNCTION … FROM PUBLIC` or drop the extension",
                ext.name
            ),
        ),
    };
    Some(
        Finding::new(Some(db), &ext.name, "extension-grants", severity, detail)
            .with_value(ext.definers.len() as f64),
    )
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("security");
    report.databases = audit.databases.clone();
    let mut client = audit.connect("postgres")?;
    for rule in hba_rules(&mut client)? {
        for finding in check_hba_rule(&rule) {
            report.push(finding);
        }
    }
    for finding in roles::passwordless_logins(&roles::roles(&mut client)?) {
        report.push(finding);
    }
    drop(client);
    let sensitive: Vec<String> = audit
        .thresholds
        .sensitive_columns
        .iter()
        .map(|c| c.to_lowercase())
        .collect();
    audit.each_database(|db, client| {
        if let Some(finding) = public_schema_create(db, client)? {
            report.push(finding);
        }
        for finding in sensitive_without_rls(db, client, &sensitive)? {
            report.push(finding);
        }
        for finding in definers_without_search_path(db, client)? {
            report.push(finding);
        }
        let bundle = bootstrap::image_bundle_for(client, db)?;
        for ext in extensions(client)? {
            if let Some(finding) = check_extension(db, &bundle, &ext) {
                report.push(finding);
            }
        }
        Ok(())
    })?;
    report.notes.push(format!(
        "sensitive column names: {}; partitions are judged by their parent table",
        sensitive.join(", ")
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checks;

    fn rule(kind: &str, method: &str) -> HbaRule {
        HbaRule {
            line: Some(7),
            kind: Some(kind.to_owned()),
            method: Some(method.to_owned()),
            error: None,
        }
    }

    #[test]
    fn the_templates_rules_are_clean() {
        for (kind, method) in [
            ("local", "peer"),
            ("local", "scram-sha-256"),
            ("hostssl", "scram-sha-256"),
            ("host", "reject"),
            ("hostnossl", "reject"),
        ] {
            assert!(
                check_hba_rule(&rule(kind, method)).is_empty(),
                "{kind} {method}"
            );
        }
    }

    #[test]
    fn weak_methods_and_plain_tcp_are_findings() {
        let found = check_hba_rule(&rule("hostssl", "md5"));
        assert_eq!(checks(&found), [("hba-weak-method", Severity::Warning)]);
        assert_eq!(found[0].object, "pg_hba.conf line 7");
        assert_eq!(
            checks(&check_hba_rule(&rule("local", "trust"))),
            [("hba-weak-method", Severity::Critical)]
        );
        assert_eq!(
            checks(&check_hba_rule(&rule("host", "password"))),
            [
                ("hba-weak-method", Severity::Critical),
                ("hba-allows-non-tls", Severity::Warning)
            ]
        );
        assert_eq!(
            checks(&check_hba_rule(&rule("hostnossl", "scram-sha-256"))),
            [("hba-allows-non-tls", Severity::Warning)]
        );
        let broken = HbaRule {
            line: Some(3),
            kind: None,
            method: None,
            error: Some("invalid authentication method \"nope\"".to_owned()),
        };
        assert_eq!(
            checks(&check_hba_rule(&broken)),
            [("hba-error", Severity::Critical)]
        );
    }

    #[test]
    fn extensions_warn_only_outside_the_bundle_with_public_definers() {
        let bundle = ["pgcrypto", "pg_cron"];
        let ext = |name: &str, definers: &[&str]| Extension {
            name: name.to_owned(),
            definers: definers.iter().map(|d| (*d).to_owned()).collect(),
        };
        assert!(check_extension("shop", &bundle, &ext("plpgsql", &[])).is_none());
        assert!(check_extension("shop", &bundle, &ext("pgcrypto", &[])).is_none());
        let vetted = check_extension("shop", &bundle, &ext("pg_cron", &["cron.x"])).unwrap();
        assert_eq!(vetted.severity, Severity::Info);
        let extra = check_extension("shop", &bundle, &ext("tablefunc", &[])).unwrap();
        assert_eq!(extra.severity, Severity::Info);
        let risky = check_extension("shop", &bundle, &ext("evil", &["public.f"])).unwrap();
        assert_eq!(risky.severity, Severity::Warning);
        assert_eq!(risky.check, "extension-grants");
    }
}
