//! The overview's health checks. Most come from the audits themselves
//! (`audit::run_all`, the same code as `cargo xtask audit all` and the daily
//! bundle), grouped by the checks their findings carry; the rest are what the
//! audits do not cover and a dashboard must: sessions running or idle in a
//! transaction too long, sequences near their maximum, WAL archiving, the
//! newest pgBackRest set's age and the sidecar's health.

use core_data_ops::audit::{Severity, Summary};
use serde::Serialize;

use crate::state::AppState;

/// A query running longer than this is a warning.
pub(crate) const LONG_RUNNING_SECONDS: f64 = 300.0;
/// A session idle in a transaction longer than this is a warning.
pub(crate) const IDLE_IN_TRANSACTION_SECONDS: f64 = 60.0;
/// A sequence past this share of its range is a warning (critical past 95%).
pub(crate) const SEQUENCE_PERCENT: f64 = 80.0;
/// A newest backup older than this is a warning.
pub(crate) const BACKUP_AGE_HOURS: f64 = 26.0;

/// One line of the overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    /// `ok`, `info`, `warning`, `critical` or `unknown` (could not be checked).
    pub(crate) status: String,
    pub(crate) detail: String,
    /// The page with the details.
    pub(crate) link: &'static str,
}

impl Check {
    fn new(name: &str, status: &str, detail: String, link: &'static str) -> Check {
        Check {
            name: name.to_owned(),
            status: status.to_owned(),
            detail,
            link,
        }
    }
}

/// The overview's groups of audit checks: name, the audit, its check names
/// (empty: every finding of the audit), and the page to look at.
const GROUPS: &[(&str, &str, &[&str], &str)] = &[
    ("Invalid indexes", "indexes", &["invalid-index"], "/indexes"),
    (
        "Duplicate indexes",
        "indexes",
        &["duplicate-index", "redundant-index"],
        "/indexes",
    ),
    ("Unused indexes", "indexes", &["unused-index"], "/indexes"),
    (
        "Tables needing vacuum",
        "autovacuum",
        &["needs-vacuum"],
        "/maintenance",
    ),
    (
        "Transaction-ID and multixact wraparound",
        "autovacuum",
        &["xid-wraparound", "multixact-wraparound", "database-age"],
        "/maintenance",
    ),
    ("Replication", "replication", &[], "/connections"),
    ("Config drift", "config", &[], "/settings"),
    ("Roles", "roles", &[], "/settings"),
    ("Security", "security", &[], "/settings"),
    ("Extensions", "extensions", &[], "/settings"),
    ("pg_cron jobs", "cron", &[], "/"),
    ("pg_squeeze", "squeeze", &[], "/maintenance"),
    ("Index bloat", "index-bloat", &[], "/indexes"),
];

/// The overview's lines for the audits' findings.
pub(crate) fn from_audits(summary: &Summary) -> Vec<Check> {
    let mut checks = Vec::new();
    for (name, audit, names, link) in GROUPS {
        let Some(report) = summary.reports.iter().find(|r| r.audit == *audit) else {
            continue;
        };
        let failed = report.findings.iter().find(|f| f.check == "audit-failed");
        if let Some(failed) = failed {
            checks.push(Check::new(name, "unknown", failed.detail.clone(), link));
            continue;
        }
        let matching: Vec<_> = report
            .findings
            .iter()
            .filter(|f| names.is_empty() || names.contains(&f.check.as_str()))
            .filter(|f| f.severity.fails())
            .collect();
        let worst = matching.iter().map(|f| f.severity).max();
        let detail = if matching.is_empty() {
            "no finding".to_owned()
        } else {
            let mut lines: Vec<String> = matching
                .iter()
                .take(5)
                .map(|f| match &f.database {
                    Some(db) => format!("{db}: {}: {}", f.object, f.detail),
                    None => format!("{}: {}", f.object, f.detail),
                })
                .collect();
            if matching.len() > 5 {
                lines.push(format!("and {} more", matching.len() - 5));
            }
            lines.join("; ")
        };
        let status = worst.map_or("ok", Severity::as_str);
        checks.push(Check::new(name, status, detail, link));
    }
    checks
}

fn status_of(error: anyhow::Error, name: &str, link: &'static str) -> Check {
    Check::new(name, "unknown", format!("{error:#}"), link)
}

/// Long-running queries and sessions idle in a transaction (cluster-wide).
pub(crate) fn sessions(state: &AppState) -> Vec<Check> {
    let result = state.with_client("postgres", |client| {
        let row = client.query_one(
            "SELECT count(*) FILTER (WHERE state = 'active' \
                      AND now() - query_start > make_interval(secs => $1)), \
                    coalesce(max(extract(epoch FROM now() - query_start)) \
                      FILTER (WHERE state = 'active'), 0)::float8, \
                    count(*) FILTER (WHERE state LIKE 'idle in transaction%' \
                      AND now() - state_change > make_interval(secs => $2)), \
                    coalesce(max(extract(epoch FROM now() - state_change)) \
                      FILTER (WHERE state LIKE 'idle in transaction%'), 0)::float8 \
             FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            &[&LONG_RUNNING_SECONDS, &IDLE_IN_TRANSACTION_SECONDS],
        )?;
        Ok((
            row.get::<_, i64>(0),
            row.get::<_, f64>(1),
            row.get::<_, i64>(2),
            row.get::<_, f64>(3),
        ))
    });
    match result {
        Ok((long, longest, idle, idlest)) => vec![
            Check::new(
                "Long-running queries",
                if long > 0 { "warning" } else { "ok" },
                format!(
                    "{long} running longer than {LONG_RUNNING_SECONDS:.0}s (longest active: \
                     {longest:.0}s)"
                ),
                "/live",
            ),
            Check::new(
                "Idle in transaction",
                if idle > 0 { "warning" } else { "ok" },
                format!(
                    "{idle} idle in a transaction longer than {IDLE_IN_TRANSACTION_SECONDS:.0}s \
                     (longest: {idlest:.0}s)"
                ),
                "/live",
            ),
        ],
        Err(error) => vec![status_of(error, "Sessions", "/live")],
    }
}

/// Sequences near their maximum, in every database.
pub(crate) fn sequences(state: &AppState, databases: &[String]) -> Check {
    let mut near = Vec::new();
    let mut worst = 0.0_f64;
    for database in databases {
        let rows = state.with_client(database, |client| {
            Ok(client.query(
                "SELECT format('%I.%I', schemaname, sequencename), \
                        (100.0 * last_value::numeric / max_value)::float8 \
                 FROM pg_sequences \
                 WHERE last_value IS NOT NULL AND increment_by > 0 AND max_value > 0 \
                 ORDER BY 2 DESC LIMIT 20",
                &[],
            )?)
        });
        match rows {
            Ok(rows) => {
                for row in rows {
                    let percent: f64 = row.get(1);
                    worst = worst.max(percent);
                    if percent >= SEQUENCE_PERCENT {
                        near.push(format!(
                            "{database}: {} at {percent:.1}%",
                            row.get::<_, String>(0)
                        ));
                    }
                }
            }
            Err(error) => return status_of(error, "Sequences near their maximum", "/space"),
        }
    }
    let status = if worst >= 95.0 {
        "critical"
    } else if worst >= SEQUENCE_PERCENT {
        "warning"
    } else {
        "ok"
    };
    let detail = if near.is_empty() {
        format!("the fullest readable sequence is at {worst:.1}% of its range")
    } else {
        near.join("; ")
    };
    Check::new("Sequences near their maximum", status, detail, "/space")
}

/// WAL archiving (`pg_stat_archiver`): a failure newer than the last success
/// is critical.
pub(crate) fn archiving(state: &AppState) -> Check {
    let result = state.with_client("postgres", |client| {
        let row = client.query_one(
            "SELECT current_setting('archive_mode'), archived_count, failed_count, \
                    coalesce(last_archived_wal, ''), \
                    coalesce(to_char(last_archived_time, 'YYYY-MM-DD HH24:MI:SS TZ'), 'never'), \
                    coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false), \
                    coalesce(last_failed_wal, '') \
             FROM pg_stat_archiver",
            &[],
        )?;
        Ok(row)
    });
    match result {
        Ok(row) => {
            let mode: String = row.get(0);
            let archived: i64 = row.get(1);
            let failed: i64 = row.get(2);
            let last: String = row.get(4);
            let failing: bool = row.get(5);
            let (status, detail) = if mode == "off" {
                (
                    "warning",
                    "archive_mode is off: no point-in-time recovery".to_owned(),
                )
            } else if failing {
                (
                    "critical",
                    format!(
                        "archiving fails: the last failure (`{}`) is newer than the last success \
                         ({last}); {failed} failures in all",
                        row.get::<_, String>(6)
                    ),
                )
            } else {
                (
                    "ok",
                    format!(
                        "{archived} WAL files archived, the last `{}` at {last}; {failed} failures",
                        row.get::<_, String>(3)
                    ),
                )
            };
            Check::new("WAL archiving", status, detail, "/backups")
        }
        Err(error) => status_of(error, "WAL archiving", "/backups"),
    }
}

/// The newest pgBackRest set's age.
pub(crate) fn backup_age(now: i64) -> Check {
    const NAME: &str = "Backup age";
    match crate::backups::pgbackrest::sets() {
        Ok(sets) => match sets.iter().map(|set| set.stopped).max() {
            Some(stopped) => {
                let hours = (now - stopped) as f64 / 3600.0;
                let status = if hours > BACKUP_AGE_HOURS {
                    "warning"
                } else {
                    "ok"
                };
                Check::new(
                    NAME,
                    status,
                    format!(
                        "the newest of {} sets finished {hours:.1} hours ago",
                        sets.len()
                    ),
                    "/backups",
                )
            }
            None => Check::new(
                NAME,
                "critical",
                "the repository holds no backup; `cargo xtask backup` takes one".to_owned(),
                "/backups",
            ),
        },
        Err(error) => status_of(error, NAME, "/backups"),
    }
}

/// The logical backup sidecar's health, by its own rule.
pub(crate) fn sidecar(state: &AppState) -> Check {
    const NAME: &str = "Logical backups (sidecar)";
    match crate::backups::logical::read(&state.settings.backups_dir) {
        Ok(logical) => match logical.problem {
            Some(problem) => Check::new(NAME, "critical", problem, "/backups"),
            None => Check::new(
                NAME,
                "ok",
                format!(
                    "last success {}",
                    logical.status.last_success.as_deref().unwrap_or("never")
                ),
                "/backups",
            ),
        },
        Err(error) => status_of(error, NAME, "/backups"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_data_ops::audit::{Finding, Identity, Report};

    #[test]
    fn audit_findings_become_grouped_checks() {
        let mut indexes = Report::new("indexes");
        indexes.push(Finding::new(
            Some("app"),
            "public.t_a_idx",
            "unused-index",
            Severity::Warning,
            "never scanned",
        ));
        indexes.push(Finding::new(
            Some("app"),
            "x",
            "listing",
            Severity::Info,
            "context",
        ));
        let mut config = Report::new("config");
        config.push(Finding::new(
            None,
            "config",
            "audit-failed",
            Severity::Critical,
            "no file",
        ));
        let summary = Summary::new(
            Identity {
                role: "core_data_dashboard".into(),
                superuser: false,
            },
            vec![indexes, config, Report::new("autovacuum")],
        );
        let checks = from_audits(&summary);
        let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap();
        assert_eq!(find("Unused indexes").status, "warning");
        assert!(find("Unused indexes")
            .detail
            .contains("app: public.t_a_idx"));
        assert_eq!(find("Invalid indexes").status, "ok");
        assert_eq!(find("Config drift").status, "unknown");
        assert_eq!(find("Tables needing vacuum").status, "ok");
        assert!(
            checks.iter().all(|c| c.name != "Replication"),
            "no report, no line"
        );
    }
}
