//! The job queue (`async-queue install`): a versioned schema of tables and
//! SQL functions (`enqueue`, `dequeue`, `complete`, `fail`, `extend_lease`,
//! `recover_expired`, the `metrics` view, `purge_finished`), installed by
//! migrations embedded in the binary. The API is documented in docs/queue.md.

mod install;
pub mod migrations;
mod names;
mod status;

pub use install::{check_owners, install, install_to, installed_version, InstallReport};
pub use migrations::latest;
pub use names::{QueueNames, DEFAULT_SCHEMA};
pub use status::{status, QueueMetrics, QueueStatus};

use anyhow::Context;

use crate::stack::Stack;

/// The database a queue command works in: `db`, else the first of `APP_DATABASES`.
pub fn target_database(stack: &Stack, db: Option<&str>) -> anyhow::Result<String> {
    match db {
        Some(db) => Ok(db.to_owned()),
        None => stack
            .config
            .databases()
            .first()
            .map(|db| db.name.clone())
            .context("`APP_DATABASES` is empty; name the database with `--db`"),
    }
}

/// A superuser connection to `database`, with an error that says what to check.
pub fn connect(stack: &Stack, database: &str) -> anyhow::Result<postgres::Client> {
    stack.connect(database).with_context(|| {
        format!(
            "failed to connect to database `{database}` (does it exist? `cargo xtask create-db` \
             makes one; is the stack up?)"
        )
    })
}

/// `async-queue install`: the names checked before connecting, then
/// [`install`], then the database's nightly jobs synced (a new queue gets its
/// retention job, `maintenance::jobs`). Returns the report and the job changes.
pub fn install_in(
    stack: &Stack,
    database: &str,
    schema: &str,
) -> anyhow::Result<(InstallReport, Vec<String>)> {
    QueueNames::new(schema)?;
    let mut client = connect(stack, database)?;
    let report = install(&mut client, schema)?;
    let mut admin = stack.connect("postgres")?;
    crate::maintenance::jobs::ensure_role(&mut admin, &stack.config)?;
    let changes = crate::maintenance::jobs::sync(&mut admin, &mut client, &stack.config, database)
        .context("the queue is installed, but scheduling its retention job failed (`cargo xtask up` retries)")?;
    Ok((report, changes.iter().map(ToString::to_string).collect()))
}

/// `async-queue status`.
pub fn status_in(stack: &Stack, database: &str, schema: &str) -> anyhow::Result<QueueStatus> {
    QueueNames::new(schema)?;
    status(&mut connect(stack, database)?, schema)
}
