//! `version-status`, `exercise-extensions` and `pgtap-smoke`.

use core_data_ops::audit::{exercise, pgtap, versions, Audit};
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;

use super::audit::{exit, report};
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{ExerciseExtensions, PgtapSmoke, VersionStatus};

pub(crate) fn version_status(ctx: &Ctx, args: &VersionStatus) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::with_defaults(&stack, &[])?;
    ctx.progress().status(
        "Asking",
        "the Debian mirror from a one-shot container (apt-cache policy)",
    );
    report(&args.report, &versions::run(&audit, &args.network)?)
}

pub(crate) fn exercise(ctx: &Ctx, args: &ExerciseExtensions) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    // The scope is resolved as the auditor, like every audit's.
    let audit = Audit::with_defaults(&stack, &args.db.databases)?;
    report(
        &args.report,
        &exercise::run(&stack, &audit.databases, &ctx.progress())?,
    )
}

pub(crate) fn pgtap_smoke(ctx: &Ctx, args: &PgtapSmoke) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::with_defaults(&stack, &args.db.databases)?;
    let mut failed = false;
    for database in &audit.databases {
        let tap = pgtap::run(&stack, database)?;
        println!("# database {database}");
        for line in &tap.lines {
            println!("{line}");
        }
        failed |= !tap.passed();
    }
    Ok(exit(failed))
}
