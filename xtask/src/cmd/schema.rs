//! `audit schema`: write a snapshot of the live schema, or compare snapshots
//! (`--compare OLD` against the live schema, `--compare OLD NEW` two files)
//! and print the changes as a report (exit 1 when something changed).

use std::process::ExitCode;

use core_data_ops::audit::schema::{self, Snapshot};
use core_data_ops::audit::snapshot_file;
use core_data_ops::audit::{Audit, Thresholds};
use core_data_ops::stack::Stack;

use super::audit::{emit_report, exit};
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::SchemaArgs;

/// Comparing two files needs no stack; the other forms read the live schema.
pub(crate) fn run(ctx: &Ctx, args: &SchemaArgs) -> CmdResult {
    let only = &args.audit.db.databases;
    let live = || -> anyhow::Result<(Stack, Thresholds)> {
        let stack = Stack::load(ctx.paths.clone())?;
        let thresholds = super::audit::thresholds(&stack.config, &args.audit.thresholds)?;
        Ok((stack, thresholds))
    };
    let report = match args.compare.as_slice() {
        [] => {
            let (stack, thresholds) = live()?;
            let audit = Audit::open(&stack, thresholds, only)?;
            let path = write(&audit, args, &schema::take(&audit)?)?;
            println!("{path}");
            return Ok(ExitCode::SUCCESS);
        }
        [old] => {
            let before = read(old)?;
            let (stack, thresholds) = live()?;
            let audit = Audit::open(&stack, thresholds, only)?;
            let live = schema::take(&audit)?;
            if args.snapshot.is_some() {
                let path = write(&audit, args, &live)?;
                eprintln!("live schema written to {path}");
            }
            schema::compare(&before, &live, only, &format!("`{old}`"), "the live schema")
        }
        [old, new] => schema::compare(
            &read(old)?,
            &read(new)?,
            only,
            &format!("`{old}`"),
            &format!("`{new}`"),
        ),
        _ => {
            return Err(crate::error::CliError::usage(
                "`--compare` takes one or two files",
            ))
        }
    };
    emit_report(&args.audit.report, &report)?;
    Ok(exit(report.failed()))
}

fn read(path: &camino::Utf8Path) -> anyhow::Result<Snapshot> {
    let snapshot: Snapshot = snapshot_file::read(path)?;
    snapshot.check_version()?;
    Ok(snapshot)
}

/// Writes `snapshot` to `--snapshot` or `backups/audits/schema-<stamp>.json`, never replacing a file.
fn write(
    audit: &Audit<'_>,
    args: &SchemaArgs,
    snapshot: &Snapshot,
) -> anyhow::Result<camino::Utf8PathBuf> {
    let path = match &args.snapshot {
        Some(path) => path.clone(),
        None => snapshot_file::default_path(
            &audit.stack()?.paths.backups_dir().join("audits"),
            "schema-",
        )?,
    };
    snapshot_file::write_new(&path, snapshot)?;
    Ok(path)
}
