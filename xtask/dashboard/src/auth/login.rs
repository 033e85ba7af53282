//! `GET /login`, `POST /login` and `POST /logout`. Every attempt is logged on
//! stderr with the user name, the client address and the outcome, never the
//! password.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use minijinja::context;
use serde::Deserialize;

use super::require::Current;
use super::{cookie, csrf, rate};
use crate::state::AppState;

/// User names are at most this long (`users::check_name`).
const MAX_USER_NAME: usize = 64;

/// The login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
}

/// A form carrying only its CSRF token.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    pub(crate) csrf: Option<String>,
}

/// How long the login form's token lives.
const LOGIN_TOKEN_SECONDS: u64 = 900;

/// The login page with a fresh pre-session token (cookie and hidden field).
fn login_page(state: &AppState, status: StatusCode, user: &str, error: &str) -> Response {
    let token = super::random_token();
    let html = state.templates.render(
        "login.html",
        context! { csrf => &token, user => user, error => error },
    );
    match html {
        Ok(html) => (
            status,
            [(
                header::SET_COOKIE,
                cookie::set(cookie::LOGIN, &token, Some(LOGIN_TOKEN_SECONDS)),
            )],
            Html(html),
        )
            .into_response(),
        Err(error) => crate::error::AppError::from(error).into_response(),
    }
}

/// `GET /login`: the form, or the overview for a live session.
pub(crate) async fn form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie::get(&headers, cookie::SESSION) {
        if state.sessions.touch(&id).is_some() {
            return Redirect::to("/").into_response();
        }
    }
    login_page(&state, StatusCode::OK, "", "")
}

/// The client's address as the server saw it.
fn client_address(extensions: &Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}

/// `POST /login`.
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let address = client_address(&extensions);
    let shown = form.user.escape_debug().to_string();
    let expected = cookie::get(&headers, cookie::LOGIN);
    if let Err(refusal) = csrf::check(&headers, form.csrf.as_deref(), expected.as_deref()) {
        eprintln!(
            "core-data-dashboard: login refused for user \"{shown}\" from {address}: {refusal:?}"
        );
        return (StatusCode::FORBIDDEN, refusal.message()).into_response();
    }
    let keys = rate::keys(&address, &form.user);
    if let Some(wait) = state.limiter.blocked(&keys) {
        eprintln!(
            "core-data-dashboard: login rate-limited for user \"{shown}\" from {address} \
             (retry in {wait}s)"
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            format!("too many failed logins; try again in {wait} seconds"),
        )
            .into_response();
    }
    // Counted before the check, so parallel attempts cannot all pass the limit.
    state.limiter.fail(&keys);
    // A name no user can have is refused without hashing (nor keeping) anything big.
    let valid = if form.user.chars().count() > MAX_USER_NAME {
        false
    } else {
        // At most a few Argon2 checks (19 MiB each) at once, whatever arrives.
        let _permit = state.argon2.acquire().await;
        let verifying = Arc::clone(&state);
        let (user, password) = (form.user.clone(), form.password);
        tokio::task::spawn_blocking(move || verifying.users.verify(&user, &password))
            .await
            .unwrap_or(false)
    };
    if valid {
        state.limiter.forgive(&keys);
    } else {
        eprintln!("core-data-dashboard: login failed for user \"{shown}\" from {address}");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.user,
            "wrong user name or password",
        );
    }
    let id = state.sessions.create(&form.user);
    eprintln!("core-data-dashboard: login succeeded for user \"{shown}\" from {address}");
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    for value in [
        cookie::set(cookie::SESSION, &id, None),
        cookie::clear(cookie::LOGIN),
    ] {
        headers.append(
            header::SET_COOKIE,
            value.parse().expect("cookie values are ASCII"),
        );
    }
    response
}

/// `POST /logout`: ends the session (with its CSRF token, like every POST).
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(current): Extension<Current>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(response) = current.check(&headers, form.csrf.as_deref()) {
        return response;
    }
    state.sessions.remove(&current.id);
    eprintln!(
        "core-data-dashboard: user \"{}\" logged out",
        current.session.user.escape_debug()
    );
    (
        [(header::SET_COOKIE, cookie::clear(cookie::SESSION))],
        Redirect::to("/login"),
    )
        .into_response()
}
