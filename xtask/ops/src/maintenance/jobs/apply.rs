//! Making a database's jobs in pg_cron what is wanted, in one transaction.

use anyhow::Context;
use serde::Serialize;

use super::{Job, MAINTENANCE_ROLE};

/// What `sync` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Change {
    Scheduled(Job),
    Replaced(Job),
    Unscheduled(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Scheduled(job) => write!(f, "scheduled {} ({})", job.name, job.schedule),
            Change::Replaced(job) => write!(f, "rescheduled {} ({})", job.name, job.schedule),
            Change::Unscheduled(name) => write!(f, "unscheduled {name}"),
        }
    }
}

/// One of our jobs as stored.
struct Stored {
    id: i64,
    job: Job,
    username: String,
    active: bool,
}

/// Our jobs (`core_data_…`) that run in `database`.
fn stored(admin: &mut impl postgres::GenericClient, database: &str) -> anyhow::Result<Vec<Stored>> {
    Ok(crate::maintenance::cron_list::list(admin)?
        .into_iter()
        .filter(|job| job.database == database)
        .filter_map(|job| {
            let name = job.name.filter(|name| name.starts_with("core_data_"))?;
            Some(Stored {
                id: job.id,
                job: Job {
                    name,
                    schedule: job.schedule,
                    command: job.command,
                    database: job.database,
                },
                username: job.username,
                active: job.active,
            })
        })
        .collect())
}

/// Makes `database`'s jobs exactly `wanted`: schedules what is missing,
/// replaces what differs (schedule, command, role or a paused job), removes
/// ours that are no longer wanted. `admin` is connected to `postgres`.
pub fn apply(
    admin: &mut postgres::Client,
    database: &str,
    wanted: &[Job],
) -> anyhow::Result<Vec<Change>> {
    // One transaction: a schedule pg_cron refuses leaves the jobs as they were.
    let mut tx = admin.transaction()?;
    let changes = apply_in(&mut tx, database, wanted)?;
    tx.commit().context("failed to commit the job changes")?;
    Ok(changes)
}

fn apply_in(
    admin: &mut postgres::Transaction<'_>,
    database: &str,
    wanted: &[Job],
) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    let existing = stored(admin, database)?;
    for old in &existing {
        let keep = wanted
            .iter()
            .any(|job| *job == old.job && old.username == MAINTENANCE_ROLE && old.active);
        if !keep {
            admin
                .query_one("SELECT cron.unschedule($1::bigint)", &[&old.id])
                .with_context(|| format!("failed to unschedule `{}`", old.job.name))?;
            if !wanted.iter().any(|job| job.name == old.job.name) {
                changes.push(Change::Unscheduled(old.job.name.clone()));
            }
        }
    }
    for job in wanted {
        let same = existing
            .iter()
            .any(|old| old.job == *job && old.username == MAINTENANCE_ROLE && old.active);
        if same {
            continue;
        }
        admin
            .query_one(
                "SELECT cron.schedule_in_database($1, $2, $3, $4, $5, true)",
                &[
                    &job.name,
                    &job.schedule,
                    &job.command,
                    &job.database,
                    &MAINTENANCE_ROLE,
                ],
            )
            .with_context(|| {
                format!(
                    "failed to schedule `{}` ({}) in `{}`",
                    job.name, job.schedule, job.database
                )
            })?;
        let replaced = existing.iter().any(|old| old.job.name == job.name);
        changes.push(if replaced {
            Change::Replaced(job.clone())
        } else {
            Change::Scheduled(job.clone())
        });
    }
    Ok(changes)
}
