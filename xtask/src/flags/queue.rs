//! Arguments of the job queue (`async-queue install|status`) and `bench queue`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum AsyncQueueCommand {
    /// Install the job queue schema (tables, SQL functions, roles `<schema>_producer` and
    /// `<schema>_worker`), or upgrade it to this build's version; nothing to do when it is current.
    /// The SQL API (enqueue, dequeue, complete, fail, extend_lease, metrics, purge_finished) is in
    /// docs/queue.md. Grant the roles to your logins: `GRANT asyncq_worker TO my_worker;`.
    #[command(alias = "bootstrap")]
    Install(AsyncQueueInstall),
    /// Show the installed version and, per queue, jobs ready, scheduled, running and dead, the
    /// oldest ready job's age and jobs completed in the last minute and hour.
    Status(AsyncQueueStatus),
}

#[derive(Debug, Args)]
pub(crate) struct AsyncQueueTarget {
    /// Database holding the queue (default: the first database of `APP_DATABASES`).
    #[arg(long, value_name = "DB")]
    pub(crate) db: Option<String>,
    /// Schema of the queue (any text; it is quoted). The roles are named `<schema>_producer` and
    /// `<schema>_worker`, so at most 54 bytes.
    #[arg(long, value_name = "NAME", default_value = "asyncq")]
    pub(crate) schema: String,
}

#[derive(Debug, Args)]
pub(crate) struct AsyncQueueInstall {
    #[command(flatten)]
    pub(crate) target: AsyncQueueTarget,
}

#[derive(Debug, Args)]
pub(crate) struct AsyncQueueStatus {
    #[command(flatten)]
    pub(crate) target: AsyncQueueTarget,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct BenchQueue {
    /// Jobs per measurement (enqueued first, then processed by the workers).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) jobs: u32,
    /// Worker counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    pub(crate) workers: Vec<u32>,
    /// Jobs passed through the queue's `jobs` table in bulk (inserted, taken,
    /// completed) with no VACUUM after, before the second dequeue-latency
    /// measurement (the first is on a freshly vacuumed table).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) churned: u32,
}
