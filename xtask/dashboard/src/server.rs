//! Starting the HTTPS server: the role's password, TLS, the shared state, the
//! capture loop, and `/health`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use core_data_ops::dashboard::Settings;

use crate::state::AppState;
use crate::tls;

/// Serves until the process ends.
pub(crate) fn serve(settings: Settings) -> anyhow::Result<()> {
    let password = std::fs::read_to_string(&settings.password_file)
        .with_context(|| format!("failed to read `{}`", settings.password_file))?
        .trim_end()
        .to_owned();
    let tls = tls::server_config(&settings.tls_cert, &settings.tls_key)?;
    let address: SocketAddr = settings
        .listen
        .parse()
        .with_context(|| format!("`listen` ({}) is not an address", settings.listen))?;
    let state = Arc::new(AppState::new(settings, password)?);
    crate::history::capture::spawn(Arc::clone(&state));
    let app = crate::app::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
        eprintln!("core-data-dashboard: listening on https://{address}/");
        axum_server::bind_rustls(address, config)
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .context("the server stopped")
    })
}

/// `/health`: 200 when the service can query the server as its role, 503 with
/// the reason otherwise. No session needed (probes have none).
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    let checked = tokio::task::spawn_blocking(move || {
        state.with_client("postgres", |client| {
            client.query_one("SELECT 1", &[])?;
            Ok(())
        })
    })
    .await;
    match checked {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}\n")),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}
