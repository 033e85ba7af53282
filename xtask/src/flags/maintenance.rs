//! Arguments of the maintenance commands: `cron list`, `test-dataset` and `daily-maintenance`.

use clap::{Args, Subcommand};

use super::{FormatArg, ThresholdArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum CronCommand {
    /// Every pg_cron job (the nightly maintenance jobs of each database, `core_data_<kind>:<db>`,
    /// and any of your own) with its schedule, role, command and last run. Schedules come
    /// from the `MAINTENANCE_*_SCHEDULE` keys of `.env`; `cargo xtask up` applies them.
    List(CronList),
}

#[derive(Debug, Args)]
pub(crate) struct CronList {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TestDatasetCommand {
    /// Install (or re-install) the synthetic dataset in schema `testkit`: spatial regions and
    /// places (PostGIS), embeddings (pgvector), an AGE graph, a pgRouting network, trigram and
    /// full-text search, hstore, ranges and a pg_partman time series. Creates the database and
    /// its owner when missing; re-running replaces the schema it made before (never one it did
    /// not make).
    #[command(alias = "bootstrap")]
    Install(TestDatasetInstall),
}

#[derive(Debug, Args)]
pub(crate) struct TestDatasetInstall {
    /// The database to install into (created with the bundle when missing).
    #[arg(long, default_value = "testkit")]
    pub(crate) db: String,
    /// The role that owns the database (when created), the `testkit` schema and its tables;
    /// created when missing, with a generated password in `secrets/roles/` (as `create-user`).
    #[arg(long, default_value = "testkit_owner")]
    pub(crate) owner: String,
}

#[derive(Debug, Args)]
pub(crate) struct DailyMaintenance {
    /// The day the bundle is of (YYYY-MM-DD; default: today in the server's time zone, `TZ`). Its
    /// server log and pgBadger report cover that day; audits, snapshots and statuses are read now.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<String>,
    /// Remove the bundles of dates more than N days before today (default DAILY_RETENTION_DAYS,
    /// 30; at least 1). Only directories of backups/daily/ named YYYY-MM-DD are ever removed.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) retention_days: Option<i64>,
    /// The Docker network the version check's one-shot container reaches the Debian mirror
    /// through (`none`: offline; versions are reported as unknown).
    #[arg(long, value_name = "NAME", default_value = "bridge")]
    pub(crate) network: String,
    #[command(flatten)]
    pub(crate) thresholds: ThresholdArgs,
}
