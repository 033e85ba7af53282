//! `up`'s step for the dashboard's files: `rendered/dashboard/settings.json`
//! from `.env` (the paths are the service's mounts in compose.yaml).

use camino::Utf8PathBuf;

use super::settings::Settings;
use super::{DB_PASSWORD, PORT, USERS_FILE};
use crate::addons::Addon;
use crate::audit::scope::ServiceTarget;
use crate::audit::Thresholds;
use crate::config::Config;
use crate::paths::Paths;

/// Where compose mounts `secrets/dashboard/` in the service.
const SECRETS_MOUNT: &str = "/run/secrets/dashboard";
/// Where compose mounts `rendered/postgres/` in the service.
const POSTGRES_CONF_MOUNT: &str = "/etc/core_data/postgres";

fn number<T: std::str::FromStr>(config: &Config, key: &str) -> anyhow::Result<T> {
    config
        .get(key)
        .parse()
        .map_err(|_| anyhow::anyhow!("`{key}` in .env is not a number"))
}

/// The settings `.env` gives the service.
pub fn settings(config: &Config) -> anyhow::Result<Settings> {
    Ok(Settings {
        listen: format!("0.0.0.0:{PORT}"),
        public_url: super::url(config),
        tls_cert: "/run/secrets/dashboard.crt".into(),
        tls_key: "/run/secrets/dashboard.key".into(),
        database: ServiceTarget {
            host: "postgres".to_owned(),
            port: 5432,
            ca_cert: "/run/secrets/ca.crt".into(),
            role: super::settings::ROLE.to_owned(),
            superuser: config.superuser().to_owned(),
            postgresql_conf: Utf8PathBuf::from(POSTGRES_CONF_MOUNT).join("postgresql.conf"),
        },
        password_file: Utf8PathBuf::from(SECRETS_MOUNT).join(DB_PASSWORD),
        users_file: Utf8PathBuf::from(SECRETS_MOUNT).join(USERS_FILE),
        allow_signal: config.get("DASHBOARD_ALLOW_SIGNAL") == "true",
        capture_interval_seconds: number(config, "DASHBOARD_CAPTURE_INTERVAL_SECONDS")?,
        history_days: number(config, "DASHBOARD_HISTORY_DAYS")?,
        thresholds: Thresholds::from_config(config)?,
        backups_dir: "/backups".into(),
        login_attempts_per_minute: number(config, "DASHBOARD_LOGIN_ATTEMPTS_PER_MINUTE")?,
        session_idle_minutes: number(config, "DASHBOARD_SESSION_IDLE_MINUTES")?,
        project: config.project().to_owned(),
    })
}

/// Writes `rendered/dashboard/settings.json` when its text changes; returns
/// whether it did (the service reads it at start: a change re-creates it).
pub fn prepare(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    // Mounted as a directory (the users file is rewritten in place): the service's UID reads it.
    crate::fsutil::hand_over(
        &Addon::Dashboard.secrets_dir(paths),
        config.uid(),
        config.gid(),
    )?;
    let dir = Addon::Dashboard.rendered_dir(paths);
    crate::fsutil::ensure_dir(&dir, 0o755)?;
    let text = serde_json::to_string_pretty(&settings(config)?)? + "\n";
    let file = dir.join("settings.json");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(text.as_str()) {
        return Ok(false);
    }
    crate::fsutil::write_atomic(&file, text.as_bytes(), 0o644)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_settings_read_back_and_follow_env() {
        let mut values = std::collections::BTreeMap::new();
        values.insert("DASHBOARD_ALLOW_SIGNAL".to_owned(), "true".to_owned());
        values.insert("DASHBOARD_HOST_PORT".to_owned(), "9443".to_owned());
        let config = Config::from_overrides(
            &values,
            crate::config::sizing::Resources {
                memory_mb: 1024,
                cpus: 2,
            },
        )
        .unwrap();
        let settings = settings(&config).unwrap();
        assert!(settings.allow_signal);
        assert_eq!(settings.public_url, "https://127.0.0.1:9443/");
        assert_eq!(settings.database.role, "core_data_dashboard");
        let text = serde_json::to_string(&settings).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, settings);
    }
}
