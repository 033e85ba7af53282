//! `/maintenance`: per table, the last vacuum, autovacuum, analyze and
//! autoanalyze and the dead tuples, most dead first.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use core_data_ops::daily::chart::{self, Bar, Unit};
use serde::Serialize;

use super::{Pick, Table};
use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize)]
struct Page {
    chart: String,
    tables: Table,
}

/// `GET /maintenance`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    Query(pick): Query<Pick>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let all = state.databases()?;
        let scope = crate::db::scope(&all, pick.db())?;
        let mut tables = Table::new(&[
            "database",
            "table",
            "#live tuples",
            "#dead tuples",
            "last vacuum",
            "last autovacuum",
            "last analyze",
            "last autoanalyze",
            "#vacuums",
            "#autovacuums",
        ]);
        for database in &scope {
            state.with_client(database, |client| {
                tables.query(
                    client,
                    Some(database),
                    "SELECT format('%I.%I', schemaname, relname), n_live_tup::text, \
                            n_dead_tup::text, \
                            to_char(last_vacuum, 'YYYY-MM-DD HH24:MI'), \
                            to_char(last_autovacuum, 'YYYY-MM-DD HH24:MI'), \
                            to_char(last_analyze, 'YYYY-MM-DD HH24:MI'), \
                            to_char(last_autoanalyze, 'YYYY-MM-DD HH24:MI'), \
                            vacuum_count::text, autovacuum_count::text \
                     FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 200",
                    &[],
                )
            })?;
        }
        tables.top_by(3, 500);
        let bars: Vec<Bar> = tables
            .rows
            .iter()
            .take(15)
            .map(|row| Bar {
                label: format!("{}: {}", row[0], row[1]),
                values: vec![row[3].parse().unwrap_or(0.0)],
            })
            .collect();
        let page = Page {
            chart: chart::bars("Dead tuples", &["dead tuples"], Unit::Count, &bars),
            tables,
        };
        let common = super::common(state, &current, "/maintenance", all, pick.db());
        state.templates.page("maintenance.html", &common, page)
    })
    .await
    .map(Html)
}
