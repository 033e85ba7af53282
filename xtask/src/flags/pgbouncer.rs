//! Arguments of `pgbouncer stats|pools|clients|servers|reload` and `bench pgbouncer`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum PgbouncerCommand {
    /// Per-database totals and averages since start (`SHOW STATS`): transactions, queries,
    /// bytes, wait time.
    Stats(FormatArg),
    /// Each pool (database and user): clients active and waiting, server connections active,
    /// idle and in use, the longest wait, the pool mode (`SHOW POOLS`).
    Pools(FormatArg),
    /// Every client connection: user, database, state, address, TLS (`SHOW CLIENTS`).
    Clients(FormatArg),
    /// Every server connection to postgres (`SHOW SERVERS`).
    Servers(FormatArg),
    /// Make PgBouncer re-read `rendered/pgbouncer/pgbouncer.ini` (SIGHUP); clients stay
    /// connected. `cargo xtask up` renders it from `.env` first.
    Reload,
}

#[derive(Debug, Args)]
pub(crate) struct BenchPgbouncer {
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,500")]
    pub(crate) clients: Vec<u32>,
    /// Seconds per run.
    #[arg(long, default_value_t = 20)]
    pub(crate) seconds: u32,
    /// pgbench scale of the generated database.
    #[arg(long, default_value_t = 10)]
    pub(crate) scale: u32,
}
