//! `version-status`, `exercise-extensions` and `pgtap-smoke`.

use std::process::ExitCode;

use core_data_ops::audit::{exercise, pgtap, versions, Audit, Thresholds};
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;

use super::audit::{emit_report, exit};
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{ExerciseExtensions, PgtapSmoke, VersionStatus};

pub(crate) fn version_status(ctx: &Ctx, args: &VersionStatus) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::open(&stack, Thresholds::from_config(&stack.config)?, &[])?;
    ctx.progress().status(
        "Asking",
        "the Debian mirror from a one-shot container (apt-cache policy)",
    );
    let report = versions::run(&audit, &args.network)?;
    emit_report(&args.report, &report)?;
    Ok(exit(report.failed()))
}

pub(crate) fn exercise(ctx: &Ctx, args: &ExerciseExtensions) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    // The scope is resolved as the auditor, like every audit's.
    let audit = Audit::open(
        &stack,
        Thresholds::from_config(&stack.config)?,
        &args.db.databases,
    )?;
    let report = exercise::run(&stack, &audit.databases, &ctx.progress())?;
    emit_report(&args.report, &report)?;
    Ok(exit(report.failed()))
}

pub(crate) fn pgtap_smoke(ctx: &Ctx, args: &PgtapSmoke) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::open(
        &stack,
        Thresholds::from_config(&stack.config)?,
        &args.db.databases,
    )?;
    let mut failed = false;
    for database in &audit.databases {
        let tap = pgtap::run(&stack, database)?;
        println!("# database {database}");
        for line in &tap.lines {
            println!("{line}");
        }
        failed |= !tap.passed();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
