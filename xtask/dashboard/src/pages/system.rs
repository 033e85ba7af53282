//! `/system`: CPU, memory, block I/O and network of the stack's containers
//! over the captured history (`history::containers`): postgres and the
//! dashboard itself. Read from inside the containers (cgroup and
//! `/proc/net/dev`), not from the Docker API: no service of the stack holds
//! the Docker socket.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use core_data_ops::daily::chart::Unit;
use serde::Serialize;

use super::{bytes, Table};
use crate::auth::require::Current;
use crate::chart::{over_time, Combine};
use crate::db::blocking;
use crate::error::AppError;
use crate::history::containers;
use crate::state::AppState;

#[derive(Serialize)]
struct Container {
    name: String,
    charts: Vec<String>,
}

#[derive(Serialize)]
struct Page {
    latest: Table,
    containers: Vec<Container>,
}

/// `GET /system`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let all = state.databases()?;
        let mut latest = Table::new(&[
            "container",
            "#CPU (% of a core)",
            "#memory",
            "#disk read/s",
            "#disk write/s",
            "#network in/s",
            "#network out/s",
        ]);
        let mut shown = Vec::new();
        for service in containers::SAMPLED {
            let samples =
                state.with_client("postgres", |client| containers::read(client, service))?;
            let rates = containers::rates(&samples);
            if let (Some((_, sample)), Some((_, r))) = (samples.last(), rates.last()) {
                latest.rows.push(vec![
                    (*service).to_owned(),
                    format!("{:.1}", r[0]),
                    bytes(sample.memory_bytes),
                    bytes(r[1] as i64),
                    bytes(r[2] as i64),
                    bytes(r[3] as i64),
                    bytes(r[4] as i64),
                ]);
            }
            let series =
                |i: usize| -> Vec<(i64, f64)> { rates.iter().map(|(at, r)| (*at, r[i])).collect() };
            let memory: Vec<(i64, f64)> = samples
                .iter()
                .map(|(at, s)| (*at, s.memory_bytes as f64))
                .collect();
            shown.push(Container {
                name: (*service).to_owned(),
                charts: vec![
                    over_time(
                        &format!("{service}: CPU, % of one core"),
                        Unit::Count,
                        &series(0),
                        Combine::Last,
                    ),
                    over_time(
                        &format!("{service}: memory"),
                        Unit::Bytes,
                        &memory,
                        Combine::Last,
                    ),
                    over_time(
                        &format!("{service}: disk reads per second"),
                        Unit::Bytes,
                        &series(1),
                        Combine::Last,
                    ),
                    over_time(
                        &format!("{service}: disk writes per second"),
                        Unit::Bytes,
                        &series(2),
                        Combine::Last,
                    ),
                    over_time(
                        &format!("{service}: network received per second"),
                        Unit::Bytes,
                        &series(3),
                        Combine::Last,
                    ),
                    over_time(
                        &format!("{service}: network sent per second"),
                        Unit::Bytes,
                        &series(4),
                        Combine::Last,
                    ),
                ],
            });
        }
        let page = Page {
            latest,
            containers: shown,
        };
        let common = super::common(state, &current, "/system", all, None);
        state.templates.page("system.html", &common, page)
    })
    .await
    .map(Html)
}
