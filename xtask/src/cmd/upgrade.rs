//! `upgrade` (see `core_data_ops::upgrade`).

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;
use core_data_ops::upgrade::{self, CheckReport};

use super::output::print_json;
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::Upgrade;

pub(crate) fn run(ctx: &Ctx, args: &Upgrade) -> CmdResult {
    if let Some(said) = upgrade::recover_pending(&ctx.paths, &ctx.progress())? {
        ctx.progress().status("Recovered", &said);
    }
    let config = Config::load(&ctx.paths)?;
    core_data_ops::ha::refuse_in_ha(
        &config,
        "upgrade",
        "A major upgrade of the `ha` topology must upgrade the leader and rebuild the replicas; \
         see docs/ha.md.",
    )?;
    let to = args.to.unwrap_or_else(|| {
        core_data_ops::image::suites::majors()
            .last()
            .copied()
            .expect("suites.txt lists a major")
    });
    let stack = Stack::new(ctx.paths.clone(), config)?;
    if args.finish {
        let (updated, errors) = upgrade::finish(&stack, &ctx.progress())?;
        return Ok(report_extensions(&updated, &errors));
    }
    if args.rollback {
        if !args.yes {
            println!("{}", upgrade::rollback_plan(&stack, &ctx.progress())?);
            return Ok(ExitCode::FAILURE);
        }
        let report = upgrade::rollback(&stack, &ctx.progress())?;
        println!(
            "Rolled stack `{}` back from PostgreSQL {} to {} ({:.1}s in all, {:.1}s of downtime): backup set {} restored{}.",
            stack.config.project(),
            report.from,
            report.to,
            report.seconds,
            report.downtime_seconds,
            report.backup_set,
            if report.replayed_local_wal {
                " and every WAL record the old cluster wrote replayed"
            } else {
                " with the archived WAL only (the old cluster's WAL directory was gone)"
            }
        );
        println!(
            "PostgreSQL {}'s cluster is kept as {}; `cargo xtask old-clusters` lists and removes it.",
            report.from,
            report.aside.join(" and ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.rehearse {
        let rehearsal = upgrade::rehearse(&stack, to, &ctx.progress())?;
        println!(
            "Rehearsed the upgrade of stack `{}` from PostgreSQL {} to {} on a clone of backup set {} \
             (made in {:.1}s, then removed): measured downtime {:.1}s. The live cluster was not touched.",
            stack.config.project(),
            rehearsal.from,
            rehearsal.to,
            rehearsal.backup_set,
            rehearsal.clone_seconds,
            rehearsal.downtime_seconds,
        );
        for (step, seconds) in &rehearsal.steps {
            println!("  {step:<22} {seconds:>7.1}s");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.check {
        let report = upgrade::check(&stack, to, &ctx.progress())?;
        if args.format.json() {
            print_json(&report)?;
        } else {
            print_check(&report);
        }
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !args.yes {
        println!(
            "`cargo xtask upgrade --yes` would move stack `{}` from PostgreSQL {} to {to}:\n  \
             1. check everything (as `--check`); nothing changes unless it passes\n  \
             2. take a full pgBackRest backup (the rollback point)\n  \
             3. stop the server, the sidecar and the dashboard (downtime starts)\n  \
             4. pg_upgrade --link into a new data directory in the same volume\n  \
             5. set the old cluster aside as pgdata.pre-upgrade-<id> (kept; `cargo xtask old-clusters`)\n  \
             6. set PG_MAJOR={to} and POSTGRES_IMAGE={} in .env and start the new server (downtime ends)\n  \
             7. update every database's extensions and rebuild statistics\n\
             A failure before step 6 ends with the server healthy rolls back to PostgreSQL {}.\n\
             Run `cargo xtask upgrade --check` first to see what it finds.",
            stack.config.project(),
            stack.config.pg_major(),
            stack.config.image_for(to),
            stack.config.pg_major(),
        );
        return Ok(ExitCode::FAILURE);
    }
    let report = upgrade::upgrade(&stack, to, &ctx.progress())?;
    println!(
        "Upgraded stack `{}` from PostgreSQL {} to {} with {:.1}s of downtime (backup set {} is the pre-upgrade copy).",
        stack.config.project(),
        report.from,
        report.to,
        report.downtime_seconds,
        report.backup_set
    );
    for (step, seconds) in &report.steps {
        println!("  {step:<22} {seconds:>7.1}s");
    }
    for line in &report.extensions_updated {
        println!("  updated {line}");
    }
    println!(
        "The old cluster is kept in its volumes as {}; `cargo xtask old-clusters` lists and removes it.",
        report.aside.join(" and ")
    );
    Ok(report_extensions(&[], &report.extension_errors))
}

fn report_extensions(updated: &[String], errors: &[String]) -> ExitCode {
    for line in updated {
        println!("  updated {line}");
    }
    if errors.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("Some extensions were not updated (the upgrade itself stands; fix and run `cargo xtask upgrade --finish`):");
    for line in errors {
        eprintln!("  {line}");
    }
    ExitCode::FAILURE
}

fn print_check(report: &CheckReport) {
    println!(
        "PostgreSQL {} ({}) -> {}: {}",
        report.from,
        report.server_version,
        report.to,
        if report.ok() {
            "can be upgraded"
        } else {
            "BLOCKED"
        }
    );
    println!("  target image  {}", report.target_image);
    println!("  upgrade image {}", report.upgrade_image);
    println!(
        "  data {} MB, WAL {} MB, free in the data volume {} MB, {} relations in {} databases",
        report.data_bytes / 1_048_576,
        report.wal_bytes / 1_048_576,
        report.free_bytes / 1_048_576,
        report.relations,
        report.databases.len()
    );
    println!(
        "  estimated downtime about {:.0}s (`--rehearse` measures it on a clone)",
        report.estimated_downtime_seconds
    );
    println!(
        "  {:<20} {:<24} {:<14} target",
        "database", "extension", "installed"
    );
    for line in &report.extensions {
        println!(
            "  {:<20} {:<24} {:<14} {}",
            line.database,
            line.name,
            line.installed,
            line.target.as_deref().unwrap_or("MISSING")
        );
    }
    for step in &report.steps {
        let outcome = match (step.ok, step.blocks) {
            (true, _) => "ok",
            (false, true) => "FAILED",
            (false, false) => "errors (advice: loaded as plain SQL, not as pg_upgrade restores it)",
        };
        println!("  {:<32} {outcome}", step.name);
        if !step.ok {
            for line in step.detail.lines().take(30) {
                println!("    {line}");
            }
        }
    }
    for reason in &report.blocking {
        println!("blocked: {reason}");
    }
}
