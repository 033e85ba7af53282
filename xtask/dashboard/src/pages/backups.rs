//! `/backups`: pgBackRest's sets, the logical sidecar's status and the daily
//! maintenance bundles, linked and served read-only from `backups_dir`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Serialize;

use super::{bytes, Table};
use crate::auth::require::Current;
use crate::backups::{daily, logical, pgbackrest};
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

/// The policy of a served bundle file: a sandbox (an opaque origin, no
/// access to the dashboard's cookies or pages); pgBadger's report keeps its
/// inline script and styles inside it.
const BUNDLE_CSP: &str = "sandbox allow-scripts; default-src 'none'; \
    script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

#[derive(Serialize)]
struct Page {
    sets: Table,
    sets_error: String,
    logical: Option<logical::Logical>,
    logical_error: String,
    bundles: Vec<daily::Bundle>,
}

fn epoch(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|at| at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `GET /backups`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let mut sets = Table::new(&[
            "label",
            "type",
            "started",
            "finished",
            "#database size",
            "#added to the repository",
            "WAL stop",
        ]);
        let sets_error = match pgbackrest::sets() {
            Ok(list) => {
                for set in list.iter().rev() {
                    sets.rows.push(vec![
                        set.label.clone(),
                        set.kind.clone(),
                        epoch(set.started),
                        epoch(set.stopped),
                        bytes(set.database_bytes as i64),
                        bytes(set.repo_delta_bytes as i64),
                        set.lsn_stop.clone(),
                    ]);
                }
                String::new()
            }
            Err(error) => format!("{error:#}"),
        };
        let (logical, logical_error) = match logical::read(&state.settings.backups_dir) {
            Ok(status) => (Some(status), String::new()),
            Err(error) => (None, format!("{error:#}")),
        };
        let page = Page {
            sets,
            sets_error,
            logical,
            logical_error,
            bundles: daily::list(&state.settings.backups_dir),
        };
        let common = super::common(state, &current, "/backups", Vec::new(), None);
        state.templates.page("backups.html", &common, page)
    })
    .await
    .map(Html)
}

/// `GET /backups/daily/{date}/{run}/{file}`: one file of a bundle.
pub(crate) async fn bundle_file(
    State(state): State<Arc<AppState>>,
    Path((date, run, file)): Path<(String, String, String)>,
) -> Response {
    let found = daily::find(&state.settings.backups_dir, &date, &run, &file)
        .and_then(|path| daily::read(&path));
    match found {
        Ok((body, kind)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CONTENT_SECURITY_POLICY, BUNDLE_CSP),
            ],
            body,
        )
            .into_response(),
        Err(error) => AppError::new(StatusCode::NOT_FOUND, error).into_response(),
    }
}
