//! Logical backups: `dump`, `dump --all`, `dump-sql`, `restore-dump` and
//! `dump-status` (the `logical_backup` sidecar's status file). Flags live here
//! beside their commands; `flags.rs` embeds them.

use std::process::ExitCode;

use anyhow::bail;
use camino::Utf8PathBuf;
use core_data_ops::backup::{leftovers, logical};
use core_data_ops::pg::bootstrap;
use core_data_ops::stack::Stack;

use super::Ctx;
use crate::prompt;

#[derive(Debug, clap::Args)]
pub(crate) struct Dump {
    /// Database to dump (custom format, zstd-compressed; restore it with `restore-dump`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) database: Option<String>,
    /// Every database (templates excluded) plus the globals, into `backups/all-<UTC timestamp>/`.
    #[arg(long)]
    pub(crate) all: bool,
    /// Write here instead of `backups/<db>-<UTC timestamp>.dump` (must not exist).
    #[arg(long, short, value_name = "FILE", conflicts_with = "all")]
    pub(crate) output: Option<Utf8PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DumpSql {
    /// Database to dump as plain SQL.
    pub(crate) database: String,
    /// Write here instead of `backups/<db>-<UTC timestamp>.sql` (must not exist).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<Utf8PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestoreDump {
    /// A file written by `dump` (custom format) or `dump-sql` (plain SQL).
    pub(crate) file: Utf8PathBuf,
    /// Database to restore into; a new name, or an existing one with `--yes`.
    pub(crate) database: String,
    /// Replace an existing database (its sessions are ended; it is dropped only after the restored copy is complete).
    #[arg(long)]
    pub(crate) yes: bool,
    /// Parallel restore jobs for custom-format files under `backups/` (default: the container's CPUs, at most 8).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) jobs: Option<u32>,
    /// Restore a file core_data did not write (no matching `<file>.sha256` beside it). Its SQL runs as the
    /// superuser: only for files you trust. psql meta-commands stay refused either way.
    #[arg(long)]
    pub(crate) trust: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DumpStatus {
    /// Print the status file as JSON instead of a summary.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn dump(ctx: &Ctx, args: &Dump) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    if args.all {
        let all = logical::dump_all(&stack, &ctx.progress())?;
        println!("{}", all.dir);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(database) = args.database.as_deref() else {
        bail!("name a database, or use `--all`")
    };
    let dumped = logical::dump(&stack, database, args.output.as_deref(), &ctx.progress())?;
    println!("{}", dumped.path);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn dump_sql(ctx: &Ctx, args: &DumpSql) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let dumped = logical::dump_sql(
        &stack,
        &args.database,
        args.output.as_deref(),
        &ctx.progress(),
    )?;
    println!("{}", dumped.path);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn restore_dump(ctx: &Ctx, args: &RestoreDump) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let mut yes = args.yes;
    if !yes && prompt::is_interactive() {
        let mut client = stack.connect("postgres")?;
        if bootstrap::database_exists(&mut client, &args.database)? {
            yes = prompt::confirm(&format!(
                "replace database `{}` with the contents of `{}`?",
                args.database, args.file
            ))?;
        }
    }
    let options = logical::RestoreOptions {
        yes,
        jobs: args.jobs,
        trust: args.trust,
    };
    let restored = logical::restore_dump(
        &stack,
        &args.file,
        &args.database,
        &options,
        &ctx.progress(),
    )?;
    let verb = if restored.replaced {
        "replaced"
    } else {
        "created"
    };
    println!(
        "{verb} `{}` from `{}` in {:.1}s",
        restored.database,
        args.file,
        restored.duration.as_secs_f64()
    );
    if !restored.carried.is_empty() {
        println!("carried over: {}", restored.carried.join(", "));
    }
    for warning in &restored.warnings {
        println!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Exits 1 when the sidecar is unhealthy (last run failed, or overdue) or an interrupted
/// `restore-dump` left databases behind, so scripts can alert on it.
pub(crate) fn sidecar_status(ctx: &Ctx, args: &DumpStatus) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let leftovers = match stack.connect("postgres") {
        Ok(mut admin) => leftovers::find(&mut admin)?,
        Err(err) => {
            eprintln!("warning: could not check for databases left by an interrupted restore-dump: {err:#}");
            Vec::new()
        }
    };
    for leftover in &leftovers {
        // On stderr with `--json`, so stdout stays one JSON document.
        if args.json {
            eprintln!("leftover: {}", leftover.describe());
        } else {
            println!("leftover:      {}", leftover.describe());
        }
    }
    if !leftovers.is_empty() && !args.json {
        println!();
    }
    let status = match logical::sidecar_status(&stack) {
        Ok(status) => status,
        Err(err) if !leftovers.is_empty() => {
            eprintln!("error: {err:#}");
            return Ok(ExitCode::FAILURE);
        }
        Err(err) => return Err(err),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let problem = status.problem(i64::try_from(now).unwrap_or(i64::MAX));
    if args.json {
        println!("{}", status.to_json());
    } else {
        print_status(&stack, &status, problem.as_deref());
    }
    Ok(if problem.is_some() || !leftovers.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_status(stack: &Stack, status: &logical::Status, problem: Option<&str>) {
    let dir = logical::sidecar_dir(stack);
    println!(
        "sidecar:       `{}` every {}s into `{dir}`, kept {}s",
        logical::sidecar_container(stack),
        status.interval_seconds,
        status.retention_seconds
    );
    if !status.excluded.is_empty() {
        println!("excluded:      {}", status.excluded.join(", "));
    }
    println!(
        "last success:  {} ({})",
        status.last_success.as_deref().unwrap_or("never"),
        status.last_success_directory.as_deref().unwrap_or("-")
    );
    if let Some(failure) = &status.last_failure {
        println!(
            "last failure:  {failure}: {}",
            status
                .last_failure_error
                .as_deref()
                .unwrap_or("no error text recorded")
        );
    }
    if let Some(run) = &status.last_run {
        let verdict = if run.ok { "ok" } else { "FAILED" };
        println!(
            "last run:      {verdict}, {} to {} ({:.1}s), `{}`",
            run.started, run.finished, run.seconds, run.directory
        );
        for entry in run.databases.iter().chain(run.globals.iter()) {
            match &entry.error {
                None => println!(
                    "  {:<24} {:>10}  {:>6.1}s",
                    entry.name,
                    logical::human_bytes(entry.bytes),
                    entry.seconds
                ),
                Some(error) => println!("  {:<24} FAILED: {}", entry.name, error.trim()),
            }
        }
    }
    match problem {
        Some(problem) => println!("health:        unhealthy: {problem}"),
        None => println!("health:        ok"),
    }
}
