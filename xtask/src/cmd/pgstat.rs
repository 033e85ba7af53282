//! `snapshot-pgstat` and `diff-pgstat`: pg_stat_statements saved to a file
//! as the auditor, and the ranked deltas between two such files.

use std::process::ExitCode;

use core_data_ops::audit::pgstat::{self, render, Snapshot, SortKey};
use core_data_ops::audit::{snapshot_file, Audit, Thresholds};
use core_data_ops::stack::Stack;

use super::audit::{emit, json};
use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{DiffPgstat, PgstatSort, ReportFormat, SnapshotPgstat};

pub(crate) fn snapshot(ctx: &Ctx, args: &SnapshotPgstat) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::open(&stack, Thresholds::from_config(&stack.config)?, &[])?;
    let snapshot = pgstat::take(&audit)?;
    let path = match &args.output {
        Some(path) => path.clone(),
        None => snapshot_file::default_path(&stack.paths.backups_dir().join("pgstat"), "")?,
    };
    snapshot_file::write_new(&path, &snapshot)?;
    eprintln!(
        "{} statement(s) from pg_stat_statements (reset {}) written to {path}",
        snapshot.entries.len(),
        snapshot.stats_reset.as_deref().unwrap_or("never")
    );
    println!("{path}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn diff(_ctx: &Ctx, args: &DiffPgstat) -> CmdResult {
    let read = |path: &camino::Utf8Path| -> anyhow::Result<Snapshot> {
        let snapshot: Snapshot = snapshot_file::read(path)?;
        snapshot.check_version()?;
        Ok(snapshot)
    };
    let sort = match args.sort {
        PgstatSort::Calls => SortKey::Calls,
        PgstatSort::TotalTime => SortKey::TotalTime,
        PgstatSort::MeanTime => SortKey::MeanTime,
        PgstatSort::Rows => SortKey::Rows,
        PgstatSort::SharedBlks => SortKey::SharedBlks,
    };
    let diff = pgstat::diff(&read(&args.base)?, &read(&args.compare)?, sort, args.limit);
    let text = match args.report.format {
        ReportFormat::Table => render::table(&diff),
        ReportFormat::Csv => render::csv(&diff)?,
        ReportFormat::Json => json(&diff)?,
    };
    emit(&args.report, &text, &render::verdict(&diff))?;
    Ok(ExitCode::SUCCESS)
}
