//! `ha status`, `switchover`, `failover`, `reinit`, `pause`, `resume`,
//! `restart` and `config apply` (see `core_data_ops::ha`). Each operation
//! prints what it did, how long it took and the cluster afterwards.

use std::process::ExitCode;

use core_data_ops::ha::{config_apply, control, restart, status};
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{HaConfigCommand, HaFailover, HaReinit, HaRestart, HaStatus, HaSwitchover};

/// The stack, refusing a single-server one.
fn ha_stack(ctx: &Ctx) -> anyhow::Result<Stack> {
    let stack = Stack::load(ctx.paths.clone())?;
    if !stack.config.ha() {
        anyhow::bail!(
            "stack `{}` runs the single-server topology (`ha` is not in COMPOSE_PROFILES); \
             `cargo xtask up --ha` starts the high-availability one",
            stack.config.project()
        );
    }
    Ok(stack)
}

pub(crate) fn status(ctx: &Ctx, args: &HaStatus) -> CmdResult {
    let stack = ha_stack(ctx)?;
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

fn report(outcome: &control::Outcome) -> CmdResult {
    println!("{} ({:.1}s)\n", outcome.did, outcome.seconds);
    print!("{}", status::table(&outcome.status));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn switchover(ctx: &Ctx, args: &HaSwitchover) -> CmdResult {
    let stack = ha_stack(ctx)?;
    report(&control::switchover(
        &stack,
        args.to.as_deref(),
        &ctx.progress(),
    )?)
}

pub(crate) fn failover(ctx: &Ctx, args: &HaFailover) -> CmdResult {
    let stack = ha_stack(ctx)?;
    if !args.yes {
        let (members, missing) = status::members(&stack.docker, &stack.config)?;
        let now = status::Status {
            members,
            missing,
            etcd: Vec::new(),
        };
        control::check_failover(&stack.config, &now, &args.to)?;
        println!("would {}", control::failover_plan(&now, &args.to));
        println!("nothing was changed; add `--yes` to run it");
        return Ok(ExitCode::FAILURE);
    }
    report(&control::failover(&stack, &args.to, &ctx.progress())?)
}

pub(crate) fn reinit(ctx: &Ctx, args: &HaReinit) -> CmdResult {
    let stack = ha_stack(ctx)?;
    if !args.yes {
        let now = status::read(&stack.docker, &stack.config)?;
        control::check_reinit(&stack.config, &now, &args.node)?;
        println!(
            "would delete {}'s data and copy it again from the leader {}",
            args.node,
            now.leader().map_or("", |l| l.name.as_str())
        );
        println!("nothing was changed; add `--yes` to run it");
        return Ok(ExitCode::FAILURE);
    }
    report(&control::reinit(&stack, &args.node, &ctx.progress())?)
}

pub(crate) fn pause(ctx: &Ctx, paused: bool) -> CmdResult {
    let stack = ha_stack(ctx)?;
    report(&control::set_paused(&stack, paused, &ctx.progress())?)
}

pub(crate) fn restart(ctx: &Ctx, args: &HaRestart) -> CmdResult {
    let stack = ha_stack(ctx)?;
    let (outcome, steps) = restart::rolling(&stack, args.pending, &ctx.progress())?;
    for step in &steps {
        println!("{}: {} ({:.1}s)", step.node, step.what, step.seconds);
    }
    report(&outcome)
}

pub(crate) fn config(ctx: &Ctx, command: &HaConfigCommand) -> CmdResult {
    let HaConfigCommand::Apply = command;
    let stack = ha_stack(ctx)?;
    let applied = config_apply::apply(&stack, &ctx.progress())?;
    for change in &applied.changes {
        println!(
            "set {}: {} -> {}",
            change.key,
            change.from.as_deref().unwrap_or("(unset)"),
            change.to
        );
    }
    for file in &applied.files_changed {
        println!("installed {file}");
    }
    for step in &applied.restarts {
        println!("{}: {} ({:.1}s)", step.node, step.what, step.seconds);
    }
    report(&applied.outcome)
}
