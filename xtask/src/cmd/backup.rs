//! `backup` (take, verify, info, check, expire), `restore`, `provision-qa`.

use std::process::ExitCode;

use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::backup::{qa, restore as restore_ops, verify};
use core_data_ops::stack::Stack;

use super::Ctx;
use crate::flags::{Backup, BackupAction, ProvisionQa, Restore};

pub(crate) fn backup(ctx: &Ctx, args: &Backup) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let progress = ctx.progress();
    match &args.action {
        Some(BackupAction::Info) => {
            print!("{}", physical::info_text(&stack)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(BackupAction::Check) => {
            physical::check(&stack)?;
            println!(
                "WAL archiving works: a segment was switched and archived to stanza `{}`",
                physical::STANZA
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(BackupAction::Expire) => {
            physical::expire(&stack, &progress)?;
            print!("{}", physical::info_text(&stack)?);
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let taken = if args.kind.is_some() || !args.verify {
        let kind = args.kind.as_deref().map(|kind| match kind {
            "full" => Kind::Full,
            "diff" => Kind::Diff,
            _ => Kind::Incr,
        });
        let set = physical::backup(&stack, kind, &progress)?;
        println!("backup `{}` ({}) complete", set.label, set.kind);
        Some(set.label)
    } else {
        None
    };
    if !args.verify {
        return Ok(ExitCode::SUCCESS);
    }
    let label = args.set.clone().or(taken);
    let report = verify::verify(&stack, label.as_deref(), None, &progress)?;
    println!(
        "verify `{}`: restore {:.1}s, recovery {:.1}s, checks {:.1}s",
        report.label, report.restore_seconds, report.recovery_seconds, report.check_seconds
    );
    if !report.amcheck.is_empty() {
        println!("  {}", report.amcheck);
    }
    if let Some(counts) = &report.counts {
        println!(
            "  row counts: {} table(s) compared, {} mismatch(es), {} explained by writes during the backup",
            counts.tables,
            counts.mismatches.len(),
            counts.warnings.len()
        );
    }
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    if !report.checksums.is_empty() {
        println!("  pg_checksums: {}", report.checksums);
    }
    if report.passed() {
        println!("verify passed");
        Ok(ExitCode::SUCCESS)
    } else {
        for failure in &report.failures {
            println!("  FAILED: {failure}");
        }
        println!(
            "verify FAILED: backup `{}` is not restorable as it stands",
            report.label
        );
        Ok(ExitCode::FAILURE)
    }
}

pub(crate) fn restore(ctx: &Ctx, args: &Restore) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    let options = restore_ops::Options {
        set: args.set.clone(),
        target_time: args.target_time.clone(),
        discard_old: args.discard_old,
        force: args.force,
        rehearse_rollback: false,
    };
    if !args.yes {
        println!("{}", restore_ops::plan(&stack, &options)?);
        println!("nothing was changed; add `--yes` to restore");
        return Ok(ExitCode::FAILURE);
    }
    let report = restore_ops::restore(&stack, &options, &ctx.progress())?;
    if let Some(recovered) = &report.recovered {
        println!("{recovered}");
    }
    println!(
        "restored `{}` in {:.1}s; the server is healthy",
        report.set.label, report.seconds
    );
    for old in &report.old_data {
        println!("  previous data kept at {old} (inside the stack's volume); delete it with `--discard-old` next time");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn provision_qa(ctx: &Ctx, args: &ProvisionQa) -> anyhow::Result<ExitCode> {
    let stack = Stack::load(ctx.paths.clone())?;
    if args.list {
        let clones = qa::list(&stack)?;
        if clones.is_empty() {
            println!("no QA clones of `{}`", stack.config.project());
        }
        for clone in clones {
            println!(
                "{:<24} {:<10} 127.0.0.1:{}  ({})",
                clone.name, clone.state, clone.port, clone.container
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.drop {
        if qa::drop_clone(&stack, name)? {
            println!("dropped QA clone `{name}`");
        } else {
            println!("no QA clone `{name}`; nothing to do");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let database = args.database.as_deref().expect("clap requires a database");
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| qa::default_name(database));
    let clone = qa::provision(&stack, database, &name, &ctx.progress())?;
    println!(
        "QA clone `{}` of `{database}` is up on 127.0.0.1:{} (TLS, same CA and superuser as the live stack)",
        clone.name, clone.port
    );
    println!(
        "  drop it with `cargo xtask provision-qa --drop {}`",
        clone.name
    );
    Ok(ExitCode::SUCCESS)
}
