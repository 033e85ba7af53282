//! Level 4: `VACUUM (FULL, ANALYZE)`, one table at a time. It rewrites each
//! table under an ACCESS EXCLUSIVE lock (no reads, no writes) for the whole
//! rewrite, so it runs only with `--yes`; without, it lists each table, its
//! size and an estimate of how long the lock is held.

use serde::Serialize;

use super::{measured, Outcome, Target};
use crate::backup::dump::human_bytes;
use crate::maintenance::log::Log;
use crate::maintenance::tables::{self, Table};
use crate::pg::server_message;
use crate::progress::Progress;

/// The rewrite rate the lock estimates assume (heap and index rebuild
/// together). A guess for ordinary SSDs: slow disks, many indexes or a busy
/// server take longer.
pub const REWRITE_MB_PER_SECOND: f64 = 50.0;

/// One table level 4 locks.
#[derive(Debug, Clone, Serialize)]
pub struct LockEstimate {
    pub database: String,
    pub table: Table,
    pub total_bytes: i64,
    /// At [`REWRITE_MB_PER_SECOND`]; an estimate, not a promise.
    pub estimated_seconds: f64,
}

/// Seconds a rewrite of `bytes` takes at the stated rate.
pub fn estimate_seconds(bytes: i64) -> f64 {
    bytes.max(0) as f64 / (REWRITE_MB_PER_SECOND * 1024.0 * 1024.0)
}

/// Sizes and lock estimates for `target`'s tables.
pub(super) fn plan(target: &mut Target, outcome: &mut Outcome) -> anyhow::Result<()> {
    for table in &target.tables {
        let bytes = tables::total_size(&mut target.client, table)?;
        outcome.locks.push(LockEstimate {
            database: target.database.clone(),
            table: table.clone(),
            total_bytes: bytes,
            estimated_seconds: estimate_seconds(bytes),
        });
    }
    Ok(())
}

/// The lock list for people.
pub(super) fn render_locks(locks: &[LockEstimate], refused: bool) -> String {
    let mut out = String::new();
    let total: f64 = locks.iter().map(|l| l.estimated_seconds).sum();
    out.push_str(&format!(
        "VACUUM (FULL, ANALYZE) {} each table below under an ACCESS EXCLUSIVE lock (no reads or \
         writes) for its whole rewrite; the times are estimates at {REWRITE_MB_PER_SECOND} MB/s:\n",
        if refused { "would hold" } else { "holds" }
    ));
    for l in locks {
        out.push_str(&format!(
            "  {}: {}: {} ~{:.1} s\n",
            l.database,
            l.table.display(),
            human_bytes(l.total_bytes.max(0) as u64),
            l.estimated_seconds
        ));
    }
    out.push_str(&format!(
        "  {} table(s), ~{total:.1} s of locking in total (one table at a time)\n",
        locks.len()
    ));
    if refused {
        out.push_str(
            "refused: nothing was changed; run again with `--yes` to rewrite these tables \
             (or use level 3, pg_repack, online)\n",
        );
    }
    out
}

/// Rewrites each table of `target`; a table that fails (a lock not granted
/// within `lock_timeout`, say) is recorded and the next one goes on.
pub(super) fn run(
    target: &mut Target,
    log: &mut Log,
    progress: &dyn Progress,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    for table in target.tables.clone() {
        progress.status(
            "Vacuuming",
            &format!("{} in `{}` (VACUUM FULL)", table.display(), target.database),
        );
        let statement = format!("VACUUM (FULL, ANALYZE) {}", table.sql());
        let done = measured(target, &table, log, |client| {
            client
                .batch_execute(&statement)
                .map_err(|e| anyhow::anyhow!("`{statement}` failed: {}", server_message(&e)))
        })?;
        outcome.compacted.push(done);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gigabyte_takes_about_twenty_seconds_at_the_stated_rate() {
        assert!((estimate_seconds(1 << 30) - 20.48).abs() < 0.01);
        assert_eq!(estimate_seconds(-1), 0.0);
    }
}
