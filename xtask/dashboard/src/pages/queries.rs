//! `/queries`: pg_stat_statements across all databases (or one), sortable,
//! the dashboard's own statements left out; `/queries/{dbid}/{userid}/{queryid}`:
//! one statement's calls and time per capture interval, from the history.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::Extension;
use core_data_ops::daily::chart::{self, Bar, Unit};
use serde::Serialize;

use super::Pick;
use crate::auth::require::Current;
use crate::chart::{over_time, Combine};
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

/// The sort keys: the query string's name, the label, and the ORDER BY (a
/// fixed string: the pick only chooses among these).
pub(crate) const SORTS: &[(&str, &str, &str)] = &[
    ("total", "total time", "total_ms DESC"),
    ("mean", "mean time", "mean_ms DESC"),
    ("calls", "calls", "calls DESC"),
    ("rows", "rows", "rows DESC"),
    ("read", "blocks read", "blks_read DESC"),
];

/// The ORDER BY for a sort key (the first for an unknown one).
pub(crate) fn order_by(sort: Option<&str>) -> (&'static str, &'static str) {
    let found = SORTS
        .iter()
        .find(|(key, ..)| Some(*key) == sort)
        .unwrap_or(&SORTS[0]);
    (found.0, found.2)
}

#[derive(Serialize)]
struct Statement {
    dbid: u32,
    userid: u32,
    queryid: i64,
    database: String,
    user: String,
    calls: i64,
    total_ms: String,
    mean_ms: String,
    rows: i64,
    blks_read: i64,
    query: String,
}

#[derive(Serialize)]
struct Page {
    sorts: Vec<(&'static str, &'static str)>,
    sort: &'static str,
    statements: Vec<Statement>,
    chart: String,
    info: String,
}

/// `GET /queries`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    Query(pick): Query<Pick>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let all = state.databases()?;
        crate::db::scope(&all, pick.db())?;
        let (sort, order) = order_by(pick.sort.as_deref());
        let role = state.settings.database.role.clone();
        let db = pick.db().map(str::to_owned);
        let sql = format!(
            "SELECT s.dbid, s.userid, s.queryid, d.datname::text, r.rolname::text, \
                    sum(s.calls)::int8 AS calls, sum(s.total_exec_time) AS total_ms, \
                    sum(s.total_exec_time) / greatest(sum(s.calls), 1) AS mean_ms, \
                    sum(s.rows)::int8 AS rows, sum(s.shared_blks_read)::int8 AS blks_read, \
                    min(s.query) \
             FROM pg_stat_statements(true) s \
             JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
             WHERE s.queryid IS NOT NULL AND r.rolname <> $1 \
               AND ($2::text IS NULL OR d.datname = $2) \
             GROUP BY 1, 2, 3, 4, 5 ORDER BY {order} LIMIT 100"
        );
        let (rows, info) = state.with_client("postgres", |client| {
            let rows = client
                .query(&sql, &[&role, &db])
                .map_err(|error| anyhow::anyhow!("{}", crate::db::message(&error)))?;
            let info: String = client
                .query_one(
                    "SELECT format('%s entries evicted since %s', dealloc, \
                            to_char(stats_reset, 'YYYY-MM-DD HH24:MI TZ')) \
                     FROM pg_stat_statements_info",
                    &[],
                )?
                .get(0);
            Ok((rows, info))
        })?;
        let statements: Vec<Statement> = rows
            .iter()
            .map(|row| Statement {
                dbid: row.get(0),
                userid: row.get(1),
                queryid: row.get(2),
                database: row.get(3),
                user: row.get(4),
                calls: row.get(5),
                total_ms: format!("{:.1}", row.get::<_, f64>(6)),
                mean_ms: format!("{:.2}", row.get::<_, f64>(7)),
                rows: row.get(8),
                blks_read: row.get(9),
                query: row.get(10),
            })
            .collect();
        let mut by_time: Vec<Bar> = statements
            .iter()
            .map(|s| Bar {
                label: s.query.clone(),
                values: vec![s.total_ms.parse().unwrap_or(0.0)],
            })
            .collect();
        by_time.sort_by(|a, b| b.values[0].total_cmp(&a.values[0]));
        by_time.truncate(10);
        let page = Page {
            sorts: SORTS.iter().map(|(key, label, _)| (*key, *label)).collect(),
            sort,
            chart: chart::bars(
                "Top statements by total time",
                &["time"],
                Unit::Millis,
                &by_time,
            ),
            statements,
            info,
        };
        let common = super::common(state, &current, "/queries", all, pick.db());
        state.templates.page("queries.html", &common, page)
    })
    .await
    .map(Html)
}

#[derive(Serialize)]
struct History {
    database: String,
    user: String,
    query: String,
    calls_chart: String,
    time_chart: String,
    captures: usize,
}

/// `GET /queries/{dbid}/{userid}/{queryid}`.
pub(crate) async fn history(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    Path((dbid, userid, queryid)): Path<(u32, u32, i64)>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let text = state.with_client("postgres", |client| {
            let row = client.query_opt(
                "SELECT database, username, query FROM core_data_dashboard.statements \
                 WHERE dbid = $1 AND userid = $2 AND queryid = $3 \
                 UNION ALL \
                 SELECT d.datname::text, r.rolname::text, s.query \
                 FROM pg_stat_statements(true) s \
                 JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
                 WHERE s.dbid = $1 AND s.userid = $2 AND s.queryid = $3 LIMIT 1",
                &[&dbid, &userid, &queryid],
            )?;
            Ok(row.map(|row| {
                (
                    row.get::<_, String>(0),
                    row.get::<_, String>(1),
                    row.get::<_, String>(2),
                )
            }))
        })?;
        let Some((database, user, query)) = text else {
            return Err(anyhow::anyhow!(
                "statement {queryid} is neither in pg_stat_statements nor in the history"
            ));
        };
        let points = crate::history::read::statement(state, dbid, userid, queryid)?;
        let calls: Vec<(i64, f64)> = points.iter().map(|(at, c, _)| (*at, *c)).collect();
        let time: Vec<(i64, f64)> = points.iter().map(|(at, _, t)| (*at, *t)).collect();
        let page = History {
            database,
            user,
            query,
            calls_chart: over_time("Calls per interval", Unit::Count, &calls, Combine::Sum),
            time_chart: over_time(
                "Execution time per interval",
                Unit::Millis,
                &time,
                Combine::Sum,
            ),
            captures: points.len(),
        };
        let common = super::common(state, &current, "/queries", Vec::new(), None);
        state.templates.page("query.html", &common, page)
    })
    .await
    .map(Html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_sort_keys_reach_the_order_by() {
        assert_eq!(order_by(Some("calls")), ("calls", "calls DESC"));
        assert_eq!(
            order_by(Some("1; DROP TABLE x")),
            ("total", "total_ms DESC")
        );
        assert_eq!(order_by(None).0, "total");
    }
}
