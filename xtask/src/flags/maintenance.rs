//! Arguments of the maintenance commands: `cron list` and `test-dataset`.

use clap::{Args, Subcommand};

use super::FormatArg;

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
