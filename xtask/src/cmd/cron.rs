//! `cron list` and `test-dataset install`.

use std::process::ExitCode;

use core_data_ops::maintenance::{cron_list, dataset};
use core_data_ops::stack::Stack;

use super::output::print_json;
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{CronList, TestDatasetInstall};

pub(crate) fn list(ctx: &Ctx, args: &CronList) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let jobs = cron_list::list(&mut stack.connect("postgres")?)?;
    if args.format.json() {
        print_json(&jobs)?;
    } else {
        println!("{}", cron_list::table(&jobs));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn test_dataset(ctx: &Ctx, args: &TestDatasetInstall) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let report = dataset::install(&stack, &args.db, &args.owner, &ctx.progress())?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
