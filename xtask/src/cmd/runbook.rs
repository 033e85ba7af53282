//! `runbooks`, `run` and `bench runbook`: list the runbooks of `scripts.rhai`
//! (plus `--file`s), run one in the sandbox against the stack, and time a
//! primitive call. Every file is compiled before Docker is touched.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use core_data_ops::stack::Stack;
use core_data_runbook::catalog::{self, Runbook};
use core_data_runbook::engine::{Grants, Limits, Terminal};
use serde::Serialize;

use super::{output, Ctx};
use crate::error::{CliError, CmdResult};
use crate::flags::{BenchRunbook, Run, Runbooks};

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

/// One runbook in `runbooks --format json`.
#[derive(Serialize)]
struct RunbookEntry<'a> {
    name: &'a str,
    /// The first line of its help.
    summary: &'a str,
    /// The whole help (its `///` comment).
    doc: &'a str,
    /// The file it is defined in.
    source: &'a str,
    /// Whether it takes `key=value` arguments.
    takes_args: bool,
}

impl<'a> From<&'a Runbook> for RunbookEntry<'a> {
    fn from(runbook: &'a Runbook) -> Self {
        RunbookEntry {
            name: &runbook.name,
            summary: runbook.summary(),
            doc: &runbook.doc,
            source: &runbook.source,
            takes_args: runbook.takes_args,
        }
    }
}

pub(crate) fn list(ctx: &Ctx, args: &Runbooks) -> CmdResult {
    let catalog = catalog::load(ctx.paths.repo(), &files(&args.files)?, &Limits::default())?
        .map_err(CliError::Rendered)?;
    if args.format.json() {
        let entries: Vec<RunbookEntry<'_>> =
            catalog.runbooks().iter().map(RunbookEntry::from).collect();
        output::print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
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
const ALLOW_WRITES_REMOVED: &str = "`--allow-writes` was removed: it granted every kind \
of change at once; grant only what this runbook needs:\n  \
--allow-sql-writes   pg::execute, pg::transaction (as `core_data_runbook`; add `--sql-as-superuser` for DDL)\n  \
--allow-files        fs::write_*, fs::append_csv, fs::prune under backups/\n  \
--allow-backups      backup::run, qa::provision/execute/mask/drop\n  \
--allow-exec         docker::exec of allowlisted programs\n\
(`cargo xtask runbooks --verbose` says which grants each shipped runbook needs; `--dry-run` \
prints what a runbook would do)";

pub(crate) fn run(ctx: &Ctx, args: &Run) -> CmdResult {
    if args.allow_writes {
        return Err(CliError::usage(ALLOW_WRITES_REMOVED));
    }
    if args.max_output_bytes == 0 {
        return Err(CliError::usage("`--max-output-bytes` must be at least 1"));
    }
    let runbook_args = catalog::parse_args(&args.args).map_err(|message| {
        CliError::usage(format!("{message}; pass runbook arguments as `key=value`"))
    })?;
    let limits = Limits {
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_output_bytes: args.max_output_bytes,
        ..Limits::default()
    };
    // Compile every file first: a typo fails here, before Docker or Postgres is touched.
    let catalog = catalog::load(ctx.paths.repo(), &files(&args.files)?, &limits)?
        .map_err(CliError::Rendered)?;
    let grants = Grants {
        sql_writes: args.allow_sql_writes,
        sql_as_superuser: args.sql_as_superuser,
        exec: args.allow_exec,
        backups: args.allow_backups,
        files: args.allow_files,
        dry_run: args.dry_run,
    };
    let stack = Stack::load(ctx.paths.clone())?;
    let code = core_data_runbook::run_on_stack(
        &stack,
        &catalog,
        &args.name,
        &runbook_args,
        grants,
        &limits,
        Arc::new(Terminal),
    )?
    .map_err(CliError::Rendered)?;
    // The runbook's own exit code (0 unless it chose another): an outcome, not an error.
    Ok(ExitCode::from(code))
}

pub(crate) fn bench(ctx: &Ctx, args: &BenchRunbook) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let figures = core_data_runbook::bench::bench_primitive_overhead(&stack, args.calls)?;
    println!("bench runbook: {} build", core_data_ops::bench::BUILD);
    print!("{figures}");
    Ok(ExitCode::SUCCESS)
}
