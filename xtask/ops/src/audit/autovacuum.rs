//! `audit autovacuum`: tables with many dead tuples (count and share), when
//! they were last vacuumed and analyzed, and how close each database and its
//! oldest tables are to transaction-ID or multixact wraparound.

use anyhow::Context;

use super::user_objects::{not_extension_relation, qualified, USER_SCHEMA};
use super::{Audit, Finding, Report, Severity, Thresholds};

/// Above this share of the wraparound limit a finding is critical.
const CRITICAL_PERCENT: f64 = 75.0;

/// How many of the oldest tables per database are examined for wraparound.
const OLDEST_TABLES: i64 = 5;

/// An age as a percentage of the 2^31 wraparound limit.
pub fn wraparound_percent(age: i64) -> f64 {
    age.max(0) as f64 / Thresholds::WRAPAROUND_LIMIT * 100.0
}

/// The severity of an age at `percent` of the limit: critical above 75 %,
/// a warning from `threshold` on, otherwise nothing.
pub fn wraparound_severity(percent: f64, threshold: f64) -> Option<Severity> {
    if percent > CRITICAL_PERCENT {
        Some(Severity::Critical)
    } else if percent >= threshold {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// Whether `dead` tuples out of `live + dead` need a vacuum; returns the share.
pub fn needs_vacuum(live: i64, dead: i64, min_dead: i64, min_ratio: f64) -> Option<f64> {
    let total = live.max(0) + dead.max(0);
    if total == 0 || dead < min_dead {
        return None;
    }
    let ratio = dead as f64 / total as f64;
    (ratio >= min_ratio).then_some(ratio)
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("autovacuum");
    report.databases = audit.databases.clone();
    let t = &audit.thresholds;
    audit.each_database(|db, client| {
        database_age(db, client, t, &mut report)?;
        dead_tuples(db, client, t, &mut report)?;
        oldest_tables(db, client, t, &mut report)
    })?;
    Ok(report)
}

/// The wraparound finding for `kind` (`xid` or `multixact`) at `age`, if any.
fn wraparound(
    db: &str,
    object: &str,
    kind: &str,
    age: i64,
    t: &Thresholds,
    fix: &str,
) -> Option<Finding> {
    let percent = wraparound_percent(age);
    let severity = wraparound_severity(percent, t.wraparound_percent)?;
    let (check, what) = match kind {
        "xid" => ("xid-wraparound", "transaction-ID age"),
        _ => ("multixact-wraparound", "multixact age"),
    };
    Some(
        Finding::new(
            Some(db),
            object,
            check,
            severity,
            format!(
                "{what} of `{object}` is {age} ({percent:.1} % of the 2^31 wraparound limit; \
                 the threshold is {:.1} %); {fix}",
                t.wraparound_percent
            ),
        )
        .with_value(percent),
    )
}

fn database_age(
    db: &str,
    client: &mut postgres::Client,
    t: &Thresholds,
    report: &mut Report,
) -> anyhow::Result<()> {
    let row = client
        .query_one(
            "SELECT age(datfrozenxid)::int8, mxid_age(datminmxid)::int8 \
             FROM pg_catalog.pg_database WHERE datname = current_database()",
            &[],
        )
        .context("failed to read the database's transaction-ID age")?;
    let (xid, mxid): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    report.push(
        Finding::new(
            Some(db),
            db,
            "database-age",
            Severity::Info,
            format!(
                "transaction-ID age {xid} ({:.3} % of the wraparound limit), multixact age {mxid} ({:.3} %)",
                wraparound_percent(xid),
                wraparound_percent(mxid)
            ),
        )
        .with_value(xid as f64),
    );
    let fix = format!(
        "run `VACUUM (FREEZE)` on the oldest tables of `{db}` (or the whole database) and check that autovacuum keeps up"
    );
    report
        .findings
        .extend(wraparound(db, db, "xid", xid, t, &fix));
    report
        .findings
        .extend(wraparound(db, db, "multixact", mxid, t, &fix));
    Ok(())
}

fn dead_tuples(
    db: &str,
    client: &mut postgres::Client,
    t: &Thresholds,
    report: &mut Report,
) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, s.n_live_tup, s.n_dead_tup, \
         s.last_vacuum::text, s.last_autovacuum::text, s.last_analyze::text, s.last_autoanalyze::text \
         FROM pg_catalog.pg_stat_user_tables s \
         JOIN pg_catalog.pg_class c ON c.oid = s.relid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE s.n_dead_tup >= $1 AND {USER_SCHEMA} AND {} \
         ORDER BY s.n_dead_tup DESC",
        not_extension_relation("c.oid")
    );
    for row in client
        .query(&sql, &[&t.dead_tuples_min])
        .context("failed to read pg_stat_user_tables")?
    {
        let (schema, table): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let (live, dead): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        let Some(ratio) = needs_vacuum(live, dead, t.dead_tuples_min, t.dead_tuple_ratio) else {
            continue;
        };
        let when = |i: usize| -> anyhow::Result<String> {
            Ok(row
                .try_get::<_, Option<String>>(i)?
                .unwrap_or_else(|| "never".to_owned()))
        };
        let name = qualified(&schema, &table);
        report.push(
            Finding::new(
                Some(db),
                name.clone(),
                "needs-vacuum",
                Severity::Warning,
                format!(
                    "{dead} dead tuples ({:.1} % of {} live plus dead; thresholds {} and {:.1} %); \
                     last vacuum {}, autovacuum {}, analyze {}, autoanalyze {}; \
                     run `VACUUM (ANALYZE) {name}` or check why autovacuum does not keep up",
                    ratio * 100.0,
                    live + dead,
                    t.dead_tuples_min,
                    t.dead_tuple_ratio * 100.0,
                    when(4)?,
                    when(5)?,
                    when(6)?,
                    when(7)?,
                ),
            )
            .with_value(dead as f64),
        );
    }
    Ok(())
}

fn oldest_tables(
    db: &str,
    client: &mut postgres::Client,
    t: &Thresholds,
    report: &mut Report,
) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, age(c.relfrozenxid)::int8, mxid_age(c.relminmxid)::int8 \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND {USER_SCHEMA} AND {} \
         ORDER BY greatest(age(c.relfrozenxid), mxid_age(c.relminmxid)) DESC LIMIT $1",
        not_extension_relation("c.oid")
    );
    for row in client
        .query(&sql, &[&OLDEST_TABLES])
        .context("failed to read the tables' transaction-ID ages")?
    {
        let name = qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?);
        let fix = format!("run `VACUUM (FREEZE) {name}` and check that autovacuum keeps up");
        let (xid, mxid): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        report
            .findings
            .extend(wraparound(db, &name, "xid", xid, t, &fix));
        report
            .findings
            .extend(wraparound(db, &name, "multixact", mxid, t, &fix));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraparound_is_a_percentage_of_two_to_the_31() {
        assert_eq!(wraparound_percent(0), 0.0);
        assert!((wraparound_percent(1 << 30) - 50.0).abs() < 1e-9);
        assert!((wraparound_percent(2_147_483_648) - 100.0).abs() < 1e-9);
        assert_eq!(wraparound_percent(-5), 0.0);
    }

    #[test]
    fn wraparound_severity_follows_the_threshold_and_75_percent() {
        assert_eq!(wraparound_severity(10.0, 40.0), None);
        assert_eq!(wraparound_severity(40.0, 40.0), Some(Severity::Warning));
        assert_eq!(wraparound_severity(75.0, 40.0), Some(Severity::Warning));
        assert_eq!(wraparound_severity(75.1, 40.0), Some(Severity::Critical));
        // 1.2 billion transactions: 55.9 %.
        let percent = wraparound_percent(1_200_000_000);
        assert_eq!(wraparound_severity(percent, 40.0), Some(Severity::Warning));
        assert_eq!(
            wraparound_severity(wraparound_percent(1_700_000_000), 40.0),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn vacuum_needs_both_the_count_and_the_share() {
        assert_eq!(needs_vacuum(5_000, 15_000, 1000, 0.2), Some(0.75));
        assert_eq!(needs_vacuum(1_000_000, 15_000, 1000, 0.2), None);
        assert_eq!(needs_vacuum(0, 999, 1000, 0.2), None);
        assert_eq!(needs_vacuum(0, 0, 0, 0.0), None);
    }
}
