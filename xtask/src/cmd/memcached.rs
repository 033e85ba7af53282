//! `memcached stats` (see `core_data_ops::addons::memcached`).

use std::process::ExitCode;

use core_data_ops::addons::memcached;
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::MemcachedCommand;

pub(crate) fn run(ctx: &Ctx, command: &MemcachedCommand) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    match command {
        MemcachedCommand::Stats(format) => {
            let stats = memcached::stats(&stack)?;
            if format.json() {
                output::print_json(&stats)?;
            } else {
                let width = stats.iter().map(|s| s.name.len()).max().unwrap_or(0);
                for stat in &stats {
                    println!("{:<width$}  {}", stat.name, stat.value);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
