//! `daily-maintenance`: writes the bundle through `core_data_ops::daily`,
//! prints where its index is, and exits 1 when a finding crosses a threshold
//! or a step failed.

use core_data_ops::daily::{self, Options};
use core_data_ops::stack::Stack;

use super::audit::{exit, thresholds};
use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::DailyMaintenance;

pub(crate) fn run(ctx: &Ctx, args: &DailyMaintenance) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let options = Options {
        date: args.date.clone(),
        retention_days: args.retention_days,
        thresholds: thresholds(&stack.config, &args.thresholds)?,
        network: args.network.clone(),
    };
    let outcome = daily::run(&stack, &options, &ctx.progress())?;
    let index = outcome.dir.join("index.html");
    println!("{index}");
    let failed = outcome.failed_steps();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|step| format!("`{}`: {}", step.name, step.detail))
            .collect();
        fail!(
            "the daily bundle {} is incomplete; failed step(s): {}\n\
             fix the cause and run `cargo xtask daily-maintenance` again (a new run is written beside this one)",
            outcome.dir,
            list.join("; ")
        );
    }
    if outcome.problems > 0 {
        eprintln!(
            "daily-maintenance: {} finding(s) cross a threshold; see {index}",
            outcome.problems
        );
    } else {
        eprintln!("daily-maintenance: clean; see {index}");
    }
    Ok(exit(outcome.problems > 0))
}
