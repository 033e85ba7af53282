//! `backup take|verify|info|check|expire`, `restore`, `qa create|list|drop`.

use std::process::ExitCode;

use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::backup::{qa, restore as restore_ops, verify};
use core_data_ops::report;
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{Backup, BackupAction, BackupKind, QaCommand, QaCreate, QaDrop, Restore};

pub(crate) fn backup(ctx: &Ctx, args: &Backup) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let progress = ctx.progress();
    match args.action() {
        BackupAction::Info(info) => {
            if info.format.json() {
                output::print_json(&report::backup_info(&stack)?)?;
            } else {
                print!("{}", physical::info_text(&stack)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Check => {
            physical::check(&stack)?;
            println!(
                "WAL archiving works: a segment was switched and archived to stanza `{}`",
                physical::STANZA
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Expire => {
            physical::expire(&stack, &progress)?;
            print!("{}", physical::info_text(&stack)?);
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Take(take) => {
            core_data_ops::upgrade::refuse_if_pending(&ctx.paths, "backup take")?;
            let kind = take.kind.map(|kind| match kind {
                BackupKind::Full => Kind::Full,
                BackupKind::Diff => Kind::Diff,
                BackupKind::Incr => Kind::Incr,
            });
            let set = physical::backup(&stack, kind, &progress)?;
            println!("backup `{}` ({}) complete", set.label, set.kind);
            if !take.verify {
                return Ok(ExitCode::SUCCESS);
            }
            let label = take.verify_set.unwrap_or(set.label);
            verify_set(&stack, Some(&label), depth(take.quick), ctx)
        }
        BackupAction::Verify(args) => {
            verify_set(&stack, args.set.as_deref(), depth(args.quick), ctx)
        }
    }
}

/// `backup verify`: exits 1 when a check fails (the report says which).
fn depth(quick: bool) -> verify::Depth {
    if quick {
        verify::Depth::Quick
    } else {
        verify::Depth::Thorough
    }
}

fn verify_set(stack: &Stack, label: Option<&str>, depth: verify::Depth, ctx: &Ctx) -> CmdResult {
    let report = verify::verify(stack, label, None, depth, &ctx.progress())?;
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

pub(crate) fn restore(ctx: &Ctx, args: &Restore) -> CmdResult {
    core_data_ops::upgrade::refuse_if_pending(&ctx.paths, "restore")?;
    let stack = Stack::load(ctx.paths.clone())?;
    let options = restore_ops::Options {
        set: args.set.clone(),
        target_time: args.target_time.clone(),
        discard_old: args.discard_old,
        force: args.force,
        rehearse_rollback: false,
    };
    if stack.config.ha() {
        return restore_ha(ctx, &stack, &options, args.yes);
    }
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

pub(crate) fn qa(ctx: &Ctx, command: &QaCommand) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    match command {
        QaCommand::List => {
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
        }
        QaCommand::Drop(QaDrop { name }) => {
            if qa::drop_clone(&stack, name)? {
                println!("dropped QA clone `{name}`");
            } else {
                println!("no QA clone `{name}`; nothing to do");
            }
        }
        QaCommand::Create(QaCreate { database, name }) => {
            let name = name.clone().unwrap_or_else(|| qa::default_name(database));
            let clone = qa::provision(&stack, database, &name, &ctx.progress())?;
            println!(
                "QA clone `{}` of `{database}` is up on 127.0.0.1:{} (TLS, same CA and superuser as the live stack)",
                clone.name, clone.port
            );
            println!("  drop it with `cargo xtask qa drop {}`", clone.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `restore` on the `ha` topology: the backup into the leader's node, the
/// others rebuilt as its replicas (`ops::ha::restore`).
fn restore_ha(ctx: &Ctx, stack: &Stack, options: &restore_ops::Options, yes: bool) -> CmdResult {
    use core_data_ops::ha::restore as ha_restore;
    if !yes {
        println!("{}", ha_restore::plan(stack, options)?);
        println!("nothing was changed; add `--yes` to restore");
        return Ok(ExitCode::FAILURE);
    }
    let report = ha_restore::restore(stack, options, &ctx.progress())?;
    if let Some(recovered) = &report.recovered {
        println!("{recovered}");
    }
    println!(
        "restored `{}` into {} in {:.1}s; every replica streams from it",
        report.set.label, report.leader, report.seconds
    );
    for old in &report.old_data {
        println!("  previous data kept at {old} (inside that node's volume); delete it with `--discard-old` next time");
    }
    println!("{}", core_data_ops::ha::status::table(&report.status));
    Ok(ExitCode::SUCCESS)
}
