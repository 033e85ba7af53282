//! `old-clusters [--remove NAME [--yes]]` (see `core_data_ops::backup::old_clusters`).

use std::process::ExitCode;

use core_data_ops::backup::dump::human_bytes;
use core_data_ops::backup::old_clusters::{self, Entry};
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::OldClusters;

pub(crate) fn run(ctx: &Ctx, args: &OldClusters) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let Some(name) = &args.remove else {
        return list(&stack, args.format.json());
    };
    if !args.yes {
        let entry = old_clusters::plan_removal(&stack, name)?;
        println!("would remove `{}` ({}):", entry.name, summary(&entry));
        print_dirs(&entry);
        println!("nothing was changed; add `--yes` to remove it");
        return Ok(ExitCode::FAILURE);
    }
    let entry = old_clusters::remove(&stack, name)?;
    println!("removed `{}` ({}):", entry.name, summary(&entry));
    print_dirs(&entry);
    Ok(ExitCode::SUCCESS)
}

fn list(stack: &Stack, json: bool) -> CmdResult {
    let report = old_clusters::list(stack)?;
    if json {
        output::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.entries.is_empty() {
        println!(
            "no set-aside copies in the data and WAL volumes of `{}`",
            report.project
        );
    }
    for entry in &report.entries {
        println!("{}  {}", entry.name, summary(entry));
        print_dirs(entry);
        if let Some(owner) = &entry.in_use_by {
            println!("    still needed by {owner}");
        }
    }
    if !report.entries.is_empty() {
        println!(
            "{} in {} entr{}; remove one with `cargo xtask old-clusters --remove NAME --yes`",
            human_bytes(report.total_bytes),
            report.entries.len(),
            if report.entries.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    for pending in &report.pending {
        println!(
            "note: {} is pending, so nothing can be removed; {}",
            pending.describe(),
            pending.hint()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `restore 20261203T061500Z, PostgreSQL 17, 41.2 MB`.
fn summary(entry: &Entry) -> String {
    let major = entry.pg_major.map_or_else(
        || "no PG_VERSION".to_owned(),
        |major| format!("PostgreSQL {major}"),
    );
    format!(
        "{} {}, {major}, {}",
        entry.kind,
        entry.id,
        human_bytes(entry.bytes)
    )
}

fn print_dirs(entry: &Entry) {
    for dir in entry.dirs() {
        let size = dir
            .bytes
            .map_or_else(|| "size unknown".to_owned(), human_bytes);
        println!("    {} ({size})", dir.path);
    }
}
