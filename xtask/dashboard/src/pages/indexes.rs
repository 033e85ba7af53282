//! `/indexes`: the `indexes` audit's findings (unused, duplicate, redundant,
//! invalid: the same code as `cargo xtask audit indexes`) and index
//! suggestions proven with HypoPG (`suggest`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::Extension;
use core_data_ops::audit::{self, Audit, Finding};
use serde::Serialize;

use super::Pick;
use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;
use crate::suggest::{self, Suggestion};

#[derive(Serialize)]
struct Page {
    findings: Vec<Finding>,
    suggestions: Vec<Suggestion>,
    notes: Vec<String>,
}

/// `GET /indexes`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    Query(pick): Query<Pick>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let all = state.databases()?;
        let scope = crate::db::scope(&all, pick.db())?;
        let run = Audit::for_service(
            &state.settings.database,
            state.password.clone(),
            state.settings.thresholds.clone(),
            &scope,
        )?;
        let definition = audit::find("indexes").expect("the indexes audit is registered");
        let mut findings = audit::run(&run, definition)?.findings;
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mut suggestions = Vec::new();
        let mut notes = Vec::new();
        for database in &scope {
            match suggest::suggest(state, database) {
                Ok((found, more)) => {
                    suggestions.extend(found);
                    notes.extend(more);
                }
                Err(error) => notes.push(format!("{database}: {error:#}")),
            }
        }
        let common = super::common(state, &current, "/indexes", all, pick.db());
        state.templates.page(
            "indexes.html",
            &common,
            Page {
                findings,
                suggestions,
                notes,
            },
        )
    })
    .await
    .map(Html)
}
