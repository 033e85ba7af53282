//! `compact --level 1..4`: from looking to rewriting. 1 reports what needs
//! work and changes nothing; 2 registers pg_squeeze targets and squeezes;
//! 3 runs pg_repack on named tables; 4 runs `VACUUM (FULL, ANALYZE)`, only
//! when told `--yes`. Every input is checked in every database in scope
//! before the first change; every statement runs in a [`session`] without
//! statement timeout and with a lock timeout; every run writes its log under
//! `backups/maintenance/`.
//!
//! [`session`]: crate::maintenance::session

mod inspect;
mod repack;
mod squeeze;
mod vacuum_full;

use std::time::Duration;

use anyhow::{bail, Context};
use camino::Utf8PathBuf;
use serde::Serialize;

use super::log::Log;
use super::session;
use super::tables::{self, Table};
use crate::backup::dump::human_bytes;
use crate::progress::Progress;
use crate::stack::Stack;

pub use inspect::{Inspected, BLOAT_MIN_BYTES, BLOAT_PERCENT};
pub use vacuum_full::{estimate_seconds, LockEstimate, REWRITE_MB_PER_SECOND};

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// 1 inspect, 2 pg_squeeze, 3 pg_repack, 4 `VACUUM FULL`.
    pub level: u8,
    /// `--db`; empty: every database that accepts connections.
    pub databases: Vec<String>,
    /// `--tables` as written (`schema.table`); empty: the level's default scope.
    pub tables: Vec<String>,
    /// Level 4 runs only with this.
    pub yes: bool,
    pub lock_timeout: Duration,
}

/// One table rewritten (or attempted) at levels 2 to 4.
#[derive(Debug, Clone, Serialize)]
pub struct Compacted {
    pub database: String,
    pub table: Table,
    pub before_bytes: i64,
    pub after_bytes: i64,
    /// The server's or tool's message when this table failed.
    pub error: Option<String>,
}

impl Compacted {
    pub fn reclaimed_bytes(&self) -> i64 {
        self.before_bytes - self.after_bytes
    }
}

/// A table left alone, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub database: String,
    pub table: Table,
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub level: u8,
    pub databases: Vec<String>,
    pub log: Utf8PathBuf,
    /// Level 1: the tables that need work (or every named table).
    pub inspected: Vec<Inspected>,
    /// Level 1: tables looked at that need nothing.
    pub healthy: usize,
    pub compacted: Vec<Compacted>,
    pub skipped: Vec<Skipped>,
    /// Level 4: what it locks (or would lock), with estimates.
    pub locks: Vec<LockEstimate>,
    /// Level 4 without `--yes`: nothing ran.
    pub refused: bool,
    pub notes: Vec<String>,
}

impl Outcome {
    fn new(level: u8, databases: Vec<String>, log: Utf8PathBuf) -> Outcome {
        Outcome {
            level,
            databases,
            log,
            inspected: Vec::new(),
            healthy: 0,
            compacted: Vec::new(),
            skipped: Vec::new(),
            locks: Vec::new(),
            refused: false,
            notes: Vec::new(),
        }
    }

    /// Whether the command should exit non-zero: refused, or a table failed.
    pub fn failed(&self) -> bool {
        self.refused || self.compacted.iter().any(|c| c.error.is_some())
    }

    /// The report for people (also what the log records).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let scope = self.databases.join(", ");
        match self.level {
            1 => {
                out.push_str(&format!(
                    "level 1 (inspect, nothing changed) in {scope}: {} table(s) need work, {} need nothing\n",
                    self.inspected.iter().filter(|i| !i.needs.is_empty()).count(),
                    self.healthy
                ));
                for i in &self.inspected {
                    out.push_str(&i.render());
                    out.push('\n');
                }
            }
            _ => {
                if !self.locks.is_empty() {
                    out.push_str(&vacuum_full::render_locks(&self.locks, self.refused));
                }
                for c in &self.compacted {
                    out.push_str(&format!(
                        "{db}: {table}: {before} -> {after} (reclaimed {diff}){error}\n",
                        db = c.database,
                        table = c.table.display(),
                        before = human_bytes(c.before_bytes.max(0) as u64),
                        after = human_bytes(c.after_bytes.max(0) as u64),
                        diff = signed_bytes(c.reclaimed_bytes()),
                        error = c
                            .error
                            .as_ref()
                            .map(|e| format!("; FAILED: {e}"))
                            .unwrap_or_default(),
                    ));
                }
                if !self.compacted.is_empty() {
                    let total: i64 = self.compacted.iter().map(Compacted::reclaimed_bytes).sum();
                    out.push_str(&format!(
                        "level {}: {} table(s), {} reclaimed in total\n",
                        self.level,
                        self.compacted.len(),
                        signed_bytes(total)
                    ));
                }
                for s in &self.skipped {
                    out.push_str(&format!(
                        "{}: {}: skipped: {}\n",
                        s.database,
                        s.table.display(),
                        s.reason
                    ));
                }
            }
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// `1.5 MB`, or `-12.0 kB` when the table grew.
fn signed_bytes(bytes: i64) -> String {
    if bytes < 0 {
        format!("-{}", human_bytes(bytes.unsigned_abs()))
    } else {
        human_bytes(bytes as u64)
    }
}

/// One database in scope: its maintenance session and the tables the run covers.
struct Target {
    database: String,
    client: postgres::Client,
    tables: Vec<Table>,
}

/// Runs `compact` at `options.level`. Everything the level needs is checked
/// in every database before anything changes; the log records the run,
/// failures included.
pub fn run(stack: &Stack, options: &Options, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    if !(1..=4).contains(&options.level) {
        bail!(
            "--level is 1 (inspect), 2 (pg_squeeze), 3 (pg_repack) or 4 (VACUUM FULL), not {}",
            options.level
        );
    }
    if options.level == 3 && options.tables.is_empty() {
        bail!(
            "level 3 (pg_repack) needs `--tables schema.table,...`: it rewrites only the tables you name"
        );
    }
    let mut log = Log::create(&stack.paths, &format!("compact-level{}", options.level))?;
    log.line(&format!(
        "compact level {} databases [{}] tables [{}] lock_timeout {} ms{}",
        options.level,
        options.databases.join(", "),
        options.tables.join(", "),
        options.lock_timeout.as_millis(),
        if options.yes { " --yes" } else { "" }
    ))?;
    let path = log.path.clone();
    let result = run_logged(stack, options, &mut log, progress);
    match &result {
        Ok(outcome) => log.line(&outcome.render())?,
        Err(err) => log.line(&format!("error: {err:#}"))?,
    }
    result.with_context(|| format!("compact level {} stopped (log: {path})", options.level))
}

fn run_logged(
    stack: &Stack,
    options: &Options,
    log: &mut Log,
    progress: &dyn Progress,
) -> anyhow::Result<Outcome> {
    let databases = session::databases(stack, &options.databases)?;
    let mut outcome = Outcome::new(options.level, databases.clone(), log.path.clone());
    // Check everything first: names, keys, extensions, in every database.
    let mut targets = Vec::new();
    for database in &databases {
        progress.status("Checking", &format!("tables in `{database}`"));
        let mut client = session::open(stack, database, options.lock_timeout)?;
        let tables = if options.tables.is_empty() {
            match options.level {
                2 => squeeze::registered(&mut client, database, &mut outcome)?,
                _ => tables::user_tables(&mut client)?,
            }
        } else {
            let mut named = Vec::new();
            for text in &options.tables {
                let (table, _) = tables::resolve(&mut client, database, text, &["r"])?;
                if !named.contains(&table) {
                    named.push(table);
                }
            }
            named
        };
        targets.push(Target {
            database: database.clone(),
            client,
            tables,
        });
    }
    match options.level {
        1 => {
            let thresholds = crate::audit::Thresholds::from_config(&stack.config)?;
            for target in &mut targets {
                inspect::run(
                    target,
                    &thresholds,
                    !options.tables.is_empty(),
                    &mut outcome,
                )?;
            }
        }
        2 => {
            for target in &mut targets {
                squeeze::check(target, !options.tables.is_empty(), &mut outcome)?;
            }
            for target in &mut targets {
                squeeze::run(target, log, progress, &mut outcome)?;
            }
        }
        3 => {
            repack::check(&mut targets)?;
            for target in &mut targets {
                repack::run(
                    stack,
                    target,
                    options.lock_timeout,
                    log,
                    progress,
                    &mut outcome,
                )?;
            }
        }
        _ => {
            for target in &mut targets {
                vacuum_full::plan(target, &mut outcome)?;
            }
            if !options.yes {
                outcome.refused = true;
                return Ok(outcome);
            }
            for target in &mut targets {
                vacuum_full::run(target, log, progress, &mut outcome)?;
            }
        }
    }
    Ok(outcome)
}

/// Measures `table`, runs `work`, measures again; a failure of `work` is
/// recorded on the table (the run goes on with the next one).
fn measured(
    target: &mut Target,
    table: &Table,
    log: &mut Log,
    work: impl FnOnce(&mut postgres::Client) -> anyhow::Result<()>,
) -> anyhow::Result<Compacted> {
    let before = tables::total_size(&mut target.client, table)?;
    let error = work(&mut target.client).err().map(|e| format!("{e:#}"));
    let after = tables::total_size(&mut target.client, table)?;
    let done = Compacted {
        database: target.database.clone(),
        table: table.clone(),
        before_bytes: before,
        after_bytes: after,
        error,
    };
    log.line(&format!(
        "{}: {}: {} -> {} bytes{}",
        done.database,
        table.display(),
        before,
        after,
        done.error
            .as_ref()
            .map(|e| format!("; FAILED: {e}"))
            .unwrap_or_default()
    ))?;
    Ok(done)
}
