//! `ha status` (see `core_data_ops::ha`).

use std::process::ExitCode;

use core_data_ops::ha::status;
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::HaStatus;

pub(crate) fn status(ctx: &Ctx, args: &HaStatus) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    if !stack.config.ha() {
        crate::error::fail!(
            "stack `{}` runs the single-server topology (`ha` is not in COMPOSE_PROFILES); \
             `cargo xtask up --ha` starts the high-availability one",
            stack.config.project()
        );
    }
    let status = status::read(&stack.docker, &stack.config)?;
    if args.format.json() {
        output::print_json(&status)?;
    } else {
        print!("{}", status::table(&status));
    }
    Ok(
        if status.settled() && status.etcd.iter().all(|e| e.healthy) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
