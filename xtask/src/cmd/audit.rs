//! `audit …` and `config check`: run audits from `core_data_ops::audit`, print
//! or write the report, exit 1 when a finding crosses a threshold.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use core_data_ops::audit::{self, format, Audit, Report, Summary, Thresholds};
use core_data_ops::config::Config;
use core_data_ops::stack::Stack;

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{AuditCommand, ConfigCheck, ReportArgs, ReportFormat, ThresholdArgs};

/// The `.env` thresholds with the command line's overrides.
pub(crate) fn thresholds(config: &Config, flags: &ThresholdArgs) -> anyhow::Result<Thresholds> {
    let mut t = Thresholds::from_config(config)?;
    let ThresholdArgs {
        dead_tuples_min,
        dead_tuple_ratio,
        wraparound_percent,
        slot_retained_mb,
        replication_lag_seconds,
        index_bloat_percent,
        min_size_mb,
        valid_until,
        cron_lookback_hours,
        limit,
        sensitive_columns,
    } = flags.clone();
    t.dead_tuples_min = dead_tuples_min.unwrap_or(t.dead_tuples_min);
    t.dead_tuple_ratio = dead_tuple_ratio.unwrap_or(t.dead_tuple_ratio);
    t.wraparound_percent = wraparound_percent.unwrap_or(t.wraparound_percent);
    t.slot_retained_mb = slot_retained_mb.unwrap_or(t.slot_retained_mb);
    t.replication_lag_seconds = replication_lag_seconds.unwrap_or(t.replication_lag_seconds);
    t.index_bloat_percent = index_bloat_percent.unwrap_or(t.index_bloat_percent);
    t.min_size_mb = min_size_mb.unwrap_or(t.min_size_mb);
    if let Some(policy) = valid_until {
        t.require_valid_until = policy == "require";
    }
    t.cron_lookback_hours = cron_lookback_hours.unwrap_or(t.cron_lookback_hours);
    t.buffercache_limit = limit.unwrap_or(t.buffercache_limit);
    if let Some(columns) = sensitive_columns {
        t.sensitive_columns = columns.into_iter().map(|c| c.to_lowercase()).collect();
    }
    Ok(t)
}

pub(crate) fn run(ctx: &Ctx, command: &AuditCommand) -> CmdResult {
    if let AuditCommand::Schema(schema) = command {
        return super::schema::run(ctx, schema);
    }
    let (name, args) = command.parts();
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::open(
        &stack,
        thresholds(&stack.config, &args.thresholds)?,
        &args.db.databases,
    )?;
    match command {
        AuditCommand::All(_) => {
            let summary = audit::run_all(&audit)?;
            emit_summary(&args.report, &summary)?;
            Ok(exit(summary.failed))
        }
        _ => {
            let definition = audit::find(name)
                .with_context(|| format!("audit `{name}` is not in the registry"))?;
            report(&args.report, &audit::run(&audit, definition)?)
        }
    }
}

pub(crate) fn config_check(ctx: &Ctx, args: &ConfigCheck) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let audit = Audit::with_defaults(&stack, &args.db.databases)?;
    let definition = audit::find("config").context("the `config` audit is not registered")?;
    report(&args.report, &audit::run(&audit, definition)?)
}

/// Prints or writes `report` and exits 1 when it failed.
pub(crate) fn report(args: &ReportArgs, report: &Report) -> CmdResult {
    emit_report(args, report)?;
    Ok(exit(report.failed()))
}

pub(crate) fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints one report in the chosen format, or writes it to `--output`.
pub(crate) fn emit_report(args: &ReportArgs, report: &Report) -> anyhow::Result<()> {
    let text = match args.format {
        ReportFormat::Table => format::table(report),
        ReportFormat::Csv => format::csv(std::slice::from_ref(report))?,
        ReportFormat::Json => json(report)?,
    };
    emit(args, &text, &format::verdict(report))
}

fn emit_summary(args: &ReportArgs, summary: &Summary) -> anyhow::Result<()> {
    let text = match args.format {
        ReportFormat::Table => format::summary_table(summary),
        ReportFormat::Csv => format::csv(&summary.reports)?,
        ReportFormat::Json => json(summary)?,
    };
    let verdict = format!(
        "audit all: {} problem(s) in {} audits",
        summary.problems,
        summary.reports.len()
    );
    emit(args, &text, &verdict)
}

pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("failed to serialize the report")?;
    text.push('\n');
    Ok(text)
}

/// Writes `text` to `--output` (atomically, then says where with the
/// verdict on stderr) or to stdout.
pub(crate) fn emit(args: &ReportArgs, text: &str, verdict: &str) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => {
            core_data_ops::fsutil::write_atomic(path, text.as_bytes(), 0o644)
                .with_context(|| format!("failed to write the report to `{path}`"))?;
            eprintln!("{verdict}; report written to {path}");
        }
        None => {
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .context("failed to write the report")?;
        }
    }
    Ok(())
}
