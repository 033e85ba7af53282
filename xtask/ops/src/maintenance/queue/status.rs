//! What `async-queue status` reports: the installed version and the `metrics`
//! view, read as the superuser.

use anyhow::bail;
use serde::Serialize;

use super::install::installed_version;
use super::migrations;
use crate::sql::quote_ident;

/// One queue's row of the `metrics` view.
#[derive(Debug, Clone, Serialize)]
pub struct QueueMetrics {
    pub queue: String,
    /// Ready to run now.
    pub ready: i64,
    /// Ready, but `run_at` is in the future (new or backing off after a failure).
    pub scheduled: i64,
    pub running: i64,
    pub dead: i64,
    /// Seconds since the oldest ready job could have run (none ready: `None`).
    pub oldest_ready_age_seconds: Option<f64>,
    pub completed_last_minute: i64,
    pub completed_last_hour: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    pub schema: String,
    pub version: i32,
    pub latest_version: i32,
    pub queues: Vec<QueueMetrics>,
}

pub fn status(client: &mut postgres::Client, schema: &str) -> anyhow::Result<QueueStatus> {
    let Some(version) = installed_version(client, schema)? else {
        bail!("there is no queue schema `{schema}` here; install it with `cargo xtask async-queue install`");
    };
    // The view arrived in version 2.
    let queues = if version >= 2 {
        client
            .query(
                &format!(
                    "SELECT queue, ready, scheduled, running, dead, \
                        extract(epoch FROM oldest_ready_age)::float8, \
                        completed_last_minute, completed_last_hour \
                     FROM {}.metrics ORDER BY queue",
                    quote_ident(schema)
                ),
                &[],
            )?
            .iter()
            .map(|row| QueueMetrics {
                queue: row.get(0),
                ready: row.get(1),
                scheduled: row.get(2),
                running: row.get(3),
                dead: row.get(4),
                oldest_ready_age_seconds: row.get(5),
                completed_last_minute: row.get(6),
                completed_last_hour: row.get(7),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(QueueStatus {
        schema: schema.to_owned(),
        version,
        latest_version: migrations::latest(),
        queues,
    })
}
