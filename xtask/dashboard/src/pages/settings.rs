//! `/settings`: the server's settings that are not defaults, those waiting
//! for a restart, and the config audit's drift (the same `audit config` as
//! the CLI, against the rendered postgresql.conf mounted in the service).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use core_data_ops::audit::Finding;
use serde::Serialize;

use super::Table;
use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize)]
struct Page {
    changed: Table,
    pending: Table,
    drift: Vec<Finding>,
    drift_error: String,
}

/// `GET /settings`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let mut changed = Table::new(&["setting", "value", "unit", "source", "default"]);
        let mut pending = Table::new(&["setting", "running value", "file"]);
        state.with_client("postgres", |client| {
            changed.query(
                client,
                None,
                "SELECT name, setting, coalesce(unit, ''), source, coalesce(boot_val, '') \
                 FROM pg_settings \
                 WHERE source NOT IN ('default', 'override') \
                   AND setting IS DISTINCT FROM boot_val ORDER BY name",
                &[],
            )?;
            pending.query(
                client,
                None,
                "SELECT name, setting, coalesce(sourcefile, '') FROM pg_settings \
                 WHERE pending_restart ORDER BY name",
                &[],
            )
        })?;
        let (drift, drift_error) = match super::overview::audits(state) {
            Ok((summary, _)) => (
                summary
                    .reports
                    .into_iter()
                    .filter(|report| report.audit == "config")
                    .flat_map(|report| report.findings)
                    .collect(),
                String::new(),
            ),
            Err(error) => (Vec::new(), format!("{error:#}")),
        };
        let common = super::common(state, &current, "/settings", Vec::new(), None);
        state.templates.page(
            "settings.html",
            &common,
            Page {
                changed,
                pending,
                drift,
                drift_error,
            },
        )
    })
    .await
    .map(Html)
}
