//! The capture loop: every `capture_interval_seconds`, one row in `captures`,
//! the per-interval deltas of every pg_stat_statements entry that ran (the
//! dashboard's own statements left out), every database's size, and, at most
//! hourly, the size of each database's largest tables and indexes; then
//! everything older than `history_days` is pruned. The first capture after a
//! start is the baseline: the interval across a restart is not recorded.
//! pg_stat_statements is read, never reset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delta::{self, Counters};
use crate::state::AppState;

/// Relation sizes are captured at most this often (they change slowly and
/// there are many).
const SIZES_EVERY: Duration = Duration::from_secs(3600);
/// Relations whose size is kept per database and capture.
const RELATIONS_PER_DATABASE: i64 = 200;

type Key = (u32, u32, i64);

/// `statement_deltas` as arrays for one `unnest` insert: dbid, userid,
/// queryid, calls, time, rows, after_reset.
type DeltaColumns = (
    Vec<u32>,
    Vec<u32>,
    Vec<i64>,
    Vec<i64>,
    Vec<f64>,
    Vec<i64>,
    Vec<bool>,
);
/// `statements` as arrays: dbid, userid, queryid, database, user, text.
type TextColumns = (
    Vec<u32>,
    Vec<u32>,
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);
/// `relation_sizes` as arrays: database, schema, relation, kind, bytes.
type SizeColumns = (Vec<String>, Vec<String>, Vec<String>, Vec<String>, Vec<i64>);

/// What the loop remembers between captures.
#[derive(Default)]
pub(crate) struct Capturer {
    before: Option<HashMap<Key, Counters>>,
    stats_reset: Option<String>,
    sized_at: Option<Instant>,
    tables_ready: bool,
}

/// Runs the loop on its own thread for the life of the process.
pub(crate) fn spawn(state: Arc<AppState>) {
    let interval = Duration::from_secs(state.settings.capture_interval_seconds.max(1));
    std::thread::Builder::new()
        .name("capture".to_owned())
        .spawn(move || {
            let mut capturer = Capturer::default();
            loop {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    capturer.capture(&state)
                }));
                match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        eprintln!("core-data-dashboard: the capture failed: {error:#}");
                    }
                    // A bug must not end the history for the life of the process.
                    Err(_) => {
                        eprintln!(
                            "core-data-dashboard: the capture panicked; the next one starts \
                             from a new baseline"
                        );
                        capturer = Capturer::default();
                    }
                }
                std::thread::sleep(interval);
            }
        })
        .expect("spawning the capture thread");
}

impl Capturer {
    /// One capture.
    pub(crate) fn capture(&mut self, state: &AppState) -> anyhow::Result<()> {
        let role = state.settings.database.role.clone();
        let history_days = i32::try_from(state.settings.history_days).unwrap_or(i32::MAX);
        let databases = state.databases()?;
        let with_sizes = self.sized_at.is_none_or(|at| at.elapsed() >= SIZES_EVERY);
        let mut relations = Vec::new();
        if with_sizes {
            for database in &databases {
                let rows = state.with_client(database, |client| {
                    Ok(client.query(
                        "SELECT n.nspname::text, c.relname::text, c.relkind, \
                                CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) \
                                     ELSE pg_total_relation_size(c.oid) END \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE c.relkind IN ('r', 'm', 'p', 'i') \
                           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                           AND n.nspname NOT LIKE 'pg_toast%' \
                           AND pg_relation_size(c.oid) IS NOT NULL \
                         ORDER BY 4 DESC NULLS LAST LIMIT $1",
                        &[&RELATIONS_PER_DATABASE],
                    )?)
                })?;
                for row in rows {
                    relations.push((
                        database.clone(),
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, i8>(2),
                        // NULL when the relation was dropped during the scan.
                        row.get::<_, Option<i64>>(3).unwrap_or(0),
                    ));
                }
            }
        }
        let tables_ready = self.tables_ready;
        let before = self.before.take();
        let previous_reset = self.stats_reset.clone();
        let (now, stats_reset) = state
            .with_client("postgres", |client| {
                if !tables_ready {
                    super::schema::ensure(client)?;
                }
                let reset: Option<String> = client
                    .query_one("SELECT stats_reset::text FROM pg_stat_statements_info", &[])?
                    .get(0);
                let rows = client.query(
                    "SELECT s.dbid, s.userid, s.queryid, d.datname::text, r.rolname::text, \
                        coalesce(min(s.query), ''), sum(s.calls)::int8, sum(s.total_exec_time)::float8, \
                        sum(s.rows)::int8 \
                 FROM pg_stat_statements(true) s \
                 JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
                 WHERE s.queryid IS NOT NULL AND r.rolname <> $1 \
                 GROUP BY 1, 2, 3, 4, 5",
                    &[&role],
                )?;
                let now: HashMap<Key, (String, String, String, Counters)> = rows
                    .iter()
                    .map(|row| {
                        (
                            (row.get(0), row.get(1), row.get(2)),
                            (
                                row.get(3),
                                row.get(4),
                                row.get(5),
                                Counters {
                                    calls: row.get(6),
                                    exec_ms: row.get(7),
                                    rows: row.get(8),
                                },
                            ),
                        )
                    })
                    .collect();
                let reset_moved = previous_reset.is_some() && previous_reset != reset;
                let samples = super::containers::sample(client);
                let mut tx = client.transaction()?;
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO core_data_dashboard.captures (stats_reset, with_sizes) \
                     VALUES ($1::text::timestamptz, $2) RETURNING id",
                        &[&reset, &with_sizes],
                    )?
                    .get(0);
                if let Some(before) = &before {
                    let mut columns = DeltaColumns::default();
                    let mut texts = TextColumns::default();
                    for (key, (database, user, query, counters)) in &now {
                        let Some(d) =
                            delta::delta(before.get(key).copied(), *counters, reset_moved)
                        else {
                            continue;
                        };
                        columns.0.push(key.0);
                        columns.1.push(key.1);
                        columns.2.push(key.2);
                        columns.3.push(d.counters.calls);
                        columns.4.push(d.counters.exec_ms);
                        columns.5.push(d.counters.rows);
                        columns.6.push(d.after_reset);
                        texts.0.push(key.0);
                        texts.1.push(key.1);
                        texts.2.push(key.2);
                        texts.3.push(database.clone());
                        texts.4.push(user.clone());
                        texts.5.push(query.clone());
                    }
                    tx.execute(
                        "INSERT INTO core_data_dashboard.statement_deltas \
                         (capture_id, dbid, userid, queryid, calls, exec_ms, rows, after_reset) \
                     SELECT $1, * FROM unnest($2::oid[], $3::oid[], $4::int8[], $5::int8[], \
                                              $6::float8[], $7::int8[], $8::bool[])",
                        &[
                            &id, &columns.0, &columns.1, &columns.2, &columns.3, &columns.4,
                            &columns.5, &columns.6,
                        ],
                    )?;
                    tx.execute(
                        "INSERT INTO core_data_dashboard.statements \
                         (dbid, userid, queryid, database, username, query) \
                     SELECT * FROM unnest($1::oid[], $2::oid[], $3::int8[], $4::text[], \
                                          $5::text[], $6::text[]) \
                     ON CONFLICT (dbid, userid, queryid) DO UPDATE \
                     SET database = EXCLUDED.database, username = EXCLUDED.username, \
                         query = EXCLUDED.query, last_seen = now()",
                        &[&texts.0, &texts.1, &texts.2, &texts.3, &texts.4, &texts.5],
                    )?;
                }
                super::containers::insert(&mut tx, id, &samples)?;
                tx.execute(
                    "INSERT INTO core_data_dashboard.database_sizes (capture_id, database, bytes) \
                 SELECT $1, datname, pg_database_size(oid) FROM pg_database \
                 WHERE datname = ANY($2)",
                    &[&id, &databases],
                )?;
                if with_sizes {
                    let mut columns = SizeColumns::default();
                    for (database, schema, relation, kind, bytes) in &relations {
                        columns.0.push(database.clone());
                        columns.1.push(schema.clone());
                        columns.2.push(relation.clone());
                        columns.3.push(char::from(*kind as u8).to_string());
                        columns.4.push(*bytes);
                    }
                    tx.execute(
                        "INSERT INTO core_data_dashboard.relation_sizes \
                         (capture_id, database, schema_name, relation, kind, bytes) \
                     SELECT $1, d, s, r, k::\"char\", b \
                     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
                          AS u(d, s, r, k, b)",
                        &[
                            &id, &columns.0, &columns.1, &columns.2, &columns.3, &columns.4,
                        ],
                    )?;
                }
                tx.execute(
                    "DELETE FROM core_data_dashboard.captures \
                 WHERE taken_at < now() - make_interval(days => $1)",
                    &[&history_days],
                )?;
                tx.execute(
                    "DELETE FROM core_data_dashboard.statements \
                 WHERE last_seen < now() - make_interval(days => $1)",
                    &[&history_days],
                )?;
                tx.commit()?;
                let counters = now.into_iter().map(|(key, (.., c))| (key, c)).collect();
                Ok((counters, reset))
            })
            .map_err(|error| match error.downcast_ref::<postgres::Error>() {
                Some(pg) => anyhow::anyhow!("{}", crate::db::message(pg)),
                None => error,
            })?;
        self.tables_ready = true;
        self.before = Some(now);
        self.stats_reset = stats_reset;
        if with_sizes {
            self.sized_at = Some(Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dashboard_never_resets_pg_stat_statements() {
        // The whole crate's source: no call of the reset function anywhere.
        let reset = ["pg_stat_statements", "_reset("].concat();
        for (name, text) in [
            ("capture.rs", include_str!("capture.rs")),
            ("read.rs", include_str!("read.rs")),
            ("queries.rs", include_str!("../pages/queries.rs")),
            ("indexes.rs", include_str!("../pages/indexes.rs")),
            ("suggest.rs", include_str!("../suggest.rs")),
        ] {
            assert!(!text.contains(&reset), "{name} resets pg_stat_statements");
        }
    }
}
