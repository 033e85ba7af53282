//! TLS material: a local CA and a server certificate signed by it, generated
//! once into `secrets/tls/`. Operators replace `server.crt`, `server.key` and
//! `ca.crt` with their own to use a real CA; the CLI verifies the server against
//! `ca.crt` on every connection.

use anyhow::Context;
use camino::Utf8PathBuf;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::config::Config;
use crate::paths::Paths;
use crate::secrets;

/// Host names the server certificate is valid for: the host side and the compose network.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1", "postgres"];

pub struct TlsFiles {
    pub ca_cert: Utf8PathBuf,
    pub server_cert: Utf8PathBuf,
    pub server_key: Utf8PathBuf,
}

pub fn files(paths: &Paths) -> TlsFiles {
    let dir = paths.secrets_dir().join("tls");
    TlsFiles {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    }
}

/// Generates the CA and server certificate unless all three files exist (or `force`).
pub fn ensure(paths: &Paths, config: &Config, force: bool) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let files = files(paths);
    crate::fsutil::ensure_dir(files.ca_cert.parent().expect("tls dir"), 0o700)?;
    if !force && files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
        return Ok(Vec::new());
    }
    let (ca_pem, cert_pem, key_pem) = generate().context("failed to generate TLS material")?;
    // The CA key is not kept: nothing else is ever signed with it.
    secrets::write_new(&files.ca_cert, &ca_pem, true, config)?;
    secrets::write_new(&files.server_cert, &cert_pem, true, config)?;
    secrets::write_new(&files.server_key, &key_pem, true, config)?;
    Ok(vec![files.ca_cert, files.server_cert, files.server_key])
}

/// Valid from January of last year to January ten years on.
fn validity_years() -> (i32, i32) {
    let year = i32::try_from(crate::clock::current_year()).unwrap_or(2026);
    (year - 1, year + 10)
}

/// Returns (CA certificate, server certificate, server key) as PEM.
fn generate() -> Result<(String, String, String), rcgen::Error> {
    let (first_year, last_year) = validity_years();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "core_data local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = date_time_ymd(first_year, 1, 1);
    ca_params.not_after = date_time_ymd(last_year, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let names: Vec<String> = SERVER_NAMES.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "core_data postgres");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(first_year, 1, 1);
    params.not_after = date_time_ymd(last_year, 1, 1);
    let server_key = KeyPair::generate()?;
    let server_cert = params.signed_by(&server_key, &issuer)?;
    Ok((ca_cert.pem(), server_cert.pem(), server_key.serialize_pem()))
}
