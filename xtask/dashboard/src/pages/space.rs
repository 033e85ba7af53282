//! `/space`: database sizes, then each database's largest tables and
//! indexes with their growth since the oldest captured size, and the size
//! over the captured history.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use core_data_ops::daily::chart::{self, Bar, Unit};
use serde::Serialize;

use super::{bytes, Pick, Table};
use crate::auth::require::Current;
use crate::chart::{over_time, Combine};
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

/// Relations listed per database.
const TOP: i64 = 50;

#[derive(Serialize)]
struct Page {
    databases: Table,
    sizes_chart: String,
    history_chart: String,
    relations: Table,
}

/// `GET /space`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    Query(pick): Query<Pick>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let all = state.databases()?;
        let scope = crate::db::scope(&all, pick.db())?;
        let mut databases = Table::new(&["database", "#size", "#bytes"]);
        state.with_client("postgres", |client| {
            for row in client.query(
                "SELECT datname::text, pg_database_size(oid) FROM pg_database \
                 WHERE datname = ANY($1) ORDER BY 2 DESC",
                &[&scope],
            )? {
                let size: i64 = row.get(1);
                databases
                    .rows
                    .push(vec![row.get(0), bytes(size), size.to_string()]);
            }
            Ok(())
        })?;
        let bars: Vec<Bar> = databases
            .rows
            .iter()
            .map(|row| Bar {
                label: row[0].clone(),
                values: vec![row[2].parse().unwrap_or(0.0)],
            })
            .collect();
        let mut relations = Table::new(&[
            "database",
            "schema",
            "relation",
            "kind",
            "#size",
            "#rows (estimate)",
            "#growth",
            "since",
        ]);
        let mut sized: Vec<(i64, Vec<String>)> = Vec::new();
        for database in &scope {
            let oldest = crate::history::read::oldest_sizes(state, database).unwrap_or_default();
            let rows = state.with_client(database, |client| {
                Ok(client.query(
                    "SELECT n.nspname::text, c.relname::text, \
                            CASE c.relkind WHEN 'i' THEN 'index' WHEN 'm' THEN 'materialized view' \
                                 WHEN 'p' THEN 'partitioned table' ELSE 'table' END, \
                            CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) \
                                 ELSE pg_total_relation_size(c.oid) END, \
                            greatest(c.reltuples, 0)::int8 \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relkind IN ('r', 'm', 'p', 'i') \
                       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                       AND n.nspname NOT LIKE 'pg_toast%' \
                     ORDER BY 4 DESC, 1, 2 LIMIT $1",
                    &[&TOP],
                )?)
            })?;
            for row in rows {
                let (schema, name): (String, String) = (row.get(0), row.get(1));
                let size: i64 = row.get(3);
                let (growth, since) = match oldest.get(&(schema.clone(), name.clone())) {
                    Some((then, when)) => (bytes(size - then), when.clone()),
                    None => (String::new(), String::new()),
                };
                sized.push((
                    size,
                    vec![
                        database.clone(),
                        schema,
                        name,
                        row.get(2),
                        bytes(size),
                        row.get::<_, i64>(4).to_string(),
                        growth,
                        since,
                    ],
                ));
            }
        }
        sized.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        relations.rows = sized.into_iter().map(|(_, row)| row).collect();
        let history = crate::history::read::database_sizes(state, &scope).unwrap_or_default();
        let page = Page {
            sizes_chart: chart::bars("Database sizes", &["size"], Unit::Bytes, &bars),
            history_chart: over_time(
                "Size over the captured history",
                Unit::Bytes,
                &history,
                Combine::Last,
            ),
            databases,
            relations,
        };
        let common = super::common(state, &current, "/space", all, pick.db());
        state.templates.page("space.html", &common, page)
    })
    .await
    .map(Html)
}
