//! `/connections`: the server's connections grouped by database, user,
//! application, client address and state, and replication's standbys.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use core_data_ops::daily::chart::{self, Bar, Unit};
use serde::Serialize;

use super::Table;
use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize)]
struct Group {
    title: &'static str,
    t: Table,
}

#[derive(Serialize)]
struct Page {
    total: usize,
    chart: String,
    groups: Vec<Group>,
    standbys: Table,
}

/// Counts of `rows` by column `column`.
fn group(rows: &[Vec<String>], column: usize, title: &'static str) -> Group {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        let key = row[column].as_str();
        *counts
            .entry(if key.is_empty() { "(none)" } else { key })
            .or_default() += 1;
    }
    let mut t = Table::new(&[title, "#connections"]);
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    t.rows = sorted
        .into_iter()
        .map(|(key, n)| vec![key.to_owned(), n.to_string()])
        .collect();
    Group { title, t }
}

/// `GET /connections`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let mut all = Table::new(&["database", "user", "application", "client", "state"]);
        let mut standbys = Table::new(&["standby", "client", "state", "sync", "#replay lag (s)"]);
        state.with_client("postgres", |client| {
            all.query(
                client,
                None,
                "SELECT coalesce(datname, ''), coalesce(usename, ''), application_name, \
                        coalesce(host(client_addr), 'local'), coalesce(state, '') \
                 FROM pg_stat_activity WHERE backend_type = 'client backend'",
                &[],
            )?;
            standbys.query(
                client,
                None,
                "SELECT application_name, coalesce(host(client_addr), 'local'), state, \
                        sync_state, coalesce(extract(epoch FROM replay_lag)::text, '') \
                 FROM pg_stat_replication",
                &[],
            )?;
            Ok(())
        })?;
        let groups = vec![
            group(&all.rows, 0, "database"),
            group(&all.rows, 1, "user"),
            group(&all.rows, 2, "application"),
            group(&all.rows, 3, "client address"),
            group(&all.rows, 4, "state"),
        ];
        let bars: Vec<Bar> = groups[0]
            .t
            .rows
            .iter()
            .map(|row| Bar {
                label: row[0].clone(),
                values: vec![row[1].parse().unwrap_or(0.0)],
            })
            .collect();
        let page = Page {
            total: all.rows.len(),
            chart: chart::bars(
                "Connections by database",
                &["connections"],
                Unit::Count,
                &bars,
            ),
            groups,
            standbys,
        };
        let common = super::common(state, &current, "/connections", Vec::new(), None);
        state.templates.page("connections.html", &common, page)
    })
    .await
    .map(Html)
}
