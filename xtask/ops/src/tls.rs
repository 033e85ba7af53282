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

/// Host names every server certificate is valid for: the host side and the compose network.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1", "postgres"];

/// The common name of the server certificates this module makes; a certificate
/// without it was put there by the operator and is never replaced.
const SERVER_CN: &str = "core_data postgres";

/// The names the server certificate must carry for `config`: [`SERVER_NAMES`],
/// the container name, and `POSTGRES_BIND_ADDRESS` unless it is a wildcard or loopback.
pub fn server_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = SERVER_NAMES.iter().map(|name| (*name).to_owned()).collect();
    names.push(config.container_name("postgres"));
    if config.ha() {
        // The `ha` topology: each node by its name on the networks (replication,
        // pg_rewind and HAProxy's checks of Patroni's REST API verify it).
        names.extend(crate::ha::node_names(config));
        names.push("haproxy".to_owned());
    }
    let bind = config.bind_address();
    if !matches!(bind, "0.0.0.0" | "127.0.0.1") {
        names.push(bind.to_owned());
    }
    names
}

pub struct TlsFiles {
    pub ca_cert: Utf8PathBuf,
    /// The CA's key: kept (0600, never mounted into a container) to sign the
    /// add-on services' certificates; an operator's own CA has none here.
    pub ca_key: Utf8PathBuf,
    pub server_cert: Utf8PathBuf,
    pub server_key: Utf8PathBuf,
}

pub fn files(paths: &Paths) -> TlsFiles {
    let dir = paths.secrets_dir().join("tls");
    TlsFiles {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    }
}

/// An add-on service's certificate and key, signed by the stack's CA.
#[derive(Debug, Clone)]
pub struct ServiceTls {
    pub cert: Utf8PathBuf,
    pub key: Utf8PathBuf,
}

/// The files of `service`'s certificate (`secrets/tls/<service>.crt|.key`).
pub fn service_files(paths: &Paths, service: &str) -> ServiceTls {
    let dir = paths.secrets_dir().join("tls");
    ServiceTls {
        cert: dir.join(format!("{service}.crt")),
        key: dir.join(format!("{service}.key")),
    }
}

/// Makes sure the CA's key is here, so add-on certificates can be signed. A
/// CA made here before keys were kept is made again with the server
/// certificate (returns true: the server must be re-created on the new files);
/// an operator's own CA without its key here is an error saying what to do.
/// When every service in `services` already has its certificate and key in
/// place (an operator's own, say), no CA key is needed.
pub fn ensure_ca_key(paths: &Paths, config: &Config, services: &[&str]) -> anyhow::Result<bool> {
    let files = files(paths);
    if files.ca_key.exists() {
        return Ok(false);
    }
    if services.iter().all(|service| {
        let tls = service_files(paths, service);
        tls.cert.exists() && tls.key.exists()
    }) {
        return Ok(false);
    }
    if !ours(&files.server_cert) {
        anyhow::bail!(
            "the add-on services need certificates signed by your CA, and its key is not at `{}`; \
             nothing was changed: put each enabled service's certificate and key at \
             `secrets/tls/<service>.crt` and `.key` (signed by the CA in `ca.crt`, naming the \
             service and its container `<project>-<service>`)",
            files.ca_key
        );
    }
    write_generated(paths, config)?;
    Ok(true)
}

/// Issues `service`'s certificate for `names` unless one issued by the
/// current CA with all those names is in place (an operator's own certificate
/// there is never replaced). Returns the files and whether they were (re)issued.
pub fn ensure_service(
    paths: &Paths,
    config: &Config,
    service: &str,
    names: &[String],
) -> anyhow::Result<(ServiceTls, bool)> {
    ensure_service_for(paths, config, service, names, Usage::Server)
}

/// What a service certificate may authenticate (its extended key usages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A server only: what clients verify.
    Server,
    /// A server that also authenticates to its peers and to other servers with
    /// the same certificate (etcd members).
    ServerAndClient,
    /// A client only (etcdctl in an etcd member, whose common name is its etcd
    /// user): useless to serve anything.
    Client,
    /// A client of etcd's HTTP gateway (Patroni): [`Usage::Client`] whose subject
    /// has no common name, only an organisation naming the service. With
    /// authentication on, the gateway refuses every request whose client
    /// certificate carries a common name.
    GatewayClient,
}

/// [`ensure_service`] for a certificate of the given [`Usage`].
pub fn ensure_service_for(
    paths: &Paths,
    config: &Config,
    service: &str,
    names: &[String],
    usage: Usage,
) -> anyhow::Result<(ServiceTls, bool)> {
    let tls = service_files(paths, service);
    let ca = files(paths);
    if tls.cert.exists() && tls.key.exists() {
        let pem =
            std::fs::read(&tls.cert).with_context(|| format!("failed to read `{}`", tls.cert))?;
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .and_then(Result::ok);
        let Some(der) = der else {
            anyhow::bail!(
                "`{}` holds no certificate; remove it to have one issued",
                tls.cert
            );
        };
        if !contains(&der, SERVICE_CN_PREFIX.as_bytes()) {
            return Ok((tls, false));
        }
        let newer_ca = modified(&ca.ca_cert)? > modified(&tls.cert)?;
        // A client certificate made before they lost their common name is issued again.
        let stale_subject = usage == Usage::GatewayClient
            && contains(&der, &common_name_entry(&service_common_name(service)));
        if !newer_ca && !stale_subject && names.iter().all(|name| contains(&der, &san_entry(name)))
        {
            return Ok((tls, false));
        }
    }
    let ca_key_pem = std::fs::read_to_string(&ca.ca_key).with_context(|| {
        format!(
            "failed to read the CA key `{}`; `cargo xtask up` makes it",
            ca.ca_key
        )
    })?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("the CA key does not parse")?;
    // The key must be the one `ca.crt` carries, or the certificate would chain to nothing.
    let ca_pem =
        std::fs::read(&ca.ca_cert).with_context(|| format!("failed to read `{}`", ca.ca_cert))?;
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_slice())
        .next()
        .and_then(Result::ok)
        .with_context(|| format!("`{}` holds no certificate", ca.ca_cert))?;
    if !contains(&ca_der, ca_key.public_key_raw()) || !contains(&ca_der, b"core_data local CA") {
        anyhow::bail!(
            "`{}` does not belong to the CA in `{}` (another CA was put there), so no certificate \
             for `{service}` was issued; nothing was changed: put `{service}`'s certificate and key \
             at `{}` and `{}`, or remove the stale `{}`",
            ca.ca_key,
            ca.ca_cert,
            tls.cert,
            tls.key,
            ca.ca_key
        );
    }
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut params = server_params(names, &service_common_name(service))?;
    if usage == Usage::GatewayClient {
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, service_common_name(service));
    }
    params.extended_key_usages = match usage {
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::ServerAndClient => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Usage::Client | Usage::GatewayClient => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    secrets::write_new(&tls.key, &key.serialize_pem(), true, config)?;
    secrets::write_new(&tls.cert, &cert.pem(), true, config)?;
    Ok((tls, true))
}

/// The common name of the add-on certificates made here starts with this.
const SERVICE_CN_PREFIX: &str = "core_data service ";

/// The common name of `service`'s certificate made here (etcd takes a client
/// certificate's common name as the user: `ha::dcs`).
pub fn service_common_name(service: &str) -> String {
    format!("{SERVICE_CN_PREFIX}{service}")
}

fn modified(path: &camino::Utf8Path) -> anyhow::Result<std::time::SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .with_context(|| format!("failed to read the time of `{path}`"))
}

/// Whether the certificate at `path` was made here (our common name).
fn ours(path: &camino::Utf8Path) -> bool {
    let Ok(pem) = std::fs::read(path) else {
        return false;
    };
    let first = rustls_pemfile::certs(&mut pem.as_slice()).next();
    matches!(first, Some(Ok(der)) if contains(&der, SERVER_CN.as_bytes()))
}

/// Generates the CA and server certificate unless all three files exist (or `force`).
pub fn ensure(paths: &Paths, config: &Config, force: bool) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let files = files(paths);
    crate::fsutil::ensure_dir(files.ca_cert.parent().expect("tls dir"), 0o700)?;
    if !force && files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
        return Ok(Vec::new());
    }
    write_generated(paths, config)
}

/// Regenerates the CA and server certificate when the certificate in place was
/// made here and lacks a name [`server_names`] requires (a new
/// `POSTGRES_BIND_ADDRESS`, a new project). Returns whether it did.
pub fn ensure_names(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    let files = files(paths);
    let Ok(pem) = std::fs::read(&files.server_cert) else {
        return Ok(false);
    };
    let Some(Ok(der)) = rustls_pemfile::certs(&mut pem.as_slice()).next() else {
        return Ok(false);
    };
    if !contains(&der, SERVER_CN.as_bytes()) {
        return Ok(false);
    }
    if server_names(config)
        .iter()
        .all(|name| contains(&der, &san_entry(name)))
    {
        return Ok(false);
    }
    write_generated(paths, config)?;
    Ok(true)
}

fn write_generated(paths: &Paths, config: &Config) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let files = files(paths);
    let (ca_pem, ca_key_pem, cert_pem, key_pem) =
        generate(&server_names(config)).context("failed to generate TLS material")?;
    // The CA key is kept for the add-on services' certificates: never mounted, never
    // handed to the containers' UID (it stays the invoking user's).
    crate::fsutil::write_atomic(&files.ca_key, ca_key_pem.as_bytes(), 0o600)?;
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

/// A subjectAltName entry as DER: an IP address (`[7]` and its octets) or a DNS name (`[2]`).
fn san_entry(name: &str) -> Vec<u8> {
    let (tag, body) = match name.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => (0x87, ip.octets().to_vec()),
        Ok(std::net::IpAddr::V6(ip)) => (0x87, ip.octets().to_vec()),
        Err(_) => (0x82, name.as_bytes().to_vec()),
    };
    let mut entry = vec![tag, u8::try_from(body.len()).unwrap_or(u8::MAX)];
    entry.extend(body);
    entry
}

/// A subject's common-name attribute holding `cn` as rcgen encodes it (the
/// attribute's OID 2.5.4.3, then a UTF8String).
fn common_name_entry(cn: &str) -> Vec<u8> {
    let mut entry = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x0c];
    entry.push(u8::try_from(cn.len()).unwrap_or(u8::MAX));
    entry.extend(cn.as_bytes());
    entry
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The local CA's parameters: the same every time, so a kept key with these
/// signs certificates that chain to the kept `ca.crt`.
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let (first_year, last_year) = validity_years();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "core_data local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = date_time_ymd(first_year, 1, 1);
    ca_params.not_after = date_time_ymd(last_year, 1, 1);
    Ok(ca_params)
}

/// A TLS server certificate's parameters: `names` as subjectAltNames, common
/// name `cn`, server authentication only, valid over [`validity_years`].
fn server_params(names: &[String], cn: &str) -> Result<CertificateParams, rcgen::Error> {
    let (first_year, last_year) = validity_years();
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(first_year, 1, 1);
    params.not_after = date_time_ymd(last_year, 1, 1);
    Ok(params)
}

/// Returns (CA certificate, CA key, server certificate, server key) as PEM.
type Generated = (String, String, String, String);

fn generate(names: &[String]) -> Result<Generated, rcgen::Error> {
    let ca_params = ca_params()?;
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let params = server_params(names, SERVER_CN)?;
    let server_key = KeyPair::generate()?;
    let server_cert = params.signed_by(&server_key, &issuer)?;
    Ok((
        ca_cert.pem(),
        ca_key_pem,
        server_cert.pem(),
        server_key.serialize_pem(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::sizing::Resources;

    fn config(bind: &str) -> Config {
        let overrides: BTreeMap<String, String> = [
            ("POSTGRES_BIND_ADDRESS", bind),
            ("COMPOSE_PROJECT_NAME", "tlstest"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let resources = Resources {
            memory_mb: 2048,
            cpus: 2,
        };
        Config::from_overrides(&overrides, resources).unwrap()
    }

    /// A state directory in a temporary directory (kept while the first is
    /// alive), with the CA and server certificate of a loopback stack.
    fn state_with_ca() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let state = camino::Utf8Path::from_path(dir.path()).unwrap().to_owned();
        let paths = Paths::from_repo(Some(state));
        ensure(&paths, &config("127.0.0.1"), false).unwrap();
        (dir, paths)
    }

    #[test]
    fn the_certificate_follows_the_bind_address() {
        let (_dir, paths) = state_with_ca();
        let loopback = config("127.0.0.1");
        let first = std::fs::read(files(&paths).server_cert).unwrap();
        assert!(
            !ensure_names(&paths, &loopback).unwrap(),
            "names match: kept"
        );
        assert_eq!(std::fs::read(files(&paths).server_cert).unwrap(), first);

        let public = config("10.1.2.3");
        assert!(
            ensure_names(&paths, &public).unwrap(),
            "a new bind address renews"
        );
        let renewed = std::fs::read(files(&paths).server_cert).unwrap();
        let der = rustls_pemfile::certs(&mut renewed.as_slice())
            .next()
            .unwrap()
            .unwrap();
        assert!(contains(&der, &[0x87, 4, 10, 1, 2, 3]));
        assert!(contains(&der, &san_entry("tlstest-postgres")));
        assert!(!ensure_names(&paths, &public).unwrap(), "renewed once only");
    }

    #[test]
    fn service_certificates_are_issued_once_by_the_kept_ca_and_never_with_a_stale_key() {
        let (_dir, paths) = state_with_ca();
        let config = config("127.0.0.1");
        assert!(files(&paths).ca_key.exists(), "the CA key is kept");
        let names = vec!["pgbouncer".to_owned(), "tlstest-pgbouncer".to_owned()];
        let (tls, issued) = ensure_service(&paths, &config, "pgbouncer", &names).unwrap();
        assert!(issued);
        let pem = std::fs::read(&tls.cert).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap();
        assert!(contains(&der, &san_entry("tlstest-pgbouncer")));
        // The issued certificate names our CA as its issuer, and the CA's key signed it.
        assert!(contains(&der, b"core_data local CA"));
        let (_, again) = ensure_service(&paths, &config, "pgbouncer", &names).unwrap();
        assert!(!again, "an issued certificate with every name is kept");

        // A key that does not belong to `ca.crt` signs nothing.
        let other = KeyPair::generate().unwrap();
        std::fs::write(files(&paths).ca_key, other.serialize_pem()).unwrap();
        std::fs::remove_file(&tls.cert).unwrap();
        let err = ensure_service(&paths, &config, "pgbouncer", &names).unwrap_err();
        assert!(
            format!("{err:#}").contains("does not belong to the CA"),
            "{err:#}"
        );
        assert!(!tls.cert.exists(), "nothing was issued");

        // Without the CA key, service files already in place are enough; a missing one is not.
        std::fs::remove_file(files(&paths).ca_key).unwrap();
        std::fs::write(&tls.cert, &pem).unwrap();
        assert!(!ensure_ca_key(&paths, &config, &["pgbouncer"]).unwrap());
        // Our own CA without its key (an older layout) is made again, key kept.
        assert!(ensure_ca_key(&paths, &config, &["pgbouncer", "valkey"]).unwrap());
        assert!(files(&paths).ca_key.exists());
    }

    #[test]
    fn a_gateway_client_certificate_has_no_common_name_and_one_made_with_it_is_issued_again() {
        let (_dir, paths) = state_with_ca();
        let config = config("127.0.0.1");
        let names = vec!["patroni".to_owned()];
        let der_of = |tls: &ServiceTls| {
            let pem = std::fs::read(&tls.cert).unwrap();
            let der = rustls_pemfile::certs(&mut pem.as_slice())
                .next()
                .unwrap()
                .unwrap()
                .to_vec();
            der
        };
        let cn = service_common_name("etcd-client");
        let (tls, issued) =
            ensure_service_for(&paths, &config, "etcd-client", &names, Usage::GatewayClient)
                .unwrap();
        assert!(issued);
        let der = der_of(&tls);
        assert!(contains(&der, cn.as_bytes()), "the organisation names it");
        assert!(!contains(&der, &common_name_entry(&cn)), "no common name");
        assert!(
            contains(&der, b"core_data local CA"),
            "the CA's common name stays"
        );
        let (_, again) =
            ensure_service_for(&paths, &config, "etcd-client", &names, Usage::GatewayClient)
                .unwrap();
        assert!(!again, "kept");

        // One made before, with the common name, is issued again.
        let with_cn = server_params(&names, &cn).unwrap();
        let issuer = Issuer::new(
            ca_params().unwrap(),
            KeyPair::from_pem(&std::fs::read_to_string(files(&paths).ca_key).unwrap()).unwrap(),
        );
        let key = KeyPair::generate().unwrap();
        std::fs::write(&tls.cert, with_cn.signed_by(&key, &issuer).unwrap().pem()).unwrap();
        std::fs::write(&tls.key, key.serialize_pem()).unwrap();
        let (_, reissued) =
            ensure_service_for(&paths, &config, "etcd-client", &names, Usage::GatewayClient)
                .unwrap();
        assert!(
            reissued,
            "a client certificate with a common name is issued again"
        );
        assert!(!contains(&der_of(&tls), &common_name_entry(&cn)));
    }

    #[test]
    fn a_certificate_put_there_by_the_operator_is_never_replaced() {
        let (_dir, paths) = state_with_ca();
        // An operator's certificate: another common name, no matching names.
        let mut params = CertificateParams::new(vec!["db.example.com".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "db.example.com");
        let key = KeyPair::generate().unwrap();
        let theirs = params.self_signed(&key).unwrap().pem();
        std::fs::write(files(&paths).server_cert, &theirs).unwrap();
        assert!(!ensure_names(&paths, &config("10.1.2.3")).unwrap());
        assert_eq!(
            std::fs::read_to_string(files(&paths).server_cert).unwrap(),
            theirs
        );
    }
}
