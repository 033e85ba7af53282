//! Level 1: what needs work, changing nothing. Per table: dead tuples and
//! their share (the autovacuum audit's rule and `AUDIT_*` thresholds), a
//! bloat estimate (`pgstattuple_approx` where pgstattuple is installed,
//! otherwise the dead share of the heap from the statistics), and the
//! transaction-ID and multixact ages against the wraparound limit.

use serde::Serialize;

use super::{Outcome, Target};
use crate::audit::autovacuum::{needs_vacuum, wraparound_percent, wraparound_severity};
use crate::audit::user_objects::extension_schema;
use crate::audit::Thresholds;
use crate::backup::dump::human_bytes;
use crate::maintenance::tables::Table;

/// Reclaimable space (dead tuples plus free space) worth a compaction: at
/// least this share of the table ...
pub const BLOAT_PERCENT: f64 = 20.0;
/// ... and at least this many bytes.
pub const BLOAT_MIN_BYTES: i64 = 1 << 20;

/// One table's state.
#[derive(Debug, Clone, Serialize)]
pub struct Inspected {
    pub database: String,
    pub table: Table,
    pub total_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    /// Dead among live plus dead, 0..1.
    pub dead_ratio: f64,
    /// Space a rewrite would give back (estimate).
    pub bloat_bytes: i64,
    pub bloat_percent: f64,
    /// `pgstattuple_approx` or `statistics`.
    pub bloat_method: String,
    pub xid_age: i64,
    pub mxid_age: i64,
    /// What to do: empty when nothing.
    pub needs: Vec<String>,
}

impl Inspected {
    pub fn render(&self) -> String {
        format!(
            "{db}: {table}: {size}, {dead} dead of {total} tuples ({ratio:.1} %), bloat ~{bloat} \
             ({bloat_pct:.1} %, {method}), xid age {xid} ({xid_pct:.2} %), multixact age {mxid}: {needs}",
            db = self.database,
            table = self.table.display(),
            size = human_bytes(self.total_bytes.max(0) as u64),
            dead = self.dead_tuples,
            total = self.live_tuples + self.dead_tuples,
            ratio = self.dead_ratio * 100.0,
            bloat = human_bytes(self.bloat_bytes.max(0) as u64),
            bloat_pct = self.bloat_percent,
            method = self.bloat_method,
            xid = self.xid_age,
            xid_pct = wraparound_percent(self.xid_age),
            mxid = self.mxid_age,
            needs = if self.needs.is_empty() {
                "nothing to do".to_owned()
            } else {
                self.needs.join("; ")
            }
        )
    }
}

/// Inspects `target`'s tables; lists every one when `all` (named tables),
/// otherwise only those that need work (counting the rest).
pub(super) fn run(
    target: &mut Target,
    t: &Thresholds,
    all: bool,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let pgstattuple = extension_schema(&mut target.client, "pgstattuple")?;
    for table in &target.tables {
        let row = target.client.query_one(
            "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), \
             coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), \
             age(c.relfrozenxid)::int8, mxid_age(c.relminmxid)::int8 \
             FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = $1",
            &[&table.oid],
        )?;
        let (total, heap): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let (live, dead): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        let (xid, mxid): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
        let dead_ratio = if live + dead > 0 {
            dead as f64 / (live + dead) as f64
        } else {
            0.0
        };
        let (bloat_bytes, bloat_percent, method) = match &pgstattuple {
            Some(schema) if heap > 0 => {
                let row = target.client.query_one(
                    &format!(
                        "SELECT (dead_tuple_len + approx_free_space)::int8, \
                         (dead_tuple_percent + approx_free_percent)::float8 \
                         FROM {schema}.pgstattuple_approx($1::oid::regclass)"
                    ),
                    &[&table.oid],
                )?;
                (row.try_get(0)?, row.try_get(1)?, "pgstattuple_approx")
            }
            _ => (
                (heap as f64 * dead_ratio) as i64,
                dead_ratio * 100.0,
                "statistics",
            ),
        };
        let mut needs = Vec::new();
        if let Some(ratio) = needs_vacuum(live, dead, t.dead_tuples_min, t.dead_tuple_ratio) {
            needs.push(format!(
                "VACUUM ({:.1} % dead; thresholds {} tuples and {:.1} %)",
                ratio * 100.0,
                t.dead_tuples_min,
                t.dead_tuple_ratio * 100.0
            ));
        }
        if bloat_percent >= BLOAT_PERCENT && bloat_bytes >= BLOAT_MIN_BYTES {
            needs.push(format!(
                "compact: ~{} reclaimable (level 2 pg_squeeze or 3 pg_repack online, 4 VACUUM FULL offline)",
                human_bytes(bloat_bytes as u64)
            ));
        }
        for (kind, age) in [("transaction-ID", xid), ("multixact", mxid)] {
            let percent = wraparound_percent(age);
            if let Some(severity) = wraparound_severity(percent, t.wraparound_percent) {
                needs.push(format!(
                    "VACUUM (FREEZE): {kind} age at {percent:.1} % of the wraparound limit ({})",
                    severity.as_str()
                ));
            }
        }
        if needs.is_empty() && !all {
            outcome.healthy += 1;
            continue;
        }
        outcome.inspected.push(Inspected {
            database: target.database.clone(),
            table: table.clone(),
            total_bytes: total,
            live_tuples: live,
            dead_tuples: dead,
            dead_ratio,
            bloat_bytes,
            bloat_percent,
            bloat_method: method.to_owned(),
            xid_age: xid,
            mxid_age: mxid,
            needs,
        });
    }
    Ok(())
}
