//! `cron list`: every pg_cron job (ours and the operator's) with its last run,
//! read from `cron.job` and `cron.job_run_details` in `postgres`.

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::{Deserialize, Serialize};

/// One job and its most recent run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CronJob {
    pub id: i64,
    pub name: Option<String>,
    pub schedule: String,
    pub database: String,
    pub username: String,
    pub active: bool,
    pub command: String,
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    pub started: Option<String>,
    pub finished: Option<String>,
    /// pg_cron's status: `starting`, `running`, `sending`, `connecting`, `succeeded` or `failed`.
    pub status: Option<String>,
    pub message: Option<String>,
}

/// Every job, by database then name. `admin` is a superuser connection to `postgres`.
pub fn list(admin: &mut impl postgres::GenericClient) -> anyhow::Result<Vec<CronJob>> {
    let rows = admin
        .query(
            "SELECT j.jobid, j.jobname, j.schedule, j.database, j.username, j.active, j.command, \
                    r.runid IS NOT NULL, \
                    to_char(r.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    to_char(r.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    r.status, r.return_message \
             FROM cron.job j \
             LEFT JOIN LATERAL (SELECT d.runid, d.start_time, d.end_time, d.status, d.return_message \
                                FROM cron.job_run_details d WHERE d.jobid = j.jobid \
                                ORDER BY d.runid DESC LIMIT 1) r ON true \
             ORDER BY j.database, j.jobname, j.jobid",
            &[],
        )
        .context("failed to read pg_cron's jobs (is pg_cron installed in `postgres`?)")?;
    rows.iter()
        .map(|row| {
            let ran: bool = row.try_get(7)?;
            Ok(CronJob {
                id: row.try_get(0)?,
                name: row.try_get(1)?,
                schedule: row.try_get(2)?,
                database: row.try_get(3)?,
                username: row.try_get(4)?,
                active: row.try_get(5)?,
                command: row.try_get(6)?,
                last_run: if ran {
                    Some(LastRun {
                        started: row.try_get(8)?,
                        finished: row.try_get(9)?,
                        status: row.try_get(10)?,
                        message: row.try_get(11)?,
                    })
                } else {
                    None
                },
            })
        })
        .collect()
}

/// The jobs as an aligned table.
pub fn table(jobs: &[CronJob]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "job", "database", "schedule", "role", "command", "last run", "status",
        ]);
    for job in jobs {
        let name = job.name.clone().unwrap_or_else(|| format!("#{}", job.id));
        let (when, status) = match &job.last_run {
            Some(run) => (
                run.started.clone().unwrap_or_default(),
                match (&run.status, &run.message) {
                    (Some(status), Some(message)) if status == "failed" => {
                        format!("failed: {message}")
                    }
                    (Some(status), _) => status.clone(),
                    (None, _) => String::new(),
                },
            ),
            None => ("never".to_owned(), String::new()),
        };
        let schedule = if job.active {
            job.schedule.clone()
        } else {
            format!("{} (paused)", job.schedule)
        };
        table.add_row([
            name,
            job.database.clone(),
            schedule,
            job.username.clone(),
            job.command.clone(),
            when,
            status,
        ]);
    }
    table.to_string()
}
