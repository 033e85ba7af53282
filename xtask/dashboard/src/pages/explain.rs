//! `/explain`: a form; its POST (with the session's CSRF token: ANALYZE runs
//! the statement) EXPLAINs one SELECT, with ANALYZE when asked, in a
//! `READ ONLY` transaction with a statement timeout, as the dashboard's role,
//! and rolls it back. Anything but a single SELECT is refused with the reason.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

/// How long the explained statement may run.
pub(crate) const TIMEOUT: &str = "10s";

/// The form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExplainForm {
    csrf: Option<String>,
    #[serde(default)]
    db: String,
    #[serde(default)]
    query: String,
    analyze: Option<String>,
}

#[derive(Serialize)]
struct Page {
    query: String,
    db: String,
    analyze: bool,
    plan: String,
    error: String,
    timeout: &'static str,
}

/// EXPLAINs `sql` in `database`; the plan's text lines.
pub(crate) fn explain(
    state: &AppState,
    database: &str,
    sql: &str,
    analyze: bool,
) -> anyhow::Result<String> {
    let statement = crate::statement::check_select(sql).map_err(anyhow::Error::msg)?;
    let options = if analyze {
        "ANALYZE, BUFFERS, VERBOSE"
    } else {
        "VERBOSE"
    };
    // A connection of its own, closed afterwards: what a statement leaves on its
    // session (an advisory lock taken by a function, a setting) ends with it.
    let mut client = crate::db::connect(&state.settings, &state.password, database)?;
    let client = &mut client;
    {
        let mut tx = client.build_transaction().read_only(true).start()?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = '{TIMEOUT}'; SET LOCAL lock_timeout = '2s'"
        ))?;
        let rows = tx
            .query(&format!("EXPLAIN ({options}) {statement}"), &[])
            .map_err(|error| anyhow::anyhow!("{}", crate::db::message(&error)))?;
        tx.rollback()?;
        Ok(rows
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

fn render(state: &AppState, current: &Current, page: Page) -> anyhow::Result<String> {
    let all = state.databases()?;
    let common = super::common(state, current, "/explain", Vec::new(), None);
    state.templates.page(
        "explain.html",
        &common,
        minijinja::context! { form => minijinja::Value::from(minijinja::value::Serde(&page)), databases => all },
    )
}

/// `GET /explain`.
pub(crate) async fn form(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        render(
            state,
            &current,
            Page {
                query: String::new(),
                db: "postgres".to_owned(),
                analyze: false,
                plan: String::new(),
                error: String::new(),
                timeout: TIMEOUT,
            },
        )
    })
    .await
    .map(Html)
}

/// `POST /explain`.
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    headers: HeaderMap,
    Form(form): Form<ExplainForm>,
) -> Response {
    if let Err(response) = current.check(&headers, form.csrf.as_deref()) {
        return response;
    }
    let result = blocking(&state, move |state| {
        let all = state.databases()?;
        let db = crate::db::scope(&all, Some(&form.db))?
            .pop()
            .unwrap_or_else(|| "postgres".to_owned());
        let analyze = form.analyze.is_some();
        let shown: String = form.query.chars().take(200).collect();
        eprintln!(
            "core-data-dashboard: user \"{}\" explains{} in `{db}`: {}",
            current.session.user.escape_debug(),
            if analyze { " (analyze)" } else { "" },
            shown.escape_debug()
        );
        let (plan, error) = match explain(state, &db, &form.query, analyze) {
            Ok(plan) => (plan, String::new()),
            Err(error) => (String::new(), format!("{error:#}")),
        };
        let refused = !error.is_empty();
        let html = render(
            state,
            &current,
            Page {
                query: form.query,
                db,
                analyze,
                plan,
                error,
                timeout: TIMEOUT,
            },
        )?;
        Ok((refused, html))
    })
    .await;
    match result {
        Ok((false, html)) => Html(html).into_response(),
        Ok((true, html)) => (StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response(),
        Err(error) => error.into_response(),
    }
}
