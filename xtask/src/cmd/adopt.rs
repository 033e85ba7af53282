//! `adopt` (see `core_data_ops::upgrade::adopt`).

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::stack::Stack;
use core_data_ops::upgrade::{self, Source};

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::Adopt;

pub(crate) fn run(ctx: &Ctx, args: &Adopt) -> CmdResult {
    let source = match (&args.from_dir, &args.from_volume) {
        (Some(path), _) => Source::dir(path)?,
        (None, Some(name)) => Source::Volume(name.clone()),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let config = Config::load(&ctx.paths)?;
    core_data_ops::ha::refuse_in_ha(
        &config,
        "adopt",
        "Adopt into a single-server project, then start the `ha` topology in another one.",
    )?;
    let stack = Stack::new(ctx.paths.clone(), config)?;
    if !args.yes {
        let found = upgrade::inspect_adoption(&stack, &source, &ctx.progress())?;
        println!(
            "`cargo xtask adopt --yes` would take the PostgreSQL {} cluster in the {} ({} MB, system \
             identifier {}, data checksums {}) into stack `{}` (PostgreSQL {}):\n  \
             1. copy it (read-only mount; never linked, never written) into pgdata.adopt-<id> in the stack's data volume\n  \
             2. {}\n  \
             3. make `{}` a superuser with the password of secrets/postgres_superuser_password\n  \
             4. start the stack on it: core_data's configuration and TLS (the source's postgresql.conf, pg_hba.conf \
             and postgresql.auto.conf are not used), the extension bundle in template1 and postgres, the pgBackRest \
             stanza, the configured roles and databases{}\n\
             {}Any failure rolls back to a stack without a cluster; the source stays as it is.",
            found.major,
            found.source,
            found.bytes / 1_048_576,
            found.system_identifier,
            if found.checksums { "on" } else { "off" },
            stack.config.project(),
            found.to,
            if found.upgrades() {
                format!(
                    "pg_upgrade --link the copy from PostgreSQL {} to {} (in the upgrade image) and put the new cluster in place",
                    found.major, found.to
                )
            } else {
                "put the copy in place (its pg_wal in the WAL volume)".to_owned()
            },
            stack.config.superuser(),
            if found.upgrades() {
                "; every extension updated and statistics rebuilt"
            } else {
                ""
            },
            if found.stale.is_empty() {
                String::new()
            } else {
                format!(
                    "First it removes what an adopt that was killed left: {}.\n",
                    found.stale.join(", ")
                )
            },
        );
        return Ok(ExitCode::FAILURE);
    }
    let report = upgrade::adopt(&stack, &source, &ctx.progress())?;
    let found = &report.inspection;
    println!(
        "Adopted the PostgreSQL {} cluster of the {} into stack `{}`, which serves it with PostgreSQL {} ({:.1}s; id {}).",
        found.major,
        found.source,
        stack.config.project(),
        found.to,
        report.total_seconds,
        report.id
    );
    for (step, seconds) in &report.steps {
        println!("  {step:<42} {seconds:>7.1}s");
    }
    println!(
        "  install user `{}`; superuser `{}` {}; data checksums {}",
        report.install_user,
        stack.config.superuser(),
        if report.superuser_created {
            "created"
        } else {
            "given the secret file's password"
        },
        if found.checksums {
            "on"
        } else {
            "off (as in the source; `pg_checksums --enable` on the stopped cluster adds them)"
        }
    );
    for line in &report.extensions_updated {
        println!("  updated {line}");
    }
    println!(
        "The source was not written; it is the way back. Take a first backup: `cargo xtask backup take`."
    );
    if report.extension_errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("Some extensions were not updated (the adopted cluster serves; fix and run `cargo xtask upgrade --finish`):");
    for line in &report.extension_errors {
        eprintln!("  {line}");
    }
    Ok(ExitCode::FAILURE)
}
