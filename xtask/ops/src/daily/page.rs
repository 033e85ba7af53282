//! What `index.html` shows, assembled from the steps' results: the verdict,
//! the steps, the findings, the charts (top statements by time, dead tuples,
//! table and index sizes, connections and slow statements by hour, backup
//! sizes), the pgaudit summary and the list of the bundle's files.

use camino::Utf8PathBuf;

use super::bundle::Bundle;
use super::chart::{self, Bar, Unit};
use super::html::{self, Page, PageAudit, PageFile, PageStep};
use super::steps::Gathered;
use super::tables;
use super::{Plan, Step};
use crate::audit::pgstat::render::short_query;
use crate::stack::Stack;

const TOP: usize = 10;

pub fn build(
    stack: &Stack,
    plan: &Plan,
    run: &str,
    bundle: &Bundle,
    g: &Gathered,
    steps: &[Step],
    pruned: &[Utf8PathBuf],
) -> anyhow::Result<String> {
    let failed_steps = steps.iter().filter(|s| !s.ok).count();
    let problems = g.findings.len();
    let verdict = match (problems, failed_steps) {
        (0, 0) => "Clean: no finding crosses a threshold.".to_owned(),
        (p, 0) => format!("{p} finding(s) cross a threshold (the command exits 1)."),
        (p, f) => format!(
            "{p} finding(s) cross a threshold; {f} step(s) FAILED, so this bundle is incomplete."
        ),
    };
    let mut queries = g.diff.as_ref().map(|d| d.rows.clone()).unwrap_or_default();
    for query in &mut queries {
        query.query = short_query(&query.query, 160);
    }
    let page = Page {
        project: stack.config.project().to_owned(),
        date: plan.date.to_string(),
        run: run.to_owned(),
        generated_at: crate::clock::iso_seconds(std::time::SystemTime::now()),
        retention_days: plan.retention_days,
        verdict,
        problems,
        failed_steps,
        steps: steps
            .iter()
            .map(|s| PageStep {
                name: s.name.clone(),
                outcome: if s.ok { "ok" } else { "failed" }.to_owned(),
                detail: s.detail.clone(),
            })
            .collect(),
        findings: g.findings.clone(),
        audits: g
            .summary
            .iter()
            .flat_map(|s| &s.reports)
            .map(|r| PageAudit {
                audit: r.audit.clone(),
                problems: r.problems(),
                worst: r.worst().map_or("-", |w| w.as_str()).to_owned(),
            })
            .collect(),
        charts: charts(g),
        pgstat_note: g.pgstat_note.clone(),
        queries,
        pgaudit: super::pgaudit::summarize(&g.events)
            .into_iter()
            .take(50)
            .collect(),
        backups_line: backups_line(g),
        sidecar_line: g.sidecar_line.clone(),
        versions_line: versions_line(g),
        files: bundle
            .files
            .iter()
            .map(|f| PageFile {
                name: f.name.clone(),
                what: f.what.clone(),
                size: crate::backup::dump::human_bytes(f.bytes),
            })
            .collect(),
        pruned: pruned
            .iter()
            .map(|p| p.file_name().unwrap_or("").to_owned())
            .collect(),
    };
    html::render(&page)
}

fn charts(g: &Gathered) -> Vec<String> {
    let queries: Vec<Bar> = g
        .diff
        .iter()
        .flat_map(|d| &d.rows)
        .take(TOP)
        .map(|row| Bar {
            label: format!(
                "{}: {}",
                row.database.as_deref().unwrap_or("?"),
                short_query(&row.query, 60)
            ),
            values: vec![row.total_time_ms],
        })
        .collect();
    let dead: Vec<Bar> = tables::top(&g.tables, TOP, |t| t.dead_tuples)
        .into_iter()
        .map(|t| Bar {
            label: format!("{}: {}", t.database, t.table),
            values: vec![t.dead_tuples as f64],
        })
        .collect();
    let sizes: Vec<Bar> = tables::top(&g.tables, TOP, |t| t.table_bytes + t.index_bytes)
        .into_iter()
        .map(|t| Bar {
            label: format!("{}: {}", t.database, t.table),
            values: vec![t.table_bytes as f64, t.index_bytes as f64],
        })
        .collect();
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let as_f64 = |counts: &[u64; 24]| counts.iter().map(|c| *c as f64).collect::<Vec<_>>();
    let backups: Vec<Bar> = g
        .backups
        .iter()
        .flat_map(|b| b.sets.iter().rev().take(TOP))
        .map(|set| Bar {
            label: format!("{} ({})", set.label, set.kind),
            values: vec![set.repo_delta_bytes as f64],
        })
        .collect();
    vec![
        chart::bars(
            "Top statements by total time since the previous bundle",
            &["total time"],
            Unit::Millis,
            &queries,
        ),
        chart::bars("Dead tuples by table", &["dead tuples"], Unit::Count, &dead),
        chart::bars(
            "Table and index sizes",
            &["table", "indexes"],
            Unit::Bytes,
            &sizes,
        ),
        chart::columns(
            "Connections by hour of the day",
            &hours,
            &as_f64(&g.hourly.connections),
        ),
        chart::columns(
            "Slow statements (past log_min_duration_statement) by hour",
            &hours,
            &as_f64(&g.hourly.slow_statements),
        ),
        chart::bars(
            "Backup sets: size stored in the repository (newest first)",
            &["stored"],
            Unit::Bytes,
            &backups,
        ),
    ]
}

fn backups_line(g: &Gathered) -> String {
    let Some(backups) = &g.backups else {
        return "not read (see the steps)".to_owned();
    };
    let newest = backups.sets.last().map_or("none".to_owned(), |s| {
        format!(
            "{} ({}, {})",
            s.label,
            s.kind,
            crate::backup::dump::human_bytes(s.database_bytes)
        )
    });
    let verified = match &backups.newest_verified {
        Some(record) => format!(
            "{} (drill passed {}, RTO {} s)",
            record.get("set").and_then(|v| v.as_str()).unwrap_or("?"),
            record
                .get("finished_at")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            record
                .get("rto_seconds")
                .map_or("?".to_owned(), |v| v.to_string())
        ),
        None => "none yet (no passed restore drill)".to_owned(),
    };
    format!(
        "{} pgBackRest set(s); newest {newest}; newest verified: {verified}.",
        backups.sets.len()
    )
}

fn versions_line(g: &Gathered) -> String {
    match &g.versions {
        Some(report) => {
            let updates = report.problems();
            let mut line = format!("{updates} update(s) available");
            if let Some(note) = report.notes.first() {
                line.push_str(&format!("; {note}"));
            }
            line
        }
        None => "not checked (see the steps)".to_owned(),
    }
}
