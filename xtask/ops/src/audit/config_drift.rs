//! `config check`: the configuration `.env` renders against what the server
//! runs. Drift is a rendered file edited by hand or not yet applied, a setting
//! whose live value or source differs from the rendered postgresql.conf
//! (`ALTER SYSTEM` overrides in postgresql.auto.conf above all), a change
//! waiting for a restart, an error in a configuration or hba file, missing
//! preload libraries, and a database missing part of the extension bundle.
//! `config apply` (and `ALTER SYSTEM RESET`) fixes it.

use anyhow::Context;

use super::guc::{self, Live};
use super::scope::Host;
use super::{Audit, Finding, Report, Severity};
use crate::pg::bootstrap;
use crate::render;
use crate::stack::Stack;

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("config");
    let wanted = match &audit.host {
        Host::Cli(stack) => rendered_drift(stack, &mut report)?,
        // A service sees what the server runs (the rendered file, mounted), not
        // `.env`: whether that file is what `.env` renders is the CLI's check.
        Host::Service(target) => {
            let text = std::fs::read_to_string(&target.postgresql_conf).with_context(|| {
                format!("failed to read the rendered `{}`", target.postgresql_conf)
            })?;
            render::settings(&text)
        }
    };

    let mut client = audit.connect("postgres")?;
    settings(&mut client, &wanted, &mut report)?;
    file_errors(&mut client, &mut report)?;
    // The libraries the rendered file preloads (the suite's: an image without an
    // extension's package renders without its library).
    let required: Vec<String> = wanted
        .iter()
        .find(|(name, _)| name == "shared_preload_libraries")
        .map(|(_, value)| {
            value
                .split(',')
                .map(|library| library.trim().to_owned())
                .filter(|library| !library.is_empty())
                .collect()
        })
        .unwrap_or_else(|| {
            render::PRELOAD_LIBRARIES
                .iter()
                .map(|l| (*l).to_owned())
                .collect()
        });
    preload(&required, &mut client, &mut report)?;
    audit.each_database(|database, client| {
        report.databases.push(database.to_owned());
        bundle(client, database, &mut report)
    })?;
    Ok(report)
}

/// The rendered files that are not what `.env` renders (a finding each), and
/// the settings the rendered postgresql.conf should hold.
fn rendered_drift(stack: &Stack, report: &mut Report) -> anyhow::Result<Vec<(String, String)>> {
    let plan = render::plan(&stack.paths, &stack.config)?;
    for file in &plan.outcome.changed_files {
        report.push(Finding::new(
            None,
            *file,
            "rendered-file-drift",
            Severity::Warning,
            format!(
                "`{}` is not what `.env` renders (edited by hand, or `.env` changed since the \
                 last apply); `cargo xtask config apply` renders and applies it",
                render::output_dir(&stack.paths).join(file)
            ),
        ));
    }
    Ok(plan
        .files
        .iter()
        .find(|file| file.name == "postgresql.conf")
        .map(|file| render::settings(&file.text))
        .unwrap_or_default())
}

/// Each rendered setting against `pg_settings`: value, source and pending restart.
fn settings(
    client: &mut postgres::Client,
    wanted: &[(String, String)],
    report: &mut Report,
) -> anyhow::Result<()> {
    for (name, value) in wanted {
        if ["hba_file", "ident_file", "config_file"].contains(&name.as_str()) {
            continue; // set on the command line and by the entrypoint; checked as files
        }
        let row = client.query_opt(
            "SELECT setting, unit, vartype, source, sourcefile, pending_restart \
             FROM pg_settings WHERE lower(name) = lower($1)",
            &[name],
        )?;
        let Some(row) = row else {
            report.push(Finding::new(
                None,
                name.as_str(),
                "setting-unknown",
                Severity::Warning,
                format!("postgresql.conf sets `{name}` but the server does not know it (a library not loaded?)"),
            ));
            continue;
        };
        let live = Live {
            setting: row.get(0),
            unit: row.get(1),
            vartype: row.get(2),
        };
        let source: String = row.get(3);
        let sourcefile: Option<String> = row.get(4);
        let pending: bool = row.get(5);
        if pending {
            report.push(Finding::new(
                None,
                name.as_str(),
                "pending-restart",
                Severity::Warning,
                format!("`{name}` changed in a configuration file and waits for a restart; `cargo xtask config apply` restarts when needed"),
            ));
        }
        if sourcefile
            .as_deref()
            .is_some_and(|file| file.ends_with("postgresql.auto.conf"))
        {
            report.push(Finding::new(
                None,
                name.as_str(),
                "alter-system-override",
                Severity::Warning,
                format!(
                    "`{name}` = `{}{}` comes from postgresql.auto.conf (ALTER SYSTEM), overriding \
                     the rendered `{value}`; remove it with `ALTER SYSTEM RESET {name}` and \
                     `SELECT pg_reload_conf()`, and set it in `.env` instead",
                    live.setting,
                    live.unit.as_deref().unwrap_or("")
                ),
            ));
            continue;
        }
        match source.as_str() {
            // The audit's own session, or per-database / per-role settings
            // (listed separately below, not drift of the file).
            "client" | "session" | "database" | "user" | "database user" => continue,
            _ => {}
        }
        if !guc::same(value, &live) {
            report.push(Finding::new(
                None,
                name.as_str(),
                "setting-differs",
                Severity::Warning,
                format!(
                    "`{name}` runs as `{}{}` (source: {source}) but the rendered configuration \
                     says `{value}`; `cargo xtask config apply` reloads or restarts",
                    live.setting,
                    live.unit.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    let overrides = client.query(
        "SELECT coalesce(d.datname, '*')::text, coalesce(r.rolname, '*')::text, \
         array_to_string(s.setconfig, ', ') \
         FROM pg_db_role_setting s \
         LEFT JOIN pg_database d ON d.oid = s.setdatabase \
         LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1, 2",
        &[],
    )?;
    for row in overrides {
        let (database, role, settings): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        report.push(Finding::new(
            (database != "*").then_some(database.as_str()),
            format!("role {role}"),
            "per-database-setting",
            Severity::Info,
            format!("ALTER DATABASE/ROLE … SET overrides for database `{database}`, role `{role}`: {settings}"),
        ));
    }
    Ok(())
}

/// Errors the server found reading its configuration and hba files.
fn file_errors(client: &mut postgres::Client, report: &mut Report) -> anyhow::Result<()> {
    let rows = client.query(
        "SELECT coalesce(sourcefile, '?'), coalesce(sourceline, 0), coalesce(name, ''), error \
         FROM core_data_audit.file_settings() WHERE error IS NOT NULL",
        &[],
    )?;
    for row in rows {
        let (file, line, name, error): (String, i32, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        report.push(Finding::new(
            None,
            format!("{file}:{line}"),
            "config-file-error",
            Severity::Critical,
            format!("`{name}`: {error}"),
        ));
    }
    let rows = client.query(
        "SELECT coalesce(file_name, '?'), coalesce(line_number, 0), error \
         FROM core_data_audit.hba_rules() WHERE error IS NOT NULL",
        &[],
    )?;
    for row in rows {
        let (file, line, error): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        report.push(Finding::new(
            None,
            format!("{file}:{line}"),
            "hba-error",
            Severity::Critical,
            format!("{error}; the server keeps the rules it loaded last until this is fixed"),
        ));
    }
    Ok(())
}

/// The preload libraries the platform needs, loaded.
fn preload(
    required: &[String],
    client: &mut postgres::Client,
    report: &mut Report,
) -> anyhow::Result<()> {
    let loaded: String = client
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])?
        .get(0);
    let loaded: Vec<&str> = loaded.split(',').map(str::trim).collect();
    for library in required {
        if !loaded.contains(&library.as_str()) {
            report.push(Finding::new(
                None,
                library,
                "preload-missing",
                Severity::Warning,
                format!("`{library}` is not in shared_preload_libraries; `cargo xtask config apply` restarts with it"),
            ));
        }
    }
    Ok(())
}

/// The extension bundle in one database.
fn bundle(
    client: &mut postgres::Client,
    database: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    for missing in bootstrap::missing_extensions(client, database)? {
        report.push(Finding::new(
            Some(database),
            missing,
            "extension-missing",
            Severity::Warning,
            format!("bundle extension `{missing}` is not installed in `{database}`; `cargo xtask up` installs it"),
        ));
    }
    Ok(())
}
