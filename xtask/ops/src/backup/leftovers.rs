//! Databases an interrupted `restore-dump` left behind (`core_data_restore_*`).
//!
//! Every such database carries a marker in its comment saying what it is: `temp`
//! (a copy being loaded, never swapped in; the target is as it was) or `old`
//! (the database a committed swap replaced), the target's name and the restoring
//! process. `sweep` (run by `up` and by every `restore-dump`) finishes what the
//! interrupted run would have done when that is safe: it drops a `temp` copy and
//! an `old` one whose target exists, and renames an `old` one back when its
//! target is missing (it is then the only copy). Anything it cannot classify, or
//! whose process is still running, is only reported, with the exact command.

use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::sql::{quote_ident, quote_literal};
use crate::stack::Stack;

/// Prefix of the temporary databases a restore creates (and always removes).
pub use core_data_sidecar::TEMP_PREFIX;
const MARKER_PREFIX: &str = "core_data restore-dump ";

/// What a `core_data_restore_*` database is, from its comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// `temp` or `old`.
    pub kind: String,
    pub target: String,
    pub pid: u32,
    pub boot: String,
    /// The replaced database's own comment (put back when it is renamed back).
    pub comment: Option<String>,
}

impl Marker {
    pub fn new(kind: &str, target: &str, comment: Option<String>) -> Marker {
        Marker {
            kind: kind.to_owned(),
            target: target.to_owned(),
            pid: std::process::id(),
            boot: boot_id(),
            comment,
        }
    }

    /// `COMMENT ON DATABASE <name> IS …` for this marker.
    pub fn comment_sql(&self, database: &str) -> String {
        let json = serde_json::to_string(self).expect("a marker always serializes");
        format!(
            "COMMENT ON DATABASE {} IS {}",
            quote_ident(database),
            quote_literal(&format!("{MARKER_PREFIX}{json}"))
        )
    }

    fn parse(comment: Option<&str>) -> Option<Marker> {
        serde_json::from_str(comment?.strip_prefix(MARKER_PREFIX)?).ok()
    }

    fn process_alive(&self) -> bool {
        self.boot == boot_id() && std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// One leftover database and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub name: String,
    pub state: State,
}

/// What a leftover is, and so what may be done with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    /// Its restore-dump process is still running: left alone.
    InProgress { target: String },
    /// A copy that was never swapped in; the target is as it was: dropped.
    Unfinished { target: String },
    /// The database a committed swap replaced; the target is the restored copy: dropped.
    Replaced { target: String },
    /// Replaced, and the target name is gone: this is the only copy: renamed back.
    OnlyCopy {
        target: String,
        comment: Option<String>,
    },
    /// No marker (an older version, or interrupted right after creating it): reported.
    Unknown,
}

impl Leftover {
    /// What it is and how to remove it, for `dump-status` and warnings.
    pub fn describe(&self) -> String {
        let name = &self.name;
        let drop = format!("`cargo xtask drop-db {name} --yes`");
        match &self.state {
            State::InProgress { target } => format!(
                "`{name}`: a restore-dump into `{target}` still running (its process is alive); \
                 if it is not, drop it with {drop}"
            ),
            State::Unfinished { target } => format!(
                "`{name}`: an unfinished restore-dump into `{target}` (never swapped in; `{target}` is as it was); \
                 `cargo xtask up` drops it, or drop it with {drop}"
            ),
            State::Replaced { target } => format!(
                "`{name}`: the previous `{target}`, replaced by a restore-dump that was interrupted before dropping it; \
                 `cargo xtask up` drops it, or drop it with {drop}"
            ),
            State::OnlyCopy { target, .. } => format!(
                "`{name}`: the only copy of `{target}` (an interrupted restore-dump; `{target}` is missing); \
                 `cargo xtask up` renames it back, or run `cargo xtask psql -c 'ALTER DATABASE {} RENAME TO {}'`",
                quote_ident(name),
                quote_ident(target)
            ),
            State::Unknown => format!(
                "`{name}`: left by an interrupted restore-dump, with no record of what it is; if a database is missing, \
                 this may be its only copy: rename it back with `cargo xtask psql -c 'ALTER DATABASE {} RENAME TO \"<name>\"'`; \
                 otherwise drop it with {drop}",
                quote_ident(name)
            ),
        }
    }
}

/// Finds the leftovers (read-only).
pub fn find(admin: &mut postgres::Client) -> anyhow::Result<Vec<Leftover>> {
    let rows = admin.query(
        "SELECT datname::text, shobj_description(oid, 'pg_database')::text FROM pg_database \
         WHERE starts_with(datname, $1) ORDER BY datname",
        &[&TEMP_PREFIX],
    )?;
    let mut found = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let comment: Option<String> = row.get(1);
        let state = match Marker::parse(comment.as_deref()) {
            None => State::Unknown,
            Some(marker) if marker.process_alive() => State::InProgress {
                target: marker.target,
            },
            Some(marker) if marker.kind == "temp" => State::Unfinished {
                target: marker.target,
            },
            Some(marker) if marker.kind == "old" => {
                let exists = admin
                    .query_opt(
                        "SELECT 1 FROM pg_database WHERE datname = $1",
                        &[&marker.target],
                    )?
                    .is_some();
                if exists {
                    State::Replaced {
                        target: marker.target,
                    }
                } else {
                    State::OnlyCopy {
                        target: marker.target,
                        comment: marker.comment,
                    }
                }
            }
            Some(_) => State::Unknown,
        };
        found.push(Leftover { name, state });
    }
    Ok(found)
}

/// Cleans what is safe to clean and reports the rest through `progress`;
/// returns the leftovers that remain. Never fails the caller for a leftover.
pub fn sweep(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Vec<Leftover>> {
    let mut admin = stack.connect("postgres")?;
    let mut remaining = Vec::new();
    for leftover in find(&mut admin)? {
        let name = quote_ident(&leftover.name);
        let done = match &leftover.state {
            State::Unfinished { .. } | State::Replaced { .. } => admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .map(|()| "Dropped"),
            State::OnlyCopy { target, comment } => admin
                .batch_execute(&format!(
                    "BEGIN; ALTER DATABASE {name} RENAME TO {}; COMMENT ON DATABASE {} IS {}; COMMIT",
                    quote_ident(target),
                    quote_ident(target),
                    comment.as_deref().map_or("NULL".to_owned(), quote_literal)
                ))
                .map(|()| "Renamed back"),
            State::InProgress { .. } | State::Unknown => {
                progress.status("Leftover", &leftover.describe());
                remaining.push(leftover);
                continue;
            }
        };
        match done {
            Ok(verb) => progress.status(verb, &leftover.describe()),
            Err(err) => {
                let _ = admin.batch_execute("ROLLBACK");
                progress.status(
                    "Warning",
                    &format!("{} (cleaning it failed: {err})", leftover.describe()),
                );
                remaining.push(leftover);
            }
        }
    }
    Ok(remaining)
}
