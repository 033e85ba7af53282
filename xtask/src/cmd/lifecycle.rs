//! `up`, `down`, `status`, `logs`.

use std::io::Write;
use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::progress::Progress;
use core_data_ops::report::{self, StackStatus};
use core_data_ops::stack::{Applied, Stack};

use super::{output, Ctx};
use crate::error::{fail, CmdResult};
use crate::flags::{Down, Init, Logs, Status, Up};
use crate::prompt;

pub(crate) fn up(ctx: &Ctx, args: &Up) -> CmdResult {
    if args.new_cluster && !args.yes {
        fail!("`--new-cluster` starts an empty cluster that takes the backup repository over; add `--yes` to confirm");
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
            workload: None,
            set: Vec::new(),
        };
        super::init::run(ctx, &defaults)?;
    }
    // An upgrade killed before its new server was healthy is rolled back
    // (before `.env` is read: the kill may have left it naming the new major).
    if let Some(said) = core_data_ops::upgrade::recover_pending(&ctx.paths, &ctx.progress())? {
        ctx.progress().status("Recovered", &said);
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
    let mut profiles = args.profile.clone();
    if args.ha {
        // Check, then change: refused before `.env` says `ha`.
        core_data_ops::ha::up::refuse_single_server(&stack)?;
        profiles.push("ha".to_owned());
    }
    let stack = enable_profiles(ctx, stack, &profiles)?;
    if stack.config.ha() {
        return up_ha(&stack, ctx);
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
    for addon in core_data_ops::addons::enabled(&stack.config) {
        println!("  {addon}: running (`cargo xtask logs {addon}`)");
    }
    println!("  cargo xtask psql             # psql as the superuser inside the container");
    println!("  cargo xtask service-urls     # connection URLs for applications");
    Ok(ExitCode::SUCCESS)
}

/// `up --profile NAME`: adds each named add-on to `COMPOSE_PROFILES` in `.env`
/// (so later commands see it too) and says so.
/// `up` of the `ha` topology: what it did and the cluster it left.
fn up_ha(stack: &Stack, ctx: &Ctx) -> CmdResult {
    let report = core_data_ops::ha::up::run(stack, &ctx.progress())?;
    print!("{}", core_data_ops::ha::status::table(&report.status));
    println!(
        "stack `{}` is up (`ha` topology, settled in {:.1}s): read-write on {}:{}, read-only on {}:{} (TLS required)",
        stack.config.project(),
        report.settle_seconds,
        stack.host(),
        stack.config.host_port(),
        stack.host(),
        stack.config.get("HA_READ_ONLY_PORT"),
    );
    Ok(ExitCode::SUCCESS)
}

fn enable_profiles(ctx: &Ctx, stack: Stack, profiles: &[String]) -> anyhow::Result<Stack> {
    let current = stack.config.get("COMPOSE_PROFILES").to_owned();
    let mut wanted: Vec<&str> = current.split(',').filter(|p| !p.is_empty()).collect();
    for profile in profiles {
        if !wanted.contains(&profile.as_str()) {
            wanted.push(profile);
        }
    }
    let joined = wanted.join(",");
    if joined == current {
        return Ok(stack);
    }
    let config = Config::set_in_file(&ctx.paths, "COMPOSE_PROFILES", &joined)?;
    ctx.progress().status(
        "Enabled",
        &format!("COMPOSE_PROFILES={joined} in `{}`", ctx.paths.env_file()),
    );
    Stack::new(ctx.paths.clone(), config)
}

pub(crate) fn down(ctx: &Ctx, args: &Down) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    if args.volumes && !args.yes {
        let question = format!(
            "delete every volume of `{}` (all data, WAL and backups)?",
            stack.config.project()
        );
        if !prompt::confirm(&question)? {
            fail!("`down --volumes` deletes all data; add `--yes` to confirm");
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

pub(crate) fn status(ctx: &Ctx, args: &Status) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let status = report::stack_status(&stack)?;
    if args.format.json() {
        output::print_json(&status)?;
    } else {
        print_status(&status);
    }
    Ok(if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_status(status: &StackStatus) {
    if status.containers.is_empty() {
        println!(
            "stack `{}` has no containers; start it with `cargo xtask up`",
            status.project
        );
        return;
    }
    println!("{:<32} {:<10} {:<10} IMAGE", "CONTAINER", "STATE", "HEALTH");
    for container in &status.containers {
        println!(
            "{:<32} {:<10} {:<10} {}",
            container.name, container.state, container.health, container.image
        );
    }
    for service in &status.unhealthy_services {
        println!(
            "{service}: enabled in COMPOSE_PROFILES but not running healthy; `cargo xtask logs {service}` shows why, `cargo xtask up` starts it"
        );
    }
    if let Some(pending) = &status.interrupted_restore {
        println!(
            "restore: `{}` was interrupted at step `{}`; `cargo xtask up` finishes or rolls it back",
            pending.id, pending.step
        );
    }
    let Some(server) = &status.server else {
        return;
    };
    match (&server.version, &server.archiving) {
        (Some(version), Some(archiving)) => {
            println!("server: {version}");
            println!("WAL archiving: {}", archiving.describe());
        }
        _ => println!(
            "server: not reachable ({})",
            server.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

/// A service's log. For `postgres`, the container's own output (the entrypoint and
/// anything before the logging collector starts), then the server's log file in the
/// `pglog` volume, which `--follow` follows (across the daily switch of files).
pub(crate) fn logs(ctx: &Ctx, args: &Logs) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let server = args.service == "postgres";
    let tail = args.tail.to_string();
    let mut cmd_args = vec!["logs", "--no-color", "--tail", &tail];
    if args.follow && !server {
        cmd_args.push("--follow");
    }
    cmd_args.push(&args.service);
    let status = stack
        .compose()
        .expression(&cmd_args)
        .unchecked()
        .run()?
        .status;
    let code = if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if !server || !status.success() {
        return Ok(code);
    }
    let lines = args.tail as usize;
    let volume = core_data_ops::backup::oneshot::volume_name(&stack, "pglog");
    let current = match core_data_ops::server_log::current(&stack) {
        Ok(Some(current)) => current,
        Ok(None) => {
            eprintln!("note: the server writes no log files yet (its logging collector is not running); `cargo xtask up` applies the logging configuration");
            return Ok(code);
        }
        Err(err) => {
            // Not running (a failed start, a crash loop): the volume is read by a one-shot container.
            match core_data_ops::server_log::tail_stopped(&stack, lines) {
                Ok(Some((path, tail))) => {
                    eprintln!("==> server log {path} (volume `{volume}`; the server is not running) <==");
                    let mut out = std::io::stdout().lock();
                    for line in tail {
                        if writeln!(out, "{line}").is_err() {
                            break;
                        }
                    }
                }
                Ok(None) => eprintln!("note: volume `{volume}` holds no server log yet"),
                Err(read) => eprintln!(
                    "note: the server's log files (volume `{volume}`) could not be read: {err:#}; {read:#}"
                ),
            }
            return Ok(code);
        }
    };
    let path = current.stderr.unwrap_or_default();
    eprintln!("==> server log {path} (volume `{volume}`) <==");
    let stdout = std::io::stdout();
    if args.follow {
        core_data_ops::server_log::follow(&stack, lines, &mut stdout.lock())?;
    } else if let Some((_, tail)) = core_data_ops::server_log::tail(&stack, lines)? {
        let mut out = stdout.lock();
        for line in tail {
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
    }
    Ok(code)
}
