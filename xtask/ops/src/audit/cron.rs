//! `audit cron`: pg_cron's jobs (it lives in `postgres` and runs jobs in any
//! database) and their runs within `thresholds.cron_lookback_hours`, read
//! through `core_data_audit.cron_jobs()` / `cron_runs(since)` because the
//! tables' row security shows each role only its own jobs. Jobs are reported
//! under the database they run in; `--db` narrows to those.

use anyhow::Context;

use super::{Audit, Finding, Report, Severity};

/// One pg_cron job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub name: Option<String>,
    pub schedule: String,
    pub command: String,
    pub database: String,
    pub username: String,
    pub active: bool,
}

/// One run of a job (newest first in the lists below).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub job: i64,
    pub status: String,
    pub message: Option<String>,
    pub start: Option<String>,
    pub seconds: Option<f64>,
}

fn label(job: &Job) -> String {
    job.name
        .clone()
        .unwrap_or_else(|| format!("job {}", job.id))
}

/// At most `max` characters of `text` on one line.
fn short(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}…", line.chars().take(max).collect::<String>())
    }
}

/// The findings for one job given its runs in the window (newest first).
pub fn check_job(job: &Job, runs: &[&Run], hours: i64) -> Vec<Finding> {
    let object = label(job);
    let db = Some(job.database.as_str());
    let failed: Vec<&&Run> = runs.iter().filter(|r| r.status == "failed").collect();
    let last = match runs.first() {
        Some(run) => format!(
            "last run {} at {}{}",
            run.status,
            run.start.as_deref().unwrap_or("?"),
            run.seconds
                .map(|s| format!(" in {s:.3} s"))
                .unwrap_or_default()
        ),
        None => format!("no run in the last {hours} h"),
    };
    let (check, state) = if job.active {
        ("cron-job", "active")
    } else {
        ("cron-job-inactive", "inactive (not scheduled)")
    };
    let mut findings = vec![Finding::new(
        db,
        object.as_str(),
        check,
        Severity::Info,
        format!(
            "{state}, `{}` as `{}`: `{}`; {last}; {} run(s) in the last {hours} h, {} failed",
            job.schedule,
            job.username,
            short(&job.command, 80),
            runs.len(),
            failed.len()
        ),
    )];
    if let Some(latest) = failed.first() {
        findings.push(
            Finding::new(
                db,
                object.as_str(),
                "cron-job-failing",
                Severity::Warning,
                format!(
                    "{} of {} run(s) in the last {hours} h failed, the last at {}: {}; \
                     fix the command or `SELECT cron.unschedule({})` in `postgres`",
                    failed.len(),
                    runs.len(),
                    latest.start.as_deref().unwrap_or("?"),
                    short(latest.message.as_deref().unwrap_or("(no message)"), 200),
                    job.id
                ),
            )
            .with_value(failed.len() as f64),
        );
    }
    findings
}

fn jobs(client: &mut postgres::Client) -> anyhow::Result<Vec<Job>> {
    let rows = client
        .query(
            "SELECT jobid, jobname, schedule, command, database, username, active \
             FROM core_data_audit.cron_jobs() ORDER BY jobid",
            &[],
        )
        .context("failed to read pg_cron's jobs (`core_data_audit.cron_jobs()`)")?;
    rows.iter()
        .map(|row| {
            Ok(Job {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                schedule: row.try_get(2)?,
                command: row.try_get(3)?,
                database: row.try_get(4)?,
                username: row.try_get(5)?,
                active: row.try_get(6)?,
            })
        })
        .collect()
}

fn runs(client: &mut postgres::Client, hours: i64) -> anyhow::Result<Vec<Run>> {
    let rows = client
        .query(
            "SELECT jobid, status, return_message, start_time::text, \
                    extract(epoch FROM end_time - start_time)::float8 \
             FROM core_data_audit.cron_runs(now() - $1::bigint * interval '1 hour') \
             ORDER BY jobid, start_time DESC, runid DESC",
            &[&hours],
        )
        .context("failed to read pg_cron's runs (`core_data_audit.cron_runs(since)`)")?;
    rows.iter()
        .map(|row| {
            Ok(Run {
                job: row.try_get(0)?,
                status: row.try_get(1)?,
                message: row.try_get(2)?,
                start: row.try_get(3)?,
                seconds: row.try_get(4)?,
            })
        })
        .collect()
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("cron");
    report.databases = audit.databases.clone();
    let hours = audit.thresholds.cron_lookback_hours;
    let mut client = audit.connect("postgres")?;
    let jobs = jobs(&mut client)?;
    let runs = runs(&mut client, hours)?;
    let mut shown = 0;
    for job in jobs
        .iter()
        .filter(|j| audit.databases.contains(&j.database))
    {
        shown += 1;
        let mine: Vec<&Run> = runs.iter().filter(|r| r.job == job.id).collect();
        for finding in check_job(job, &mine, hours) {
            report.push(finding);
        }
    }
    report.notes.push(format!(
        "{shown} of {} pg_cron job(s) run in the databases in scope; failures count within the \
         last {hours} h (AUDIT_CRON_LOOKBACK_HOURS), and only for jobs that still exist",
        jobs.len()
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(active: bool) -> Job {
        Job {
            id: 7,
            name: Some("failing_job".to_owned()),
            schedule: "* * * * *".to_owned(),
            command: "SELECT 1/0".to_owned(),
            database: "shop".to_owned(),
            username: "postgres".to_owned(),
            active,
        }
    }

    fn run(status: &str, message: &str) -> Run {
        Run {
            job: 7,
            status: status.to_owned(),
            message: Some(message.to_owned()),
            start: Some("2026-01-01 00:00:00+00".to_owned()),
            seconds: Some(0.01),
        }
    }

    #[test]
    fn a_job_with_failed_runs_warns_with_the_count_and_last_message() {
        let runs = [
            run("failed", "ERROR:  division by zero"),
            run("succeeded", "1 row"),
            run("failed", "ERROR:  older"),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let found = check_job(&job(true), &refs, 24);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].check, "cron-job");
        assert_eq!(found[1].check, "cron-job-failing");
        assert_eq!(found[1].severity, Severity::Warning);
        assert_eq!(found[1].value, Some(2.0));
        assert!(
            found[1].detail.contains("division by zero"),
            "{}",
            found[1].detail
        );
        assert_eq!(found[1].database.as_deref(), Some("shop"));
    }

    #[test]
    fn quiet_and_inactive_jobs_are_info() {
        let ok = [run("succeeded", "1 row")];
        let refs: Vec<&Run> = ok.iter().collect();
        let found = check_job(&job(true), &refs, 24);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Info);
        let found = check_job(&job(false), &[], 24);
        assert_eq!(found[0].check, "cron-job-inactive");
        assert!(found[0].detail.contains("no run in the last 24 h"));
    }

    #[test]
    fn long_commands_are_shortened_to_one_line() {
        assert_eq!(short("SELECT\n  1", 80), "SELECT 1");
        assert_eq!(short("abcdef", 3), "abc…");
    }
}
