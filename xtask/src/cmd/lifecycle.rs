//! `up`, `down`, `status`, `logs`.

use std::process::ExitCode;

use anyhow::bail;
use core_data_ops::backup::archiver;
use core_data_ops::config::Config;
use core_data_ops::progress::Progress;
use core_data_ops::stack::{Applied, Stack};

use super::Ctx;
use crate::flags::{Down, Init, Logs, Up};
use crate::prompt;

pub(crate) fn up(ctx: &Ctx, args: &Up) -> anyhow::Result<ExitCode> {
    if args.new_cluster && !args.yes {
        bail!("`--new-cluster` starts an empty cluster that takes the backup repository over; add `--yes` to confirm");
    }
    if !ctx.paths.env_file().exists() {
        eprintln!(
            "{:>12} no configuration yet; writing defaults with fresh secrets",
            "Init"
        );
        let defaults = Init {
            non_interactive: true,
            force: false,
            memory: None,
            cpus: None,
            set: Vec::new(),
        };
        super::init::run(ctx, &defaults)?;
    }
    // Checked before anything touches Docker: a bad value starts nothing.
    let config = Config::load(&ctx.paths)?;
    let stack = Stack::new(ctx.paths.clone(), config)?;
    if args.new_cluster {
        core_data_ops::backup::restore::new_cluster::allow(&stack)?;
        ctx.progress().status(
            "Allowed",
            "a new, empty cluster over the existing backup repository",
        );
    }
    let report = stack.up(&ctx.progress())?;
    if let Some(recovered) = &report.recovered {
        println!("{recovered}");
    }
    if report.nothing_changed() {
        println!(
            "stack `{}` is already up and healthy; nothing changed",
            stack.config.project()
        );
        return Ok(ExitCode::SUCCESS);
    }
    match &report.applied {
        Applied::Reloaded(changed) => println!(
            "configuration reloaded ({} setting(s) changed)",
            changed.len()
        ),
        Applied::Restarted(settings) => {
            println!("server restarted to apply {}", settings.join(", "))
        }
        Applied::Started | Applied::Nothing => {}
    }
    println!(
        "stack `{}` is up: PostgreSQL on {}:{} (TLS required)",
        stack.config.project(),
        stack.host(),
        stack.config.host_port()
    );
    println!("  cargo xtask psql             # psql as the superuser inside the container");
    println!("  cargo xtask service-urls     # connection URLs for applications");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn down(ctx: &Ctx, args: &Down) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    if args.volumes && !args.yes {
        let question = format!(
            "delete every volume of `{}` (all data, WAL and backups)?",
            stack.config.project()
        );
        if !prompt::confirm(&question)? {
            bail!("`down --volumes` deletes all data; add `--yes` to confirm");
        }
    }
    stack.down(args.volumes, &ctx.progress())?;
    println!(
        "stack `{}` is down{}",
        stack.config.project(),
        if args.volumes {
            " and its volumes deleted"
        } else {
            "; data volumes kept"
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let containers = stack.docker.project_containers(stack.config.project())?;
    if containers.is_empty() {
        println!(
            "stack `{}` has no containers; start it with `cargo xtask up`",
            stack.config.project()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("{:<32} {:<10} {:<10} IMAGE", "CONTAINER", "STATE", "HEALTH");
    for container in &containers {
        let name = container
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map_or("", |n| n.trim_start_matches('/'));
        let health = stack.docker.health(name)?.unwrap_or_default();
        let state = container
            .state
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        println!(
            "{name:<32} {state:<10} {health:<10} {}",
            container.image.as_deref().unwrap_or("")
        );
    }
    if let Some(pending) = core_data_ops::backup::restore::pending_journal(&stack.paths)? {
        println!(
            "restore: `{}` was interrupted at step {:?}; `cargo xtask up` finishes or rolls it back",
            pending.id, pending.step
        );
    }
    match stack.connect("postgres") {
        Ok(mut client) => {
            let version: String = client.query_one("SELECT version()", &[])?.get(0);
            println!("server: {version}");
            let archiving = archiver::status(&mut client)?;
            println!("WAL archiving: {}", archiving.describe());
            let grace = stack
                .config
                .get("HEALTH_ARCHIVE_FAILURE_GRACE_SECONDS")
                .parse()
                .unwrap_or(300);
            Ok(if archiving.unhealthy(grace) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(err) => {
            println!("server: not reachable ({err:#})");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn logs(ctx: &Ctx, args: &Logs) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let tail = args.tail.to_string();
    let mut cmd_args = vec!["logs", "--no-color", "--tail", &tail];
    if args.follow {
        cmd_args.push("--follow");
    }
    cmd_args.push("postgres");
    let status = stack
        .compose()
        .expression(&cmd_args)
        .unchecked()
        .run()?
        .status;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
