//! `runbooks`, `run` and `bench runbook`: list the runbooks of `scripts.rhai`
//! (plus `--file`s), run one in the sandbox against the stack, and time a
//! primitive call. Every file is compiled before Docker is touched.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use core_data_ops::stack::Stack;
use core_data_runbook::catalog;
use core_data_runbook::engine::{Grants, Limits, Terminal};

use super::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct RunbooksArgs {
    /// Also load runbooks from this Rhai file (repeatable); `scripts.rhai` is always loaded.
    #[arg(long = "file", value_name = "PATH")]
    pub(crate) files: Vec<Utf8PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
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

#[derive(Debug, clap::Args)]
pub(crate) struct BenchRunbookArgs {
    /// How many calls of each kind to time.
    #[arg(long, default_value_t = 2000)]
    pub(crate) calls: usize,
}

/// `--file` paths as given, resolved against the current directory.
fn files(paths: &[Utf8PathBuf]) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let cwd = Utf8PathBuf::from_path_buf(std::env::current_dir()?).map_err(|path| {
        anyhow::anyhow!("the current directory `{}` is not UTF-8", path.display())
    })?;
    Ok(paths
        .iter()
        .map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                cwd.join(p)
            }
        })
        .collect())
}

pub(crate) fn list(ctx: &Ctx, args: &RunbooksArgs) -> anyhow::Result<ExitCode> {
    let catalog = match catalog::load(ctx.paths.repo(), &files(&args.files)?, &Limits::default())? {
        Ok(catalog) => catalog,
        Err(rendered) => {
            eprint!("{rendered}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let width = catalog
        .runbooks()
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    for runbook in catalog.runbooks() {
        println!(
            "{:<width$}  {}  ({})",
            runbook.name,
            runbook.summary(),
            runbook.source
        );
        if ctx.verbose {
            for line in runbook.doc.lines().skip(1) {
                println!("{:<width$}  {line}", "");
            }
        }
    }
    if !ctx.verbose {
        println!(
            "\n`cargo xtask runbooks --verbose` shows each runbook's full help and arguments."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `--allow-writes` is gone, and what to pass instead.
const ALLOW_WRITES_REMOVED: &str = "error: `--allow-writes` was removed: it granted every kind \
of change at once; grant only what this runbook needs:\n  \
--allow-sql-writes   pg::execute, pg::transaction (as `core_data_runbook`; add `--sql-as-superuser` for DDL)\n  \
--allow-files        fs::write_*, fs::append_csv, fs::prune under backups/\n  \
--allow-backups      backup::run, qa::provision/execute/mask/drop\n  \
--allow-exec         docker::exec of allowlisted programs\n\
(`cargo xtask runbooks --verbose` says which grants each shipped runbook needs; `--dry-run` \
prints what a runbook would do)";

pub(crate) fn run(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if args.allow_writes {
        eprintln!("{ALLOW_WRITES_REMOVED}");
        return Ok(ExitCode::from(2));
    }
    if args.max_output_bytes == 0 {
        eprintln!("error: `--max-output-bytes` must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let runbook_args = match catalog::parse_args(&args.args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}; pass runbook arguments as `key=value`");
            return Ok(ExitCode::from(2));
        }
    };
    let limits = Limits {
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_output_bytes: args.max_output_bytes,
        ..Limits::default()
    };
    // Compile every file first: a typo fails here, before Docker or Postgres is touched.
    let catalog = match catalog::load(ctx.paths.repo(), &files(&args.files)?, &limits)? {
        Ok(catalog) => catalog,
        Err(rendered) => {
            eprint!("{rendered}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let grants = Grants {
        sql_writes: args.allow_sql_writes,
        sql_as_superuser: args.sql_as_superuser,
        exec: args.allow_exec,
        backups: args.allow_backups,
        files: args.allow_files,
        dry_run: args.dry_run,
    };
    let stack = Stack::load(ctx.paths.clone())?;
    match core_data_runbook::run_on_stack(
        &stack,
        &catalog,
        &args.name,
        &runbook_args,
        grants,
        &limits,
        Arc::new(Terminal),
    )? {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(rendered) => {
            eprint!("{rendered}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn bench(ctx: &Ctx, args: &BenchRunbookArgs) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let figures = core_data_runbook::bench::bench_primitive_overhead(&stack, args.calls)?;
    print!("{figures}");
    Ok(ExitCode::SUCCESS)
}
