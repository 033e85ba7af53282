//! The HTTPS server: the router and its state.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use core_data_ops::dashboard::Settings;

use crate::tls;

/// What every request handler shares.
pub(crate) struct AppState {
    pub(crate) settings: Settings,
    /// The dashboard role's password, read once at start.
    pub(crate) password: String,
}

pub(crate) fn serve(settings: Settings) -> anyhow::Result<()> {
    let password = std::fs::read_to_string(&settings.password_file)
        .with_context(|| format!("failed to read `{}`", settings.password_file))?
        .trim_end()
        .to_owned();
    let tls = tls::server_config(&settings.tls_cert, &settings.tls_key)?;
    let address: std::net::SocketAddr = settings
        .listen
        .parse()
        .with_context(|| format!("`listen` ({}) is not an address", settings.listen))?;
    let state = Arc::new(AppState { settings, password });
    let app = Router::new()
        .route("/health", get(health))
        .with_state(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
        eprintln!("core-data-dashboard: listening on https://{address}/");
        axum_server::bind_rustls(address, config)
            .serve(app.into_make_service())
            .await
            .context("the server stopped")
    })
}

/// `/health`: 200 when the service can query the server as its role, 503 with
/// the reason otherwise. No session needed (probes have none).
async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    let checked = tokio::task::spawn_blocking(move || {
        let target = &state.settings.database;
        let mut client = core_data_ops::pg::connect(
            &core_data_ops::pg::Target {
                host: &target.host,
                port: target.port,
                user: &target.role,
                database: "postgres",
                ca_cert: &target.ca_cert,
            },
            &state.password,
        )?;
        client.query_one("SELECT 1", &[])?;
        anyhow::Ok(())
    })
    .await;
    match checked {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}\n")),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}
