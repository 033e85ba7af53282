//! The bundle's steps, each writing its files and keeping what the page needs
//! in [`Gathered`]. A step that fails is recorded (the others still run); one
//! whose subject is merely absent (no sidecar run yet, no drill) is not a failure.

use std::io::{BufRead, BufReader};

use anyhow::Context;
use camino::Utf8Path;
use jiff::civil::Date;

use super::activity::Hourly;
use super::backups::{self, Backups};
use super::bundle::Bundle;
use super::html::PageFinding;
use super::pgaudit::{self, Event};
use super::tables::{self, TableStats};
use super::{naming, pgbadger};
use crate::audit::pgstat::{self, render, Diff, Snapshot, SortKey};
use crate::audit::{format, Audit, Finding, Report, Summary};
use crate::stack::Stack;

/// What the steps found, for the page and the exit code.
#[derive(Default)]
pub struct Gathered {
    pub log_json_lines: u64,
    pub log_text_lines: u64,
    pub hourly: Hourly,
    pub events: Vec<Event>,
    pub summary: Option<Summary>,
    pub diff: Option<Diff>,
    pub pgstat_note: String,
    pub tables: Vec<TableStats>,
    pub versions: Option<Report>,
    pub sidecar_line: String,
    pub backups: Option<Backups>,
    /// Findings past a threshold, from every source.
    pub findings: Vec<PageFinding>,
}

impl Gathered {
    fn finding(&mut self, source: &str, finding: &Finding) {
        self.findings.push(PageFinding {
            source: source.to_owned(),
            severity: finding.severity.as_str().to_owned(),
            database: finding.database.clone().unwrap_or_default(),
            object: finding.object.clone(),
            check: finding.check.clone(),
            detail: finding.detail.clone(),
        });
    }
}

/// The day's server log (jsonlog and text), then the pgaudit events and hourly
/// activity counted from it.
pub fn server_log(
    stack: &Stack,
    date: Date,
    bundle: &mut Bundle,
    g: &mut Gathered,
) -> anyhow::Result<String> {
    let cycle = stack.config.get("PG_LOG_FILE_CYCLE").to_owned();
    let mut json = bundle.create("server-log.json")?;
    let mut text = bundle.create("server-log.txt")?;
    let collected = crate::server_log::day::collect(stack, &cycle, date, &mut json, &mut text)?;
    json.sync_all()?;
    text.sync_all()?;
    bundle.record(
        "server-log.json",
        "the server's log of the day, jsonlog (one JSON object a line)",
    )?;
    bundle.record("server-log.txt", "the server's log of the day, as text")?;
    g.log_json_lines = collected.json_lines;
    g.log_text_lines = collected.text_lines;
    let file = std::fs::File::open(bundle.path("server-log.json"))?;
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        g.hourly.count(&line);
        if let Some(event) = pgaudit::parse_line(&line) {
            g.events.push(event);
        }
    }
    if collected.json_lines == 0 {
        return Ok(format!(
            "no log lines of {date}: the files of that day have been reused (the log keeps one {cycle}, PG_LOG_FILE_CYCLE), or the server wrote none"
        ));
    }
    let volume = crate::server_log::volume_bytes(stack).map_or_else(
        |err| format!("unknown ({err:#})"),
        crate::backup::dump::human_bytes,
    );
    Ok(format!(
        "{} jsonlog and {} text lines; {} connections, {} audited statements; the log volume holds {volume} (about one {cycle} of files; no byte cap)",
        collected.json_lines,
        collected.text_lines,
        g.hourly.total_connections(),
        g.events.len()
    ))
}

pub fn pgbadger(stack: &Stack, bundle: &mut Bundle) -> anyhow::Result<String> {
    let log = bundle.path("server-log.json");
    bundle.stream(
        "pgbadger.html",
        "pgBadger's report of the day's log",
        |file| pgbadger::report(stack, &log, file),
    )?;
    Ok("pgbadger.html".to_owned())
}

pub fn pgaudit(bundle: &mut Bundle, g: &mut Gathered) -> anyhow::Result<String> {
    let summary = pgaudit::summarize(&g.events);
    bundle.write(
        "pgaudit-events.csv",
        "every statement pgaudit logged (who, where, what)",
        &pgaudit::csv(&g.events, pgaudit::EVENT_HEADER)?,
    )?;
    bundle.write(
        "pgaudit-summary.csv",
        "pgaudit's statements grouped by user, database, command and object",
        &pgaudit::csv(&summary, pgaudit::SUMMARY_HEADER)?,
    )?;
    Ok(format!(
        "{} audited statement(s), {} distinct change(s)",
        g.events.len(),
        summary.len()
    ))
}

pub fn audits(audit: &Audit<'_>, bundle: &mut Bundle, g: &mut Gathered) -> anyhow::Result<String> {
    let summary = crate::audit::run_all(audit)?;
    bundle.write_json(
        "audit.json",
        "every audit's report (docs/schema/audit.schema.json)",
        &summary,
    )?;
    bundle.write(
        "audit.csv",
        "every audit finding, one row each",
        format::csv(&summary.reports)?.as_bytes(),
    )?;
    if let Some(report) = summary.reports.iter().find(|r| r.audit == "buffercache") {
        bundle.write_json(
            "buffercache.json",
            "the relations occupying shared_buffers (pg_buffercache snapshot)",
            report,
        )?;
    }
    for report in &summary.reports {
        for finding in report.findings.iter().filter(|f| f.severity.fails()) {
            g.finding(&format!("audit {}", report.audit), finding);
        }
    }
    let detail = format!(
        "{} audits, {} problem(s)",
        summary.reports.len(),
        summary.problems
    );
    g.summary = Some(summary);
    Ok(detail)
}

pub fn pgstat(
    audit: &Audit<'_>,
    daily: &Utf8Path,
    date: Date,
    run: &str,
    bundle: &mut Bundle,
    g: &mut Gathered,
) -> anyhow::Result<String> {
    let limit: usize = audit
        .stack()?
        .config
        .get("DAILY_PGSTAT_LIMIT")
        .parse()
        .unwrap_or(25);
    let snapshot = pgstat::take(audit)?;
    bundle.write_json(
        "pgstat.json",
        "pg_stat_statements snapshot (the next bundle's diff starts here)",
        &snapshot,
    )?;
    let previous = naming::previous_run(daily, date, run, "pgstat.json")?;
    let base = match &previous {
        Some(dir) => {
            let base: Snapshot = crate::audit::snapshot_file::read(&dir.join("pgstat.json"))?;
            base.check_version()?;
            let relative = dir.strip_prefix(daily).unwrap_or(dir);
            g.pgstat_note = format!(
                "Compared with the snapshot of bundle {relative} (taken {}).",
                base.taken_at
            );
            base
        }
        None => {
            g.pgstat_note = format!(
                "No earlier bundle: the figures are everything since pg_stat_statements was last reset ({}).",
                snapshot.stats_reset.as_deref().unwrap_or("never")
            );
            Snapshot {
                entries: Vec::new(),
                taken_at: String::new(),
                ..snapshot.clone()
            }
        }
    };
    let diff = pgstat::diff(&base, &snapshot, SortKey::TotalTime, limit);
    bundle.write_json(
        "pgstat-diff.json",
        "statements ranked by time spent since the previous bundle",
        &diff,
    )?;
    bundle.write(
        "pgstat-diff.csv",
        "the same ranking as CSV",
        render::csv(&diff)?.as_bytes(),
    )?;
    let detail = format!(
        "{} statement(s) in the snapshot, {} ran since {}",
        snapshot.entries.len(),
        diff.statements,
        previous
            .as_ref()
            .map_or("the last reset".to_owned(), |p| format!("`{p}`"))
    );
    g.diff = Some(diff);
    Ok(detail)
}

pub fn tables(audit: &Audit<'_>, bundle: &mut Bundle, g: &mut Gathered) -> anyhow::Result<String> {
    g.tables = tables::read(audit)?;
    bundle.write(
        "tables.csv",
        "every user table: live and dead tuples, table and index sizes",
        &pgaudit::csv(&g.tables, tables::HEADER)?,
    )?;
    Ok(format!("{} table(s)", g.tables.len()))
}

pub fn versions(
    audit: &Audit<'_>,
    network: &str,
    bundle: &mut Bundle,
    g: &mut Gathered,
) -> anyhow::Result<String> {
    let report = crate::audit::versions::run(audit, network)?;
    bundle.write_json(
        "version-status.json",
        "installed versions against the mirror's (version-status)",
        &report,
    )?;
    let updates = report.problems();
    g.versions = Some(report);
    Ok(format!("{updates} update(s) available"))
}

pub fn sidecar(stack: &Stack, bundle: &mut Bundle, g: &mut Gathered) -> anyhow::Result<String> {
    let leftovers = crate::report::dump_leftovers(stack)?;
    match crate::report::dump_status(stack, leftovers) {
        Ok(status) => {
            bundle.write_json(
                "logical-backup-status.json",
                "the logical_backup sidecar's status (dump-status)",
                &status,
            )?;
            g.sidecar_line = match &status.problem {
                None => format!(
                    "healthy; last success {}",
                    status.sidecar.last_success.as_deref().unwrap_or("never")
                ),
                Some(problem) => format!("UNHEALTHY: {problem}"),
            };
            if let Some(problem) = &status.problem {
                let finding = Finding::new(
                    None,
                    "logical_backup",
                    "sidecar-unhealthy",
                    crate::audit::Severity::Warning,
                    problem.clone(),
                );
                g.finding("logical backups", &finding);
            }
            for leftover in &status.leftovers {
                let finding = Finding::new(
                    None,
                    "restore-dump",
                    "leftover-database",
                    crate::audit::Severity::Warning,
                    leftover.description.clone(),
                );
                g.finding("logical backups", &finding);
            }
            Ok(g.sidecar_line.clone())
        }
        Err(err) => {
            g.sidecar_line = format!("no status: {err:#}");
            let finding = Finding::new(
                None,
                "logical_backup",
                "sidecar-status-missing",
                crate::audit::Severity::Warning,
                format!("{err:#}"),
            );
            g.finding("logical backups", &finding);
            Ok(g.sidecar_line.clone())
        }
    }
}

pub fn backups(stack: &Stack, bundle: &mut Bundle, g: &mut Gathered) -> anyhow::Result<String> {
    let sets = crate::backup::physical::info(stack).context("failed to read pgBackRest's sets")?;
    let (newest_verified, drills_read) =
        backups::newest_verified(&stack.paths.backups_dir().join("drills"))?;
    let mut notes = Vec::new();
    if newest_verified.is_none() {
        notes.push(
            "no backup has been proven restorable by a drill yet: `cargo xtask run restore_drill take=full --allow-backups --allow-files`"
                .to_owned(),
        );
    }
    let found = Backups {
        sets,
        newest_verified,
        drills_read,
        notes,
    };
    bundle.write_json(
        "backups.json",
        "pgBackRest's sets and the newest passed restore drill",
        &found,
    )?;
    let detail = format!(
        "{} set(s); newest verified: {}",
        found.sets.len(),
        found
            .newest_verified
            .as_ref()
            .and_then(|r| r.get("set"))
            .and_then(|s| s.as_str())
            .unwrap_or("none")
    );
    g.backups = Some(found);
    Ok(detail)
}
