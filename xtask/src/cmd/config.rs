//! `config apply` and `config show`.

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::render;
use core_data_ops::stack::{Applied, Stack};

use super::Ctx;
use crate::error::CmdResult;

pub(crate) fn apply(ctx: &Ctx) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    match stack.apply(&ctx.progress())? {
        Applied::Nothing => println!("configuration unchanged; nothing to apply"),
        Applied::Reloaded(changed) => {
            println!("reloaded; no restart needed");
            for setting in changed {
                println!(
                    "  {} = {}",
                    setting.name,
                    setting.new.as_deref().unwrap_or("(default)")
                );
            }
        }
        Applied::Restarted(settings) => println!("restarted to apply {}", settings.join(", ")),
        Applied::Started => println!("started on the new configuration"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn show(ctx: &Ctx) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    for rendered in render::render(&ctx.paths, &config)? {
        if rendered.name == "postgresql.conf" {
            print!("{}", rendered.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
