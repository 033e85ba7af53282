//! What the dashboard service is told, as one JSON file the CLI renders from
//! `.env` into `rendered/dashboard/settings.json` (mounted read-only in the
//! service at [`SETTINGS_PATH`]). Paths are the service's own view (its
//! mounts), never the host's; no secret is in it, only the files holding them.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::audit::scope::ServiceTarget;
use crate::audit::Thresholds;

/// Where the service reads its settings.
pub const SETTINGS_PATH: &str = "/etc/core_data/conf/settings.json";

/// The role the dashboard connects as: `pg_monitor` and the audit functions,
/// `pg_signal_backend` only with `DASHBOARD_ALLOW_SIGNAL=true`.
pub const ROLE: &str = "core_data_dashboard";

/// The schema (in database `postgres`, owned by [`ROLE`]) where the service
/// keeps its captured history.
pub const SCHEMA: &str = "core_data_dashboard";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The address the HTTPS server binds in its container (`0.0.0.0:8443`).
    pub listen: String,
    /// The URL users open (published on the host's bind address).
    pub public_url: String,
    /// The service's TLS certificate and key (signed by the stack's CA).
    pub tls_cert: Utf8PathBuf,
    pub tls_key: Utf8PathBuf,
    /// The server, the role and the rendered postgresql.conf.
    pub database: ServiceTarget,
    /// The file holding [`ROLE`]'s password.
    pub password_file: Utf8PathBuf,
    /// `NAME:ARGON2-PHC` lines (see `users`); re-read when it changes.
    pub users_file: Utf8PathBuf,
    /// Whether cancel/terminate are offered (the role has `pg_signal_backend`).
    pub allow_signal: bool,
    /// How often pg_stat_statements, sizes and container stats are captured.
    pub capture_interval_seconds: u64,
    /// How long captured history is kept.
    pub history_days: u32,
    /// The audits' thresholds (`AUDIT_*` keys), the same as the CLI's.
    pub thresholds: Thresholds,
    /// `backups/` of the state directory, mounted read-only (daily bundles,
    /// logical dumps and their status).
    pub backups_dir: Utf8PathBuf,
    /// Failed logins allowed per client address and per user name in a minute.
    pub login_attempts_per_minute: u32,
    /// How long a session lasts without a request.
    pub session_idle_minutes: u32,
    /// The compose project, naming the stack's containers.
    pub project: String,
}
