//! ValKey (profile `valkey`): Debian's valkey-server, TLS only (port 6379 on
//! the compose network, unpublished), users from an ACL file `up` writes
//! ([`acl`]), AOF with `appendfsync everysec` plus RDB snapshots on the
//! `valkey` volume. [`client`] runs `valkey-cli` in the container for
//! `valkey cli` and `valkey bgsave`.

pub mod acl;
pub mod client;

use crate::config::Config;
use crate::paths::Paths;

use super::Addon;

/// The application's user: the key patterns of `VALKEY_APP_KEY_PATTERNS`,
/// every command but the `@dangerous` ones (FLUSHALL, CONFIG, DEBUG, MODULE, …).
pub const APP_USER: &str = "app";
/// The operator's user (`valkey cli`, `valkey bgsave`): every key and command
/// but DEBUG and MODULE.
pub const ADMIN_USER: &str = "admin";
/// The health check's user: PING and nothing else.
pub const HEALTH_USER: &str = "health";
/// The secret holding [`APP_USER`]'s password.
pub const APP_PASSWORD: &str = "app_password";
/// The secret holding [`ADMIN_USER`]'s password.
pub const ADMIN_PASSWORD: &str = "admin_password";
/// The secret holding [`HEALTH_USER`]'s password (mounted for the health check).
pub const HEALTH_PASSWORD: &str = "health_password";
/// The generated passwords (`secrets/valkey/`).
pub const PASSWORDS: &[&str] = &[APP_PASSWORD, ADMIN_PASSWORD, HEALTH_PASSWORD];
/// The port ValKey listens on (TLS) inside the compose network.
pub const PORT: u16 = 6379;

/// Writes the ACL file from the secrets and `.env` when it no longer matches.
/// Returns whether it changed (the container must then be re-created).
pub fn prepare(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    acl::ensure(paths, config)
}

/// Whether the valkey profile is on.
pub fn enabled(config: &Config) -> bool {
    super::enabled(config).contains(&Addon::Valkey)
}
