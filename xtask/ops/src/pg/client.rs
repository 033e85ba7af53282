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
    connect_within(target, password, CONNECT_DEADLINE)
}

/// [`connect`] with `deadline` for the whole connection.
fn connect_within(
    target: &Target<'_>,
    password: &str,
    deadline: Duration,
) -> anyhow::Result<postgres::Client> {
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
    match rx.recv_timeout(deadline) {
        Ok(result) => result.with_context(failed),
        Err(_) => Err(anyhow::anyhow!(
            "the server did not finish the TLS handshake and login within {}s",
            deadline.as_secs()
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

#[cfg(test)]
mod deadline_tests {
    use super::*;

    /// A listener that accepts and never answers (as HAProxy holds a client
    /// while no node is primary): the connect fails at its deadline instead of
    /// waiting for ever.
    #[test]
    fn a_server_that_never_answers_fails_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(held);
        });
        let dir = tempfile::tempdir().unwrap();
        let ca = camino::Utf8PathBuf::from_path_buf(dir.path().join("ca.crt")).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let target = Target {
            host: "127.0.0.1",
            port,
            user: "postgres",
            database: "postgres",
            ca_cert: &ca,
        };
        let started = std::time::Instant::now();
        let Err(err) = connect_within(&target, "unused", Duration::from_secs(1)) else {
            panic!("a server that never answers was connected to");
        };
        let waited = started.elapsed();
        assert!(
            format!("{err:#}").contains("did not finish the TLS handshake and login within 1s"),
            "{err:#}"
        );
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    }
}
