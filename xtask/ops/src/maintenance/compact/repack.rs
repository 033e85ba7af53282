//! Level 3: pg_repack, online (it holds an ACCESS EXCLUSIVE lock only for
//! moments at the start and end). The client runs inside the postgres
//! container through the one exec path, over the Unix socket as the
//! superuser (peer authentication), one table per run, with
//! `statement_timeout` off on its connections (`PGOPTIONS`). Before any table is repacked, every named table in
//! every database is checked for a primary key or a unique index on NOT NULL
//! columns (pg_repack's requirement) and for the extension.

use std::time::Duration;

use anyhow::bail;

use super::{measured, Outcome, Target};
use crate::maintenance::log::Log;
use crate::maintenance::tables::{key_for, KeyUse};
use crate::progress::Progress;
use crate::stack::Stack;

/// Refuses (before anything runs) when a table lacks a usable key or a
/// database lacks the extension; names every such table.
pub(super) fn check(targets: &mut [Target]) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for target in targets.iter_mut() {
        let installed: bool = target
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_repack')",
                &[],
            )?
            .get(0);
        if !installed {
            problems.push(format!(
                "pg_repack is not installed in `{}` (`cargo xtask up` installs the extension bundle)",
                target.database
            ));
            continue;
        }
        for table in &target.tables {
            if key_for(&mut target.client, table, KeyUse::Repack)?.is_none() {
                problems.push(format!(
                    "{} in `{}` has no primary key and no unique index on NOT NULL columns, which \
                     pg_repack needs to replay concurrent changes; add one, or use level 4 \
                     (VACUUM FULL, which locks the table for the whole rewrite)",
                    table.display(),
                    target.database
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "pg_repack refused, nothing was repacked:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// Repacks each table of `target`. pg_repack waits `lock_timeout` (whole
/// seconds, at least one) for its short exclusive locks and then gives up
/// rather than killing other sessions.
pub(super) fn run(
    stack: &Stack,
    target: &mut Target,
    lock_timeout: Duration,
    log: &mut Log,
    progress: &dyn Progress,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let container = stack.container();
    let wait = lock_timeout.as_secs().max(1).to_string();
    let database = target.database.clone();
    // pg_repack hands `--dbname` to libpq as a connection string when it holds
    // an `=`: always pass one, with the name quoted, so a name is only a name.
    let dbname = core_data_sidecar::names::conninfo_dbname(&database);
    for table in target.tables.clone() {
        progress.status("Repacking", &format!("{} in `{database}`", table.display()));
        let name = table.sql();
        // pg_repack clears statement_timeout on one of its two connections
        // only; the startup options (which outrank role and database
        // settings) clear it on both, and the idle-in-transaction limit too.
        let argv = [
            "env",
            "PGOPTIONS=-c statement_timeout=0 -c idle_in_transaction_session_timeout=0",
            "pg_repack",
            "--username",
            stack.config.superuser(),
            "--dbname",
            &dbname,
            "--table",
            &name,
            "--wait-timeout",
            &wait,
            "--no-kill-backend",
            "--elevel",
            "INFO",
        ];
        let mut output = None;
        let done = measured(target, &table, log, |_| {
            let out = stack.docker.exec(&container, &argv, None)?;
            let ok = out.exit_code == 0;
            let text = format!("{}{}", out.stdout, out.stderr);
            output = Some(text.clone());
            if !ok {
                bail!("pg_repack exited with {}: {}", out.exit_code, text.trim());
            }
            Ok(())
        })?;
        if let Some(text) = output {
            log.line(&format!(
                "pg_repack {name} in {database}:\n{}",
                text.trim_end()
            ))?;
        }
        outcome.compacted.push(done);
    }
    Ok(())
}
