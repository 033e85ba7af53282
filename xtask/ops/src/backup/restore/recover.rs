//! Finishing an interrupted restore from its journal: roll back (the original
//! directories back in place, the server started) or, once the restored
//! cluster has promoted, finish forward. Every decision rests on the journal
//! and on which of the restore's own directories exist; nothing is guessed.
//!
//! | journal step            | restored cluster promoted? | action          |
//! |-------------------------|----------------------------|-----------------|
//! | `Staging`               | —                          | drop staging    |
//! | `Stopping`…`Swapping`   | —                          | roll back       |
//! | `Starting`              | no (`recovery.signal`)     | roll back       |
//! | `Starting`              | yes                        | finish forward  |
//! | `Promoted`              | yes                        | finish forward  |

use std::time::Duration;

use super::journal::{self, Journal, Step};
use super::workspace::{Workspace, PGDATA, PGWAL};
use crate::progress::Progress;
use crate::stack::Stack;

/// What was done about an interrupted restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// It had not touched the live cluster: its staging directories were removed.
    DroppedStaging { id: String },
    /// It was rolled back: the data is as it was before it.
    RolledBack { id: String },
    /// It had promoted: it was finished; the old data is kept aside at these paths.
    Finished { id: String, old_data: Vec<String> },
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::DroppedStaging { id } => write!(
                f,
                "an interrupted restore (`{id}`) had not touched the live cluster; its staging directories were removed"
            ),
            Recovered::RolledBack { id } => write!(
                f,
                "an interrupted restore (`{id}`) was rolled back; your data is as it was before it"
            ),
            Recovered::Finished { id, old_data } => write!(
                f,
                "an interrupted restore (`{id}`) had already promoted the restored cluster; it was finished \
                 (the previous data is kept at {})",
                if old_data.is_empty() { "nothing: there was none".to_owned() } else { old_data.join(" and ") }
            ),
        }
    }
}

/// Finishes an interrupted restore, if there is one. Called first by `up` and `restore`.
pub fn recover_pending(
    stack: &Stack,
    progress: &dyn Progress,
) -> anyhow::Result<Option<Recovered>> {
    let host = journal::read_host(&stack.paths)?;
    if host.is_none() {
        // No journal on this side: a restore can only be pending in the volume when the
        // server is not running (a running server means none was mid-swap), and only
        // when the data volume exists at all.
        let running = stack
            .docker
            .health(&stack.container())?
            .is_some_and(|h| h != "stopped");
        let volume = super::super::oneshot::volume_name(stack, "pgdata");
        if running || !stack.docker.volume_exists(&volume)? {
            return Ok(None);
        }
    }
    let ws = Workspace::start(stack)?;
    let Some(journal) = journal::read_volume(&ws)?.or(host) else {
        return Ok(None);
    };
    progress.status(
        "Recovering",
        &format!(
            "an interrupted restore `{}` (stopped at step {:?})",
            journal.id, journal.step
        ),
    );
    if journal.step == Step::Staging {
        ws.remove(&journal.staging_data())?;
        ws.remove(&journal.staging_wal())?;
        journal::clear(&stack.paths, &ws)?;
        return Ok(Some(Recovered::DroppedStaging { id: journal.id }));
    }
    // Stop first, then look: a restored server left running could otherwise promote
    // between the look and the decision.
    stack
        .compose()
        .run(&["stop", "logical_backup", "postgres"])?;
    if journal.step >= Step::Starting && promoted(&ws, &journal)? {
        drop(ws);
        let old_data = finish_forward(stack, &journal, progress)?;
        return Ok(Some(Recovered::Finished {
            id: journal.id,
            old_data,
        }));
    }
    drop(ws);
    roll_back(stack, &journal, progress)?;
    Ok(Some(Recovered::RolledBack { id: journal.id }))
}

/// The restored cluster is in place and has left recovery for good.
///
/// PostgreSQL removes `recovery.signal` as soon as it decides to end recovery,
/// but the promotion is durable only once the control file says so, after the
/// end-of-recovery checkpoint. A server stopped in between (by this very
/// recovery's stop, or a crash) would next start with *crash* recovery, which
/// replays everything in pg_wal, past the restore's target: that cluster was
/// never promoted, and it must be rolled back, not started.
fn promoted(ws: &Workspace<'_>, journal: &Journal) -> anyhow::Result<bool> {
    let restored_in_place = !ws.present(&journal.staging_data())?
        && !ws.present(journal::SWAP_MARKER)?
        && ws.exists(&format!("{PGDATA}/PG_VERSION"))?
        && (!journal.had_data || ws.present(&journal.aside_data())?);
    if !restored_in_place || ws.exists(&format!("{PGDATA}/recovery.signal"))? {
        return Ok(false);
    }
    let control = ws.run(&["pg_controldata", PGDATA])?;
    Ok(left_recovery(&control))
}

/// Whether `pg_controldata` output says the cluster finished recovery: it is
/// (or was, when it stopped) in production. "in archive recovery" without a
/// signal file is a promotion cut short.
pub(crate) fn left_recovery(control: &str) -> bool {
    let state = control
        .lines()
        .find_map(|line| line.strip_prefix("Database cluster state:"))
        .map(str::trim);
    matches!(
        state,
        Some("in production" | "shut down" | "shutting down" | "in crash recovery")
    )
}

fn kept_aside(journal: &Journal) -> Vec<String> {
    let mut kept = Vec::new();
    if journal.had_data {
        kept.push(journal.aside_data());
    }
    if journal.had_wal {
        kept.push(journal.aside_wal());
    }
    kept
}

fn finish_forward(
    stack: &Stack,
    journal: &Journal,
    progress: &dyn Progress,
) -> anyhow::Result<Vec<String>> {
    progress.status(
        "Finishing",
        &format!(
            "restore `{}`: the restored cluster had promoted",
            journal.id
        ),
    );
    stack.compose().run(&["up", "--detach", "postgres"])?;
    stack.wait_healthy(Duration::from_secs(1800), progress)?;
    stack.compose().run(&["up", "--detach"])?;
    let ws = Workspace::start(stack)?;
    let mut kept = kept_aside(journal);
    if journal.discard_old {
        for dir in &kept {
            ws.remove(dir)?;
        }
        kept.clear();
    }
    journal::clear(&stack.paths, &ws)?;
    Ok(kept)
}

/// Puts the original directories back and starts the original server. Safe to
/// repeat: each move checks what is where first.
pub(crate) fn roll_back(
    stack: &Stack,
    journal: &Journal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    progress.status(
        "Rolling back",
        &format!("restore `{}`: putting the previous data back", journal.id),
    );
    stack
        .compose()
        .run(&["stop", "logical_backup", "postgres"])?;
    let ws = Workspace::start(stack)?;
    ws.write_file(journal::SWAP_MARKER, journal.id.as_bytes())?;
    for (live, aside, had) in [
        (PGDATA, journal.aside_data(), journal.had_data),
        (PGWAL, journal.aside_wal(), journal.had_wal),
    ] {
        if ws.present(&aside)? {
            // The original is aside, so whatever is live is the restored copy (or nothing).
            if ws.present(live)? {
                ws.remove(live)?;
            }
            ws.rename(&aside, live)?;
        } else if !had && ws.present(live)? {
            // There was nothing here before the restore: what is here is the restored copy.
            ws.remove(live)?;
        }
        // Otherwise the original never moved.
    }
    ws.remove(&journal.staging_data())?;
    ws.remove(&journal.staging_wal())?;
    ws.sync()?;
    journal::clear(&stack.paths, &ws)?;
    drop(ws);
    if journal.had_cluster {
        progress.status("Starting", "the previous cluster");
        stack.compose().run(&["up", "--detach", "postgres"])?;
        stack.wait_healthy(Duration::from_secs(1800), progress)?;
        stack.compose().run(&["up", "--detach"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::left_recovery;

    #[test]
    fn only_a_cluster_that_reached_production_left_recovery() {
        let state = |s: &str| {
            format!("pg_control version number:            1700\nDatabase cluster state:               {s}\n")
        };
        assert!(left_recovery(&state("in production")));
        assert!(left_recovery(&state("shut down")));
        assert!(!left_recovery(&state("in archive recovery")));
        assert!(!left_recovery(&state("shut down in recovery")));
        assert!(!left_recovery(&state("starting up")));
        assert!(!left_recovery("garbage"));
    }
}
