//! Logical backups: `dump`, `dump --all`, `dump-sql`, `restore-dump` and
//! `dump-status` (the `logical_backup` sidecar's status file and the databases
//! an interrupted `restore-dump` left).

use std::process::ExitCode;

use core_data_ops::backup::logical;
use core_data_ops::pg::bootstrap;
use core_data_ops::report::{self, DumpStatus as Report};
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::{fail, CmdResult};
use crate::flags::{Dump, DumpSql, DumpStatus, RestoreDump};
use crate::prompt;

pub(crate) fn dump(ctx: &Ctx, args: &Dump) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    if args.all {
        let all = logical::dump_all(&stack, &ctx.progress())?;
        println!("{}", all.dir);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(database) = args.database.as_deref() else {
        fail!("name a database, or use `--all`")
    };
    let dumped = logical::dump(&stack, database, args.output.as_deref(), &ctx.progress())?;
    println!("{}", dumped.path);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn dump_sql(ctx: &Ctx, args: &DumpSql) -> CmdResult {
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

pub(crate) fn restore_dump(ctx: &Ctx, args: &RestoreDump) -> CmdResult {
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
pub(crate) fn sidecar_status(ctx: &Ctx, args: &DumpStatus) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let leftovers = report::dump_leftovers(&stack).unwrap_or_else(|err| {
        eprintln!(
            "warning: could not check for databases left by an interrupted restore-dump: {err:#}"
        );
        Vec::new()
    });
    for leftover in &leftovers {
        // On stderr with `--format json`, so stdout stays one JSON document.
        if args.json() {
            eprintln!("leftover: {}", leftover.description);
        } else {
            println!("leftover:      {}", leftover.description);
        }
    }
    if !leftovers.is_empty() && !args.json() {
        println!();
    }
    let status = report::dump_status(&stack, leftovers)?;
    if args.json() {
        output::print_json(&status)?;
    } else {
        print_status(&stack, &status);
    }
    Ok(if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_status(stack: &Stack, report: &Report) {
    let status = &report.sidecar;
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
    match &report.problem {
        Some(problem) => println!("health:        unhealthy: {problem}"),
        None => println!("health:        ok"),
    }
}
