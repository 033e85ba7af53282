//! `/live`: what runs now (`pg_stat_activity`), longest first; with
//! `allow_signal`, cancel and terminate buttons (POST with the session's CSRF
//! token), refused for superusers' backends and for the dashboard's own.

use std::sync::Arc;

use anyhow::bail;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

use crate::auth::require::Current;
use crate::db::blocking;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize)]
struct Backend {
    pid: i32,
    database: String,
    user: String,
    application: String,
    client: String,
    state: String,
    seconds: String,
    wait: String,
    query: String,
    /// Whether the buttons are offered for it.
    signal: bool,
    why_not: String,
}

#[derive(Serialize)]
struct Page {
    backends: Vec<Backend>,
    message: String,
}

/// `?cancelled=PID` or `?terminated=PID` after a signal (numbers only: no
/// text of the URL reaches the page).
#[derive(Deserialize, Default)]
pub(crate) struct Done {
    cancelled: Option<i32>,
    terminated: Option<i32>,
}

impl Done {
    fn message(&self) -> String {
        match (self.cancelled, self.terminated) {
            (Some(pid), _) => format!("asked backend {pid} to cancel its query"),
            (None, Some(pid)) => format!("asked backend {pid} to terminate"),
            (None, None) => String::new(),
        }
    }
}

/// `GET /live`.
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    axum::extract::Query(done): axum::extract::Query<Done>,
) -> Result<Html<String>, AppError> {
    blocking(&state, move |state| {
        let role = state.settings.database.role.clone();
        let rows = state.with_client("postgres", |client| {
            Ok(client.query(
                "SELECT a.pid, coalesce(a.datname, ''), coalesce(a.usename, ''), \
                        a.application_name, coalesce(host(a.client_addr), 'local'), \
                        coalesce(a.state, ''), \
                        coalesce(round(extract(epoch FROM now() - a.query_start))::text, ''), \
                        coalesce(a.wait_event_type || ': ' || a.wait_event, ''), \
                        coalesce(a.query, ''), coalesce(r.rolsuper, false) \
                 FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid \
                 WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() \
                 ORDER BY a.state = 'active' DESC, a.query_start NULLS LAST",
                &[],
            )?)
        })?;
        let backends = rows
            .iter()
            .map(|row| {
                let user: String = row.get(2);
                let superuser: bool = row.get(9);
                let why_not = if superuser {
                    "a superuser's backend"
                } else if user == role {
                    "the dashboard's own"
                } else {
                    ""
                };
                Backend {
                    pid: row.get(0),
                    database: row.get(1),
                    user,
                    application: row.get(3),
                    client: row.get(4),
                    state: row.get(5),
                    seconds: row.get(6),
                    wait: row.get(7),
                    query: row.get(8),
                    signal: state.settings.allow_signal && why_not.is_empty(),
                    why_not: why_not.to_owned(),
                }
            })
            .collect();
        let common = super::common(state, &current, "/live", Vec::new(), None);
        state.templates.page(
            "live.html",
            &common,
            Page {
                backends,
                message: done.message(),
            },
        )
    })
    .await
    .map(Html)
}

/// The cancel and terminate forms.
#[derive(Deserialize)]
pub(crate) struct SignalForm {
    csrf: Option<String>,
    pid: i32,
}

/// Which signal.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    Cancel,
    Terminate,
}

/// Checks the target and signals it, as the dashboard's role (which holds
/// `pg_signal_backend` only when allowed; the server refuses superusers'
/// backends to it in any case).
fn signal(state: &AppState, pid: i32, signal: Signal) -> anyhow::Result<String> {
    if !state.settings.allow_signal {
        bail!("cancelling and terminating are not allowed here; set `DASHBOARD_ALLOW_SIGNAL=true` and run `cargo xtask up`");
    }
    let role = state.settings.database.role.clone();
    state.with_client("postgres", |client| {
        let row = client.query_opt(
            "SELECT coalesce(a.usename, ''), coalesce(r.rolsuper, false), \
                    a.pid = pg_backend_pid() \
             FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid \
             WHERE a.pid = $1 AND a.backend_type = 'client backend'",
            &[&pid],
        )?;
        let Some(row) = row else {
            bail!("backend {pid} is gone (or is not a client backend)");
        };
        let (user, superuser, own): (String, bool, bool) = (row.get(0), row.get(1), row.get(2));
        if superuser {
            bail!("backend {pid} belongs to a superuser (`{user}`): the dashboard never signals those");
        }
        if own || user == role {
            bail!("backend {pid} is the dashboard's own");
        }
        let sql = match signal {
            Signal::Cancel => "SELECT pg_cancel_backend($1)",
            Signal::Terminate => "SELECT pg_terminate_backend($1)",
        };
        let done: bool = client
            .query_one(sql, &[&pid])
            .map_err(|error| anyhow::anyhow!("{}", crate::db::message(&error)))?
            .get(0);
        Ok(match (signal, done) {
            (Signal::Cancel, true) => format!("cancelled the query of backend {pid}"),
            (Signal::Terminate, true) => format!("terminated backend {pid}"),
            (_, false) => format!("backend {pid} was not signalled (it had ended)"),
        })
    })
}

async fn post(
    state: Arc<AppState>,
    current: Current,
    headers: HeaderMap,
    form: SignalForm,
    which: Signal,
) -> Response {
    if let Err(response) = current.check(&headers, form.csrf.as_deref()) {
        return response;
    }
    let pid = form.pid;
    let user = current.session.user.clone();
    let result = blocking(&state, move |state| signal(state, pid, which)).await;
    match result {
        Ok(message) => {
            eprintln!(
                "core-data-dashboard: user \"{}\": {message}",
                user.escape_debug()
            );
            let target = match which {
                Signal::Cancel => format!("/live?cancelled={pid}"),
                Signal::Terminate => format!("/live?terminated={pid}"),
            };
            Redirect::to(&target).into_response()
        }
        Err(error) => {
            eprintln!(
                "core-data-dashboard: user \"{}\" asked to signal backend {pid}: refused: {:#}",
                user.escape_debug(),
                error.error
            );
            AppError::new(StatusCode::FORBIDDEN, error.error).into_response()
        }
    }
}

/// `POST /live/cancel`.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    headers: HeaderMap,
    Form(form): Form<SignalForm>,
) -> Response {
    post(state, current, headers, form, Signal::Cancel).await
}

/// `POST /live/terminate`.
pub(crate) async fn terminate(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    headers: HeaderMap,
    Form(form): Form<SignalForm>,
) -> Response {
    post(state, current, headers, form, Signal::Terminate).await
}
