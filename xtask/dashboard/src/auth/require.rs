//! The middleware in front of every page but `/login`, `/health` and the
//! assets: a request without a live session (or whose user has left the
//! users file) is sent to `/login`; one with a session carries it to the
//! handler as [`Current`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::sessions::Session;
use super::{cookie, csrf};
use crate::state::AppState;

/// The request's session.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) id: String,
    pub(crate) session: Session,
}

impl Current {
    /// The CSRF checks of a state-changing request of this session: a 403
    /// saying why when they fail.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check(&self, headers: &HeaderMap, sent: Option<&str>) -> Result<(), Response> {
        csrf::check(headers, sent, Some(&self.session.csrf)).map_err(|refusal| {
            eprintln!(
                "core-data-dashboard: refused a request of user \"{}\": {refusal:?}",
                self.session.user.escape_debug()
            );
            (StatusCode::FORBIDDEN, refusal.message()).into_response()
        })
    }
}

/// The session gate.
pub(crate) async fn require_session(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let current = cookie::get(request.headers(), cookie::SESSION).and_then(|id| {
        let session = state.sessions.touch(&id)?;
        if !state.users.exists(&session.user) {
            state.sessions.remove(&id);
            return None;
        }
        Some(Current { id, session })
    });
    match current {
        Some(current) => {
            request.extensions_mut().insert(current);
            next.run(request).await
        }
        None if request.method() == Method::GET || request.method() == Method::HEAD => (
            [(header::SET_COOKIE, cookie::clear(cookie::SESSION))],
            Redirect::to("/login"),
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            "your session has ended; log in again",
        )
            .into_response(),
    }
}
