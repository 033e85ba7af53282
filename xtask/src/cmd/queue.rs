//! `async-queue install|status`: the job queue's schema in one database.

use std::process::ExitCode;

use core_data_ops::maintenance::queue;
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;

use super::output::print_json;
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{AsyncQueueInstall, AsyncQueueStatus, AsyncQueueTarget};

/// The stack and the database the command works in.
fn open(ctx: &Ctx, target: &AsyncQueueTarget) -> anyhow::Result<(Stack, String)> {
    queue::QueueNames::new(&target.schema)?;
    let stack = Stack::load(ctx.paths.clone())?;
    let database = queue::target_database(&stack, target.db.as_deref())?;
    Ok((stack, database))
}

pub(crate) fn install(ctx: &Ctx, args: &AsyncQueueInstall) -> CmdResult {
    let (stack, database) = open(ctx, &args.target)?;
    ctx.progress().status(
        "Installing",
        &format!("queue schema `{}` in `{database}`", args.target.schema),
    );
    let (report, jobs) = queue::install_in(&stack, &database, &args.target.schema)?;
    for job in jobs {
        println!("{job}");
    }
    if report.applied.is_empty() {
        println!(
            "queue schema `{}` in `{database}` is at version {}; nothing to do",
            report.schema, report.to_version
        );
    } else {
        println!(
            "queue schema `{}` in `{database}`: version {} -> {} (applied {}); roles `{}` (enqueue) and `{}` (dequeue, complete, fail, extend_lease)",
            report.schema,
            report.from_version,
            report.to_version,
            report
                .applied
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            report.producer_role,
            report.worker_role
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status(ctx: &Ctx, args: &AsyncQueueStatus) -> CmdResult {
    let (stack, database) = open(ctx, &args.target)?;
    let status = queue::status_in(&stack, &database, &args.target.schema)?;
    if args.format.json() {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "queue schema `{}` in `{database}`: version {} (this build installs {})",
        status.schema, status.version, status.latest_version
    );
    if status.queues.is_empty() {
        println!("no queues yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>7} {:>12} {:>9} {:>9}",
        "QUEUE", "READY", "SCHEDULED", "RUNNING", "DEAD", "OLDEST READY", "DONE/MIN", "DONE/HOUR"
    );
    for q in &status.queues {
        let oldest = q
            .oldest_ready_age_seconds
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"));
        println!(
            "{:<24} {:>9} {:>9} {:>9} {:>7} {:>12} {:>9} {:>9}",
            q.queue,
            q.ready,
            q.scheduled,
            q.running,
            q.dead,
            oldest,
            q.completed_last_minute,
            q.completed_last_hour
        );
    }
    Ok(ExitCode::SUCCESS)
}
