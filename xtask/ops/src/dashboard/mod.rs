//! The `dashboard` service (profile `dashboard`, on by default) as the CLI
//! sees it: the settings file it renders for the service (`settings`,
//! `prepare`), the users file `dashboard add-user` writes and the service
//! reads (`users`), and the service's database role (`role`). The service
//! itself is the `core_data_dashboard` crate.

pub mod prepare;
pub mod role;
pub mod settings;
pub mod users;

use camino::Utf8PathBuf;

use crate::addons::Addon;
use crate::config::Config;
use crate::paths::Paths;

pub use prepare::prepare;
pub use settings::Settings;

/// The generated secret of `secrets/dashboard/`: the role's password.
pub const DB_PASSWORD: &str = "db_password";
/// The passwords `addons::prepare` generates for the service.
pub const PASSWORDS: &[&str] = &[DB_PASSWORD];
/// The users file in `secrets/dashboard/` (mounted as a directory, so a
/// rewritten file is seen without re-creating the container).
pub const USERS_FILE: &str = "users";
/// The HTTPS port inside the container.
pub const PORT: u16 = 8443;

/// Whether the dashboard profile is on.
pub fn enabled(config: &Config) -> bool {
    crate::addons::enabled(config).contains(&Addon::Dashboard)
}

/// The URL users open: the published port on the bind address (loopback for `0.0.0.0`).
pub fn url(config: &Config) -> String {
    let host = crate::config::client_host_of(config.get("DASHBOARD_BIND_ADDRESS"));
    format!("https://{host}:{}/", config.get("DASHBOARD_HOST_PORT"))
}

/// `secrets/dashboard/users` on the host.
pub fn users_file(paths: &Paths) -> Utf8PathBuf {
    Addon::Dashboard.secrets_dir(paths).join(USERS_FILE)
}
