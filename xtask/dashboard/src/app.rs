//! The router: which paths exist, which need a session, and the security
//! headers on all of them.

use std::sync::Arc;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::{login, require};
use crate::pages::{
    assets, backups, connections, explain, indexes, live, maintenance, overview, queries, settings,
    space, system,
};
use crate::state::AppState;

/// Every route. `/health`, `/login` and `/assets/*` are open; everything else
/// needs a session.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let private = Router::new()
        .route("/", get(overview::page))
        .route("/queries", get(queries::page))
        .route("/queries/{dbid}/{userid}/{queryid}", get(queries::history))
        .route("/space", get(space::page))
        .route("/connections", get(connections::page))
        .route("/live", get(live::page))
        .route("/live/cancel", post(live::cancel))
        .route("/live/terminate", post(live::terminate))
        .route("/maintenance", get(maintenance::page))
        .route("/indexes", get(indexes::page))
        .route("/explain", get(explain::form).post(explain::submit))
        .route("/settings", get(settings::page))
        .route("/backups", get(backups::page))
        .route("/system", get(system::page))
        .route(
            "/backups/daily/{date}/{run}/{file}",
            get(backups::bundle_file),
        )
        .route("/logout", post(login::logout))
        .route_layer(from_fn_with_state(
            Arc::clone(&state),
            require::require_session,
        ));
    Router::new()
        .route("/health", get(crate::server::health))
        .route("/login", get(login::form).post(login::submit))
        .route("/assets/{name}", get(assets::asset))
        .merge(private)
        .layer(from_fn(crate::headers::security_headers))
        .with_state(state)
}
