//! Arguments of `old-clusters`.

use clap::Args;

use super::FormatArg;

#[derive(Debug, Args)]
pub(crate) struct OldClusters {
    /// Remove one set-aside copy: NAME as listed (`pgdata.pre-restore-<id>`, or its WAL
    /// directory's name `pg_wal.pre-restore-<id>`; `pre-upgrade-` likewise). Both its data and
    /// WAL directories go. The live `pgdata`/`pg_wal` and any other name are refused, and so is
    /// everything while a restore or upgrade is unfinished. Without `--yes` it prints what
    /// would be removed and exits 1.
    #[arg(long, value_name = "NAME", conflicts_with = "format")]
    pub(crate) remove: Option<String>,
    /// Confirm `--remove`.
    #[arg(long, requires = "remove")]
    pub(crate) yes: bool,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}
