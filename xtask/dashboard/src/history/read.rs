//! What the pages read back from the history: one statement's activity per
//! capture, a database's size per capture, and each relation's oldest
//! captured size (its growth).

use std::collections::HashMap;

use crate::state::AppState;

/// One statement's (epoch, calls, time in ms) per capture, zero where it did
/// not run, over the kept history.
pub(crate) fn statement(
    state: &AppState,
    dbid: u32,
    userid: u32,
    queryid: i64,
) -> anyhow::Result<Vec<(i64, f64, f64)>> {
    state.with_client("postgres", |client| {
        let rows = client.query(
            "SELECT extract(epoch FROM c.taken_at)::int8, coalesce(d.calls, 0)::float8, \
                    coalesce(d.exec_ms, 0) \
             FROM core_data_dashboard.captures c \
             LEFT JOIN core_data_dashboard.statement_deltas d \
               ON d.capture_id = c.id AND d.dbid = $1 AND d.userid = $2 AND d.queryid = $3 \
             ORDER BY c.taken_at",
            &[&dbid, &userid, &queryid],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    })
}

/// The summed sizes of `databases` per capture: (epoch, bytes).
pub(crate) fn database_sizes(
    state: &AppState,
    databases: &[String],
) -> anyhow::Result<Vec<(i64, f64)>> {
    state.with_client("postgres", |client| {
        let rows = client.query(
            "SELECT extract(epoch FROM c.taken_at)::int8, sum(s.bytes)::float8 \
             FROM core_data_dashboard.captures c \
             JOIN core_data_dashboard.database_sizes s ON s.capture_id = c.id \
             WHERE s.database = ANY($1) GROUP BY c.taken_at ORDER BY c.taken_at",
            &[&databases],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    })
}

/// Each relation's oldest captured size in `database`: (schema, name) to
/// (bytes, when as text).
pub(crate) fn oldest_sizes(
    state: &AppState,
    database: &str,
) -> anyhow::Result<HashMap<(String, String), (i64, String)>> {
    state.with_client("postgres", |client| {
        let rows = client.query(
            "SELECT DISTINCT ON (s.schema_name, s.relation) s.schema_name, s.relation, s.bytes, \
                    to_char(c.taken_at, 'YYYY-MM-DD HH24:MI') \
             FROM core_data_dashboard.relation_sizes s \
             JOIN core_data_dashboard.captures c ON c.id = s.capture_id \
             WHERE s.database = $1 \
             ORDER BY s.schema_name, s.relation, c.taken_at",
            &[&database],
        )?;
        Ok(rows
            .iter()
            .map(|row| ((row.get(0), row.get(1)), (row.get(2), row.get(3))))
            .collect())
    })
}
