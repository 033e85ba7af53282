//! `compact` and `partman …`: call `core_data_ops::maintenance` and print.

use std::process::ExitCode;

use core_data_ops::maintenance::{compact, partman, session};
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{Compact, PartmanCommand, PartmanCreateParent};

pub(crate) fn compact(ctx: &Ctx, args: &Compact) -> CmdResult {
    let options = compact::Options {
        level: args.level,
        databases: args.databases.clone(),
        tables: args.tables.clone(),
        yes: args.yes,
        lock_timeout: session::parse_timeout(&args.lock_timeout)?,
    };
    let stack = Stack::load(ctx.paths.clone())?;
    let outcome = compact::run(&stack, &options, &ctx.progress())?;
    print!("{}", outcome.render());
    println!("log: {}", outcome.log);
    Ok(if outcome.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn partman(ctx: &Ctx, command: &PartmanCommand) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    match command {
        PartmanCommand::Show(args) => {
            let sets = partman::show(&stack, &args.databases, args.parent.as_deref())?;
            if args.format.json() {
                output::print_json(&sets)?;
            } else if sets.is_empty() {
                println!("no pg_partman partition sets in the databases in scope");
            } else {
                println!(
                    "{:<12} {:<32} {:<14} {:<10} {:>7} {:<10} {:>5} {:<40} LAST MAINTENANCE",
                    "DATABASE",
                    "PARENT",
                    "CONTROL",
                    "INTERVAL",
                    "PREMAKE",
                    "RETENTION",
                    "PARTS",
                    "NEWEST"
                );
                for s in &sets {
                    println!(
                        "{:<12} {:<32} {:<14} {:<10} {:>7} {:<10} {:>5} {:<40} {}",
                        s.database,
                        s.parent,
                        s.control,
                        s.interval,
                        s.premake,
                        s.retention.as_deref().unwrap_or("-"),
                        s.partitions,
                        s.newest.as_deref().unwrap_or("-"),
                        s.last_maintenance.as_deref().unwrap_or("never"),
                    );
                }
            }
        }
        PartmanCommand::Maintenance(args) => {
            let runs = partman::maintenance(&stack, &args.databases)?;
            if runs.is_empty() {
                println!("no database in scope has pg_partman");
            }
            for run in &runs {
                if run.created.is_empty() && run.removed.is_empty() {
                    println!(
                        "{}: maintenance ran; nothing to create or remove",
                        run.database
                    );
                }
                for name in &run.created {
                    println!("{}: created {name}", run.database);
                }
                for name in &run.removed {
                    println!("{}: removed from its set (retention) {name}", run.database);
                }
            }
        }
        PartmanCommand::CreateParent(args) => create_parent(&stack, args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn create_parent(stack: &Stack, args: &PartmanCreateParent) -> anyhow::Result<()> {
    let request = partman::CreateParent {
        database: args.database.clone(),
        table: args.table.clone(),
        column: args.column.clone(),
        interval: args.interval.clone(),
        premake: args.premake,
        retention: args.retention.clone(),
        start: args.start.clone(),
    };
    let created = partman::create_parent(stack, &request)?;
    println!(
        "{}: {} is managed by pg_partman with {} partition(s):",
        created.database,
        created.parent,
        created.partitions.len()
    );
    for name in &created.partitions {
        println!("  {name}");
    }
    Ok(())
}
