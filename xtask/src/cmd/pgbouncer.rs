//! `pgbouncer stats|pools|clients|servers|reload`.

use std::process::ExitCode;

use core_data_ops::addons::pgbouncer::admin::{self, Show, Table};
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{FormatArg, PgbouncerCommand};

pub(crate) fn run(ctx: &Ctx, command: &PgbouncerCommand) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let (what, format) = match command {
        PgbouncerCommand::Stats(format) => (Show::Stats, format),
        PgbouncerCommand::Pools(format) => (Show::Pools, format),
        PgbouncerCommand::Clients(format) => (Show::Clients, format),
        PgbouncerCommand::Servers(format) => (Show::Servers, format),
        PgbouncerCommand::Reload => {
            admin::reload(&stack)?;
            ctx.progress().status(
                "Reloaded",
                "PgBouncer re-reads rendered/pgbouncer/pgbouncer.ini (errors appear in `cargo xtask logs pgbouncer`)",
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    let table = admin::show(&stack, what)?;
    print(&table, *format)?;
    Ok(ExitCode::SUCCESS)
}

fn print(table: &Table, format: FormatArg) -> anyhow::Result<()> {
    if format.json() {
        return output::print_json(table);
    }
    let cell = |value: &Option<String>| value.clone().unwrap_or_default();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            table
                .rows
                .iter()
                .map(|row| cell(&row[i]).chars().count())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(table.columns.clone()));
    for row in &table.rows {
        println!("{}", line(row.iter().map(cell).collect()));
    }
    if table.rows.is_empty() {
        println!("({}: no rows)", table.command);
    }
    Ok(())
}
