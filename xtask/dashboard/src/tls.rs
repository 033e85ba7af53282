//! The service's TLS: its certificate and key (signed by the stack's CA) for
//! the server, the CA for the health probe.

use std::sync::Arc;

use anyhow::Context;
use camino::Utf8Path;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS 1.2+ server configuration from PEM files, HTTP/1.1 only.
pub(crate) fn server_config(
    cert: &Utf8Path,
    key: &Utf8Path,
) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert.as_std_path())
        .with_context(|| format!("failed to read the certificate `{cert}`"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("`{cert}` is not a PEM certificate chain"))?;
    let key = PrivateKeyDer::from_pem_file(key.as_std_path())
        .with_context(|| format!("failed to read the private key `{key}`"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting only the stack's CA.
pub(crate) fn client_config(ca: &Utf8Path) -> anyhow::Result<rustls::ClientConfig> {
    core_data_ops::pg::client::tls_config(ca)
}
