//! `daily-maintenance`: one bundle a run under `backups/daily/<date>/run-<NNN>/`
//! with the day's server log, pgBadger's report of it, a pgaudit summary, every
//! audit (JSON and CSV), pg_stat_statements and buffercache snapshots with the
//! diff against the previous bundle, the tables' sizes and dead tuples, version
//! status, the sidecar's status and the backups, and `index.html` linking them
//! with charts. Inputs are checked and the server reached before anything is
//! written; bundles past the retention are removed after the new one is complete.
//!
//! Why Rust and not a runbook (SPEC §2.3 asks composite workflows to be Rhai):
//! see ARCHITECTURE.md, "Daily maintenance".

pub mod activity;
pub mod backups;
pub mod bundle;
pub mod chart;
pub mod html;
pub mod naming;
pub mod page;
pub mod pgaudit;
pub mod pgbadger;
pub mod steps;
pub mod tables;

use anyhow::bail;
use camino::Utf8PathBuf;
use jiff::civil::Date;
use serde::Serialize;

use crate::audit::{Audit, Thresholds};
use crate::progress::Progress;
use crate::stack::Stack;

/// What the command line asks for (unchecked).
pub struct Options {
    /// `YYYY-MM-DD`; today in the server's time zone (`TZ`) when absent.
    pub date: Option<String>,
    /// Days of bundles kept; `DAILY_RETENTION_DAYS` when absent.
    pub retention_days: Option<i64>,
    pub thresholds: Thresholds,
    /// The Docker network the version check's one-shot reaches the mirror through.
    pub network: String,
}

/// The checked options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub date: Date,
    pub today: Date,
    pub retention_days: i64,
}

/// Checks the options; writes nothing.
pub fn plan(stack: &Stack, options: &Options) -> anyhow::Result<Plan> {
    let tz = jiff::tz::TimeZone::get(stack.config.get("TZ")).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::now().to_zoned_datetime(tz).date();
    let date = match &options.date {
        Some(text) => naming::parse_date(text)?,
        None => today,
    };
    if date > today {
        bail!("`--date {date}` is in the future (today is {today} in the server's time zone); there is no log of it yet");
    }
    let retention_days = match options.retention_days {
        Some(days) => days,
        None => stack
            .config
            .get("DAILY_RETENTION_DAYS")
            .parse()
            .unwrap_or(30),
    };
    let retention_days = naming::check_retention(retention_days)?;
    naming::check_date_kept(date, today, retention_days)?;
    Ok(Plan {
        date,
        today,
        retention_days,
    })
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What a run wrote and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: Utf8PathBuf,
    /// Findings past a threshold (audits, the sidecar's health).
    pub problems: usize,
    pub steps: Vec<Step>,
    pub pruned: Vec<Utf8PathBuf>,
}

impl Outcome {
    pub fn failed_steps(&self) -> Vec<&Step> {
        self.steps.iter().filter(|step| !step.ok).collect()
    }
}

/// Writes one bundle. Fails before writing anything when the options are
/// wrong or the server cannot be reached as the auditor.
pub fn run(stack: &Stack, options: &Options, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    let plan = plan(stack, options)?;
    let audit = Audit::open(stack, options.thresholds.clone(), &[])?;
    crate::server_log::current(stack)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the server writes no log files (its logging collector is not running); \
             run `cargo xtask up` to apply the logging configuration, then run this again"
        )
    })?;
    let daily = naming::daily_dir(&stack.paths);
    let (run, dir) = naming::create_run(&daily, plan.date)?;
    progress.status("Writing", &format!("the daily bundle {dir}"));
    let mut bundle = bundle::Bundle::new(dir.clone());
    let mut g = steps::Gathered::default();
    let mut done: Vec<Step> = Vec::new();
    let mut step = |name: &str, verb: &str, result: anyhow::Result<String>| {
        let step = match result {
            Ok(detail) => Step {
                name: name.to_owned(),
                ok: true,
                detail,
            },
            Err(err) => Step {
                name: name.to_owned(),
                ok: false,
                detail: format!("{err:#}"),
            },
        };
        progress.status(
            verb,
            &format!(
                "{name}: {}{}",
                if step.ok { "" } else { "FAILED: " },
                step.detail
            ),
        );
        done.push(step);
    };
    progress.status("Reading", &format!("the server's log of {}", plan.date));
    step(
        "server log",
        "Read",
        steps::server_log(stack, plan.date, &mut bundle, &mut g),
    );
    progress.status("Running", "pgBadger on the day's log");
    if g.log_json_lines > 0 {
        step("pgBadger", "Reported", steps::pgbadger(stack, &mut bundle));
    } else {
        step(
            "pgBadger",
            "Skipped",
            Ok("no log lines of the day to report on".to_owned()),
        );
    }
    step("pgaudit", "Summarized", steps::pgaudit(&mut bundle, &mut g));
    progress.status(
        "Auditing",
        &format!("{} database(s)", audit.databases.len()),
    );
    step(
        "audits",
        "Audited",
        steps::audits(&audit, &mut bundle, &mut g),
    );
    step(
        "pg_stat_statements",
        "Compared",
        steps::pgstat(&audit, &daily, plan.date, &run, &mut bundle, &mut g),
    );
    step(
        "tables",
        "Measured",
        steps::tables(&audit, &mut bundle, &mut g),
    );
    progress.status("Checking", "versions against the Debian mirror");
    step(
        "versions",
        "Checked",
        steps::versions(&audit, &options.network, &mut bundle, &mut g),
    );
    step(
        "logical backups",
        "Read",
        steps::sidecar(stack, &mut bundle, &mut g),
    );
    step(
        "backups",
        "Read",
        steps::backups(stack, &mut bundle, &mut g),
    );
    let pruned = naming::prune(&daily, plan.today, plan.retention_days, plan.date);
    let pruned = match pruned {
        Ok(pruned) => {
            step(
                "retention",
                "Pruned",
                Ok(format!("{} expired bundle(s) removed", pruned.len())),
            );
            pruned
        }
        Err(err) => {
            step("retention", "Pruned", Err(err));
            Vec::new()
        }
    };
    let problems = g.findings.len();
    let html = page::build(stack, &plan, &run, &bundle, &g, &done, &pruned);
    bundle.write("index.html", "this page", html?.as_bytes())?;
    Ok(Outcome {
        dir,
        problems,
        steps: done,
        pruned,
    })
}
