//! `audit squeeze`: pg_squeeze's registered targets (`squeeze.tables`) with
//! their last squeeze (`squeeze.log`), and errors (`squeeze.errors`) within
//! the lookback (`AUDIT_CRON_LOOKBACK_HOURS`, shared with `audit cron`). The
//! auditor reads these tables through the SELECT grants of
//! `access::grant_in_database`.

use anyhow::Context;

use super::user_objects::qualified;
use super::{Audit, Finding, Report, Severity};

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("squeeze");
    report.databases = audit.databases.clone();
    let hours = i32::try_from(audit.thresholds.cron_lookback_hours).unwrap_or(i32::MAX);
    audit.each_database(|db, client| {
        let readable: bool = client
            .query_one(
                "SELECT to_regclass('squeeze.tables') IS NOT NULL \
                 AND has_table_privilege('squeeze.tables', 'SELECT') \
                 AND has_table_privilege('squeeze.log', 'SELECT') \
                 AND has_table_privilege('squeeze.errors', 'SELECT')",
                &[],
            )?
            .try_get(0)?;
        if !readable {
            report.notes.push(format!(
                "pg_squeeze is not installed in `{db}` or its tables are not readable by the auditor (`cargo xtask up` grants them)"
            ));
            return Ok(());
        }
        let targets = client
            .query(
                "SELECT t.tabschema::text, t.tabname::text, t.schedule::text, \
                 (SELECT max(l.finished)::text FROM squeeze.log l \
                  WHERE l.tabschema = t.tabschema AND l.tabname = t.tabname) \
                 FROM squeeze.tables t ORDER BY 1, 2",
                &[],
            )
            .context("failed to read squeeze.tables")?;
        for row in targets {
            let name = qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?);
            let schedule: String = row.try_get(2)?;
            let last: Option<String> = row.try_get(3)?;
            report.push(Finding::new(
                Some(db),
                name.clone(),
                "squeeze-target",
                Severity::Info,
                format!(
                    "`{name}` is squeezed on schedule {schedule}; last squeeze {}",
                    last.as_deref().unwrap_or("never")
                ),
            ));
        }
        let errors = client
            .query(
                "SELECT e.tabschema::text, e.tabname::text, e.occurred::text, e.sql_state, e.err_msg, \
                 e.err_detail FROM squeeze.errors e \
                 WHERE e.occurred >= now() - make_interval(hours => $1) ORDER BY e.occurred",
                &[&hours],
            )
            .context("failed to read squeeze.errors")?;
        for row in errors {
            let name = qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?);
            let (when, state, message): (String, String, String) =
                (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
            let detail: Option<String> = row.try_get(5)?;
            report.push(Finding::new(
                Some(db),
                name.clone(),
                "squeeze-error",
                Severity::Warning,
                format!(
                    "squeezing `{name}` failed at {when}: {message} (SQLSTATE {state}){}; \
                     see `squeeze.errors` in `{db}`",
                    detail.map(|d| format!(", {d}")).unwrap_or_default()
                ),
            ));
        }
        Ok(())
    })?;
    report.notes.push(format!(
        "squeeze errors count from the last {} hours",
        audit.thresholds.cron_lookback_hours
    ));
    Ok(report)
}
