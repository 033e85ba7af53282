//! `audit extensions`: each database's installed extensions (`pg_extension`)
//! against the bundle (`pg::bootstrap::extensions_for`) and against the
//! versions the image offers (`pg_available_extensions.default_version`).
//! Both catalogs are readable by every role.

use super::{Audit, Finding, Report, Severity};
use crate::pg::bootstrap;

/// One installed extension and the version the image would install now.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub default_version: Option<String>,
}

/// The findings for one database: missing bundle extensions, installed
/// versions behind the default, extensions beyond the bundle (`plpgsql`,
/// PostgreSQL's own, is not listed).
pub fn compare(db: &str, bundle: &[&str], installed: &[Installed]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for name in bundle {
        if !installed.iter().any(|ext| ext.name == *name) {
            findings.push(Finding::new(
                Some(db),
                *name,
                "extension-missing",
                Severity::Warning,
                format!(
                    "bundle extension `{name}` is not installed in `{db}`; \
                     `cargo xtask up` installs the bundle"
                ),
            ));
        }
    }
    for ext in installed {
        let name = ext.name.as_str();
        findings.extend(version_finding(db, ext));
        if name != "plpgsql" && !bundle.contains(&name) {
            findings.push(Finding::new(
                Some(db),
                name,
                "extension-extra",
                Severity::Info,
                format!(
                    "`{name}` {} is installed in `{db}` but is not part of the bundle",
                    ext.version
                ),
            ));
        }
    }
    findings
}

/// A finding when `ext` is not at the version the image ships (or the image
/// no longer ships it); `None` when it is current.
pub fn version_finding(db: &str, ext: &Installed) -> Option<Finding> {
    let name = ext.name.as_str();
    match &ext.default_version {
        Some(default) if *default != ext.version => Some(Finding::new(
            Some(db),
            name,
            "extension-update-available",
            Severity::Warning,
            format!(
                "`{name}` is at version {} in `{db}`, the image offers {default}; \
                 `ALTER EXTENSION {} UPDATE` (check its release notes first)",
                ext.version,
                crate::sql::quote_ident(name)
            ),
        )),
        None => Some(Finding::new(
            Some(db),
            name,
            "extension-unavailable",
            Severity::Warning,
            format!(
                "`{name}` {} is installed in `{db}` but the image no longer ships it: \
                 dumps restore without it and its functions may fail",
                ext.version
            ),
        )),
        _ => None,
    }
}

/// The extensions installed in the database `client` is connected to.
pub fn installed(client: &mut postgres::Client) -> anyhow::Result<Vec<Installed>> {
    let rows = client.query(
        "SELECT e.extname::text, e.extversion, a.default_version \
         FROM pg_catalog.pg_extension e \
         LEFT JOIN pg_catalog.pg_available_extensions a ON a.name = e.extname \
         ORDER BY e.extname",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            Ok(Installed {
                name: row.try_get(0)?,
                version: row.try_get(1)?,
                default_version: row.try_get(2)?,
            })
        })
        .collect()
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("extensions");
    report.databases = audit.databases.clone();
    let mut complete = Vec::new();
    audit.each_database(|db, client| {
        let bundle = bootstrap::image_bundle_for(client, db)?;
        let installed = installed(client)?;
        let findings = compare(db, &bundle, &installed);
        if !findings.iter().any(|f| f.check == "extension-missing") {
            complete.push(db.to_owned());
        }
        for finding in findings {
            report.push(finding);
        }
        Ok(())
    })?;
    report.notes.push(format!(
        "the bundle ({} extensions; pg_cron only in `postgres`) is complete in: {}",
        bootstrap::extensions().len(),
        if complete.is_empty() {
            "none".to_owned()
        } else {
            complete.join(", ")
        }
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str, version: &str, default: Option<&str>) -> Installed {
        Installed {
            name: name.to_owned(),
            version: version.to_owned(),
            default_version: default.map(str::to_owned),
        }
    }

    #[test]
    fn missing_outdated_and_extra_extensions() {
        let bundle = ["citext", "hstore", "vector"];
        let installed = [
            ext("plpgsql", "1.0", Some("1.0")),
            ext("citext", "1.6", Some("1.6")),
            ext("vector", "0.7.0", Some("0.8.0")),
            ext("tablefunc", "1.0", Some("1.0")),
        ];
        let found: Vec<(String, String, Severity)> = compare("shop", &bundle, &installed)
            .into_iter()
            .map(|f| (f.object, f.check, f.severity))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "hstore".into(),
                    "extension-missing".into(),
                    Severity::Warning
                ),
                (
                    "vector".into(),
                    "extension-update-available".into(),
                    Severity::Warning
                ),
                ("tablefunc".into(), "extension-extra".into(), Severity::Info),
            ]
        );
    }
}
