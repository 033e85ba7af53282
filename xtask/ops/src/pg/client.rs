//! Connections from the host to the stack: TLS verified against the stack's CA
//! (`secrets/tls/ca.crt`), SCRAM with the password read from its secret file.

use std::time::Duration;

use anyhow::Context;
use camino::Utf8Path;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub database: &'a str,
    pub ca_cert: &'a Utf8Path,
}

/// A rustls client configuration trusting only `ca_cert`.
pub fn tls_config(ca_cert: &Utf8Path) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_cert.as_std_path())
        .with_context(|| format!("failed to read CA certificate `{ca_cert}`"))?
    {
        roots.add(cert.with_context(|| format!("`{ca_cert}` is not a PEM certificate"))?)?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connects with `sslmode=require` semantics plus full certificate verification.
pub fn connect(target: &Target<'_>, password: &str) -> anyhow::Result<postgres::Client> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(target.ca_cert)?);
    let mut config = postgres::Config::new();
    config
        .host(target.host)
        .port(target.port)
        .user(target.user)
        .password(password)
        .dbname(target.database)
        .ssl_mode(postgres::config::SslMode::Require)
        .application_name("core_data")
        .connect_timeout(Duration::from_secs(10));
    let failed = || {
        format!(
            "failed to connect to `{}` as `{}` at {}:{} over TLS",
            target.database, target.user, target.host, target.port
        )
    };
    // The driver's timeout covers the TCP connect only. A proxy that accepts and then
    // holds the connection (HAProxy while no node of the `ha` topology is primary, a
    // published port whose container is gone) would keep the TLS handshake waiting for
    // ever, so the whole connect runs on a thread with a deadline. A thread left behind
    // ends when its socket is closed.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(config.connect(tls));
    });
    match rx.recv_timeout(CONNECT_DEADLINE) {
        Ok(result) => result.with_context(failed),
        Err(_) => Err(anyhow::anyhow!(
            "the server did not finish the TLS handshake and login within {}s",
            CONNECT_DEADLINE.as_secs()
        ))
        .with_context(failed),
    }
}

/// How long a whole connection (TCP, TLS, authentication) may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);

/// The server's message (and detail) of a failed statement: the driver's own
/// text for a server error is only "db error".
pub fn server_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => error.to_string(),
    }
}
