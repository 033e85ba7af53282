//! `/`: every health check with its status; the audits' part from the same
//! `audit::run_all` as `cargo xtask audit all`, run at most once a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use core_data_ops::audit::{self, Audit, Summary};
use serde::Serialize;

use crate::auth::require::Current;
use crate::checks::{self, Check};
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

/// How long an audit run is shown before the next request runs them again.
const AUDITS_FRESH_FOR: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct Page {
    checks: Vec<Check>,
    connected_as: String,
    superuser: bool,
    audited_seconds_ago: u64,
}

/// The audits' summary, from the cache when fresh.
pub(crate) fn audits(state: &AppState) -> anyhow::Result<(Summary, u64)> {
    let mut cache = state
        .audits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((at, summary)) = cache.as_ref() {
        if at.elapsed() < AUDITS_FRESH_FOR {
            return Ok((summary.clone(), at.elapsed().as_secs()));
        }
    }
    let run = Audit::for_service(
        &state.settings.database,
        state.password.clone(),
        state.settings.thresholds.clone(),
        &[],
    )?;
    let summary = audit::run_all(&run)?;
    *cache = Some((Instant::now(), summary.clone()));
    Ok((summary, 0))
}

/// `GET /`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let databases = state.databases()?;
        let mut list = checks::sessions(state);
        let (summary, ago) = audits(state)?;
        list.extend(checks::from_audits(&summary));
        list.push(checks::sequences(state, &databases));
        list.push(checks::archiving(state));
        list.push(checks::backup_age(jiff::Timestamp::now().as_second()));
        list.push(checks::sidecar(state));
        let common = super::common(state, &current, "/", Vec::new(), None);
        state.templates.page(
            "overview.html",
            &common,
            Page {
                checks: list,
                connected_as: summary.connected_as.role,
                superuser: summary.connected_as.superuser,
                audited_seconds_ago: ago,
            },
        )
    })
    .await
    .map(Html)
}
