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
    /// Grant the write primitives (`pg::execute`, `docker::exec`, `fs::write_*`, ...); without it they do not exist.
    #[arg(long)]
    pub(crate) allow_writes: bool,
    /// Register the write primitives, but print each call instead of making it.
    #[arg(long, conflicts_with = "allow_writes")]
    pub(crate) dry_run: bool,
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

pub(crate) fn run(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let runbook_args = match catalog::parse_args(&args.args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}; pass runbook arguments as `key=value`");
            return Ok(ExitCode::from(2));
        }
    };
    let limits = Limits {
        timeout: Duration::from_secs(args.timeout.max(1)),
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
        allow_writes: args.allow_writes,
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
