//! `config apply` and `config show`.

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::render;
use core_data_ops::stack::{Applied, Stack};

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::ConfigShow;

pub(crate) fn apply(ctx: &Ctx) -> CmdResult {
    core_data_ops::upgrade::refuse_if_pending(&ctx.paths, "config apply")?;
    let stack = Stack::load(ctx.paths.clone())?;
    core_data_ops::ha::refuse_in_ha(
        &stack.config,
        "config apply",
        "`cargo xtask ha config apply` puts .env into the running cluster (Patroni's dynamic \
         configuration, a reload, and rolling restarts where needed).",
    )?;
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

pub(crate) fn show(ctx: &Ctx, args: &ConfigShow) -> CmdResult {
    let mut config = Config::load(&ctx.paths)?;
    if let Some(workload) = &args.workload {
        config = config.with_workload(workload)?;
    }
    if !args.diff {
        for rendered in render::render(&ctx.paths, &config)? {
            if rendered.name == "postgresql.conf" {
                print!("{}", rendered.text);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let plan = render::plan(&ctx.paths, &config)?;
    let changed = &plan.outcome.changed_settings;
    let what = match &args.workload {
        Some(workload) => format!("with PG_WORKLOAD={workload}"),
        None => "with the current .env".to_owned(),
    };
    if plan.outcome.changed_files.is_empty() {
        println!("{what}: nothing would change");
        print_pinned(&config, args);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{what}, `config apply` would change:");
    for setting in changed {
        println!(
            "  {:<36} {} -> {}",
            setting.name,
            setting.old.as_deref().unwrap_or("(unset)"),
            setting.new.as_deref().unwrap_or("(removed)")
        );
    }
    let others: Vec<&str> = plan
        .outcome
        .changed_files
        .iter()
        .copied()
        .filter(|file| *file != "postgresql.conf")
        .collect();
    if !others.is_empty() {
        println!("  and the files {}", others.join(", "));
    }
    print_pinned(&config, args);
    if args.workload.is_some() {
        println!(
            "set PG_WORKLOAD in .env (the tuning keys left `auto` follow it), then run `cargo xtask config apply`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// With `--workload`: the tuning keys `.env` pins, which a workload does not change
/// (an `.env` written before `auto` existed pins them all).
fn print_pinned(config: &Config, args: &ConfigShow) {
    let pinned = config.pinned_tuning_keys();
    if args.workload.is_some() && !pinned.is_empty() {
        println!(
            "pinned in .env, so not following PG_WORKLOAD: {} (write `auto` to let them follow)",
            pinned.join(", ")
        );
    }
}
