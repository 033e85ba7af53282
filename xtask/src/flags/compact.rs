//! Arguments of `compact` and `partman`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Args)]
pub(crate) struct Compact {
    /// 1: report dead tuples, bloat estimate and wraparound age (changes nothing).
    /// 2: register the tables as pg_squeeze targets and squeeze them now (online; tables without a
    /// primary key or replica identity index are skipped). Without `--tables`, the registered targets.
    /// 3: pg_repack the named tables (online; `--tables` required; each needs a primary key or a
    /// unique index on NOT NULL columns). 4: `VACUUM (FULL, ANALYZE)`: locks each table for its whole
    /// rewrite; needs `--yes`, and without it lists the tables, their sizes and lock-time estimates.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4), value_name = "1..4")]
    pub(crate) level: u8,
    /// Only this database (repeatable); default: every database that accepts connections.
    #[arg(long = "db", value_name = "NAME")]
    pub(crate) databases: Vec<String>,
    /// Only these tables, comma-separated `schema.table` (double-quote names with capitals, dots or
    /// spaces: `'public."Orders"'`); each must exist in every database in scope. Default: every user
    /// table (level 2: the registered pg_squeeze targets).
    #[arg(long, value_name = "SCHEMA.TABLE,...", value_delimiter = ',')]
    pub(crate) tables: Vec<String>,
    /// Confirm level 4 (VACUUM FULL blocks reads and writes of each table while it runs).
    #[arg(long)]
    pub(crate) yes: bool,
    /// How long a maintenance statement waits for a lock before giving up on that table
    /// (`500ms`, `5s`, `2min`); statement_timeout is always off for compact's own session.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub(crate) lock_timeout: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PartmanCommand {
    /// List pg_partman's partition sets: parent, control column, interval, premake, retention,
    /// partition count, newest partition, last maintenance.
    Show(PartmanShow),
    /// Run pg_partman's maintenance now (what the hourly pg_cron job runs) in each database in
    /// scope that has it; lists the partitions it created or removed.
    Maintenance(PartmanMaintenance),
    /// Put an existing range-partitioned table under pg_partman, creating its premade partitions.
    /// Example: `partman create-parent public.events --column created_at --interval '1 day' --db app`.
    CreateParent(PartmanCreateParent),
}

#[derive(Debug, Args)]
pub(crate) struct PartmanShow {
    /// Only this database (repeatable); default: every database that accepts connections.
    #[arg(long = "db", value_name = "NAME")]
    pub(crate) databases: Vec<String>,
    /// Only this partition set (`schema.table`).
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub(crate) parent: Option<String>,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct PartmanMaintenance {
    /// Only this database (repeatable); default: every database that has pg_partman.
    #[arg(long = "db", value_name = "NAME")]
    pub(crate) databases: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PartmanCreateParent {
    /// The partitioned table, `schema.table` (double-quote names with capitals or spaces). It must
    /// already be `PARTITION BY RANGE (COLUMN)`.
    pub(crate) table: String,
    /// The partition key column (NOT NULL; date, timestamp, timestamptz or an integer type).
    #[arg(long, value_name = "COLUMN")]
    pub(crate) column: String,
    /// Partition width: a time interval (`1 day`, `1 hour`) for a time column, a number (`100000`)
    /// for an integer one.
    #[arg(long, value_name = "INTERVAL")]
    pub(crate) interval: String,
    /// How many partitions to keep made ahead.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) premake: i32,
    /// Partitions older than this (`30 days`, or a number for integer columns) leave the set at
    /// maintenance (pg_partman detaches them and keeps the tables, its default).
    #[arg(long, value_name = "INTERVAL")]
    pub(crate) retention: Option<String>,
    /// Where the first partition starts (a time or a number, as the column); default: pg_partman's
    /// choice from now or the data.
    #[arg(long, value_name = "VALUE")]
    pub(crate) start: Option<String>,
    /// The database holding the table (default: the first of APP_DATABASES).
    #[arg(long = "db", value_name = "NAME")]
    pub(crate) database: Option<String>,
}
