//! `service-urls`: libpq URLs with full TLS verification against the stack's
//! CA, for the superuser and each application database's owner; passwords only
//! when asked. Every URL component is percent-encoded here, with the
//! `percent-encoding` crate.

use camino::Utf8PathBuf;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use crate::config::Config;
use crate::paths::Paths;
use crate::{secrets, tls};

/// RFC 3986's unreserved characters stay; everything else is encoded.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a user, password or database name for a URL.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, URL_COMPONENT).to_string()
}

/// The stack's connection URLs.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceUrls {
    /// Whether the URLs carry passwords (`--show-passwords`).
    pub passwords_included: bool,
    pub urls: Vec<ServiceUrl>,
}

/// One URL and what it connects as.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceUrl {
    /// The variable it is printed as: `SUPERUSER_URL`, `DATABASE_URL_<DATABASE>`,
    /// `POOLED_DATABASE_URL_<DATABASE>` (through PgBouncer), `VALKEY_URL` or `MEMCACHED_URL`
    /// (the add-ons, reachable on the compose network only), `DASHBOARD_URL` (its login page;
    /// users come from `cargo xtask dashboard add-user`).
    pub name: String,
    pub user: String,
    pub database: String,
    pub url: String,
}

/// The superuser's URL (database `postgres`), then one per application database as its owner,
/// each followed by its URL through PgBouncer (`POOLED_DATABASE_URL_<DB>`) when the profile is on;
/// then ValKey's (`rediss://`, verified with the same CA) and Memcached's application user's,
/// with the compose network's host names, when their profiles are on.
pub fn service_urls(
    paths: &Paths,
    config: &Config,
    show_passwords: bool,
) -> anyhow::Result<ServiceUrls> {
    let ca = tls::files(paths).ca_cert;
    let ca = ca.canonicalize_utf8().unwrap_or(ca);
    let pooled = crate::addons::pgbouncer::enabled(config);
    let url = |name: String,
               user: &str,
               password_file: Utf8PathBuf,
               database: &str,
               (host, port): (&str, u16)| {
        let credentials = if show_passwords {
            format!(
                "{}:{}",
                encode(user),
                encode(&secrets::read(&password_file)?)
            )
        } else {
            encode(user)
        };
        Ok::<_, anyhow::Error>(ServiceUrl {
            name,
            user: user.to_owned(),
            database: database.to_owned(),
            url: format!(
                "postgresql://{credentials}@{host}:{port}/{}?sslmode=verify-full&sslrootcert={ca}",
                encode(database)
            ),
        })
    };
    let direct = (config.client_host(), config.host_port());
    let mut urls = vec![url(
        "SUPERUSER_URL".to_owned(),
        config.superuser(),
        secrets::superuser_password_file(paths),
        "postgres",
        direct,
    )?];
    for db in config.databases() {
        urls.push(url(
            format!("DATABASE_URL_{}", db.name.to_uppercase()),
            &db.owner,
            secrets::role_password_file(paths, &db.owner),
            &db.name,
            direct,
        )?);
        if pooled {
            urls.push(url(
                format!("POOLED_DATABASE_URL_{}", db.name.to_uppercase()),
                &db.owner,
                secrets::role_password_file(paths, &db.owner),
                &db.name,
                (
                    crate::addons::pgbouncer::client_host(config),
                    crate::addons::pgbouncer::host_port(config),
                ),
            )?);
        }
    }
    let addon_url = |name: &str,
                     scheme: &str,
                     addon: crate::addons::Addon,
                     secret: &str,
                     port: u16,
                     path: &str| {
        let user = "app";
        let credentials = if show_passwords {
            let password = secrets::read(&addon.secret_file(paths, secret))?;
            format!("{user}:{}", encode(&password))
        } else {
            user.to_owned()
        };
        Ok::<_, anyhow::Error>(ServiceUrl {
            name: name.to_owned(),
            user: user.to_owned(),
            database: path.to_owned(),
            url: format!("{scheme}://{credentials}@{}:{port}/{path}", addon.name()),
        })
    };
    if crate::addons::valkey::enabled(config) {
        urls.push(addon_url(
            "VALKEY_URL",
            "rediss",
            crate::addons::Addon::Valkey,
            crate::addons::valkey::APP_PASSWORD,
            crate::addons::valkey::PORT,
            "0",
        )?);
    }
    if crate::addons::memcached::enabled(config) {
        urls.push(addon_url(
            "MEMCACHED_URL",
            "memcached",
            crate::addons::Addon::Memcached,
            crate::addons::memcached::APP_PASSWORD,
            crate::addons::memcached::PORT,
            "",
        )?);
    }
    if crate::dashboard::enabled(config) {
        urls.push(ServiceUrl {
            name: "DASHBOARD_URL".to_owned(),
            user: String::new(),
            database: String::new(),
            url: crate::dashboard::url(config),
        });
    }
    Ok(ServiceUrls {
        passwords_included: show_passwords,
        urls,
    })
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("app_owner-1.x~"), "app_owner-1.x~");
        assert_eq!(encode("p@ss:w/rd?#%"), "p%40ss%3Aw%2Frd%3F%23%25");
        assert_eq!(encode("é ü"), "%C3%A9%20%C3%BC");
    }
}
