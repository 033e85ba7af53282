//! PgBouncer (profile `pgbouncer`): transaction pooling in front of postgres.
//! Clients authenticate with SCRAM; PgBouncer looks their verifier up with
//! `auth_query` through `core_data_pgbouncer.lookup` (a `SECURITY DEFINER`
//! function in `postgres`, see [`auth`]) as [`AUTH_ROLE`], a login that is not
//! a superuser and may execute nothing else. The only user PgBouncer itself
//! knows are [`STATS_USER`] (its admin console's `SHOW` commands) and
//! [`ADMIN_USER`] (`PAUSE`/`RESUME` around an upgrade), kept in its auth file
//! as SCRAM verifiers; the auth file's other line is the auth
//! role's password, which PgBouncer needs in clear to log in as it.

pub mod admin;
pub mod auth;
pub mod bench;
pub mod load;
pub mod pause;
pub mod userlist;

use crate::config::Config;
use crate::paths::Paths;

use super::Addon;

/// PgBouncer's `auth_user`: runs `auth_query` and nothing else.
pub const AUTH_ROLE: &str = "core_data_pgbouncer_auth";
/// The admin console's `stats_users` entry: `SHOW` commands only. Not a PostgreSQL role.
pub const STATS_USER: &str = "core_data_pgbouncer_stats";
/// The admin console's `admin_users` entry: `PAUSE` and `RESUME` around a major
/// upgrade's downtime. Not a PostgreSQL role.
pub const ADMIN_USER: &str = "core_data_pgbouncer_admin";
/// The secret holding [`ADMIN_USER`]'s password.
pub const ADMIN_PASSWORD: &str = "admin_password";
/// The secret holding [`AUTH_ROLE`]'s password.
pub const AUTH_PASSWORD: &str = "auth_password";
/// The secret holding [`STATS_USER`]'s password.
pub const STATS_PASSWORD: &str = "stats_password";
/// The generated passwords (`secrets/pgbouncer/`).
pub const PASSWORDS: &[&str] = &[AUTH_PASSWORD, STATS_PASSWORD, ADMIN_PASSWORD];
/// The port PgBouncer listens on inside the compose network.
pub const PORT: u16 = 6432;

/// Writes the auth file from the secrets when it no longer matches them.
/// Returns whether it changed (the container must then be re-created).
pub fn prepare(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    userlist::ensure(paths, config)
}

/// The host port PgBouncer is published on.
pub fn host_port(config: &Config) -> u16 {
    config
        .get("PGBOUNCER_HOST_PORT")
        .parse()
        .expect("ports are checked on load")
}

/// The host address clients use to reach PgBouncer's published port.
pub fn client_host(config: &Config) -> &str {
    crate::config::client_host_of(config.get("PGBOUNCER_BIND_ADDRESS"))
}

/// Whether the pgbouncer profile is on.
pub fn enabled(config: &Config) -> bool {
    super::enabled(config).contains(&Addon::PgBouncer)
}
