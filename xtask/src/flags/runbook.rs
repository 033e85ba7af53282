//! Arguments of `runbooks`, `run` and `bench runbook`.

use camino::Utf8PathBuf;
use clap::Args;

use super::FormatArg;

#[derive(Debug, Args)]
pub(crate) struct Runbooks {
    /// Also load runbooks from this Rhai file (repeatable); `scripts.rhai` is always loaded.
    #[arg(long = "file", value_name = "PATH")]
    pub(crate) files: Vec<Utf8PathBuf>,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct Run {
    /// The runbook to run (`cargo xtask runbooks` lists them).
    pub(crate) name: String,
    /// Arguments for the runbook, `key=value` (repeatable); it receives them as a map of strings.
    #[arg(value_name = "KEY=VALUE")]
    pub(crate) args: Vec<String>,
    /// Also load runbooks from this Rhai file (repeatable); `scripts.rhai` is always loaded.
    #[arg(long = "file", value_name = "PATH")]
    pub(crate) files: Vec<Utf8PathBuf>,
    /// Grant SQL writes: `pg::execute`, `pg::transaction`, run as `core_data_runbook` (reads and
    /// writes every table's rows, VACUUM/ANALYZE; not a superuser, no DDL or roles).
    #[arg(long)]
    pub(crate) allow_sql_writes: bool,
    /// Run the granted SQL writes as the superuser instead of `core_data_runbook` (DDL, roles,
    /// anything); needs `--allow-sql-writes`.
    #[arg(long, requires = "allow_sql_writes")]
    pub(crate) sql_as_superuser: bool,
    /// Grant `docker::exec` of the programs on the exec allowlist (docs/runbooks.md); never a
    /// shell, a `-c` command string or `/run/secrets`.
    #[arg(long)]
    pub(crate) allow_exec: bool,
    /// Grant backups and QA clones: `backup::run`, `qa::provision`, `qa::execute`, `qa::mask`,
    /// `qa::drop`.
    #[arg(long)]
    pub(crate) allow_backups: bool,
    /// Grant files under `backups/reports` and `backups/drills`: `fs::write_*`, `fs::append_csv`,
    /// `fs::prune`.
    #[arg(long)]
    pub(crate) allow_files: bool,
    /// Removed: it granted everything at once. Refused with the flags that replace it.
    #[arg(long, hide = true)]
    pub(crate) allow_writes: bool,
    /// Register every write primitive, but print each call instead of making it (exec and SQL
    /// arguments are still checked).
    #[arg(long, conflicts_with_all = ["allow_sql_writes", "allow_exec", "allow_backups", "allow_files"])]
    pub(crate) dry_run: bool,
    /// Bytes kept of each output stream of `docker::exec` and of `docker::logs`; the rest is
    /// dropped and the cut marked.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub(crate) max_output_bytes: usize,
    /// Wall-clock budget of the run in seconds; also every SQL statement's `statement_timeout`.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub(crate) timeout: u64,
}

impl Run {
    /// Whether the run holds any write grant (and so takes the state lock).
    pub(crate) fn writes(&self) -> bool {
        self.allow_sql_writes || self.allow_exec || self.allow_backups || self.allow_files
    }
}

#[derive(Debug, Args)]
pub(crate) struct BenchRunbook {
    /// How many calls of each kind to time.
    #[arg(long, default_value_t = 2000)]
    pub(crate) calls: usize,
}
