//! Connections as the dashboard's role (TLS verified against the stack's CA,
//! SCRAM), a few kept idle per database, and running the blocking `postgres`
//! client off the async workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use core_data_ops::dashboard::Settings;

use crate::error::AppError;
use crate::state::AppState;

/// Idle connections kept per database.
const IDLE_PER_DATABASE: usize = 4;

/// Idle connections by database.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<postgres::Client>>>,
}

/// A new connection to `database` as the dashboard's role.
pub(crate) fn connect(
    settings: &Settings,
    password: &str,
    database: &str,
) -> anyhow::Result<postgres::Client> {
    let target = &settings.database;
    core_data_ops::pg::connect(
        &core_data_ops::pg::Target {
            host: &target.host,
            port: target.port,
            user: &target.role,
            database,
            ca_cert: &target.ca_cert,
        },
        password,
    )
}

impl AppState {
    /// Runs `work` with a connection to `database` (an idle one or a new one),
    /// giving it back afterwards unless it broke.
    pub(crate) fn with_client<T>(
        &self,
        database: &str,
        work: impl FnOnce(&mut postgres::Client) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(database)
            .and_then(Vec::pop);
        let mut client = match idle {
            Some(client) if !client.is_closed() => client,
            _ => connect(&self.settings, &self.password, database).with_context(|| {
                format!(
                    "the dashboard cannot reach the server as `{}`; `cargo xtask up` creates \
                     the role",
                    self.settings.database.role
                )
            })?,
        };
        let result = work(&mut client);
        if !client.is_closed() {
            let mut idle = self
                .pool
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let list = idle.entry(database.to_owned()).or_default();
            if list.len() < IDLE_PER_DATABASE {
                list.push(client);
            }
        }
        result
    }

    /// Every database that accepts connections, in name order.
    pub(crate) fn databases(&self) -> anyhow::Result<Vec<String>> {
        self.with_client("postgres", core_data_ops::pg::bootstrap::databases)
    }
}

/// Runs blocking `work` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, AppError> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|error| AppError::from(anyhow::anyhow!("a page's worker failed: {error}")))?
        .map_err(AppError::from)
}

/// The databases a page covers: all of them, or the one picked (which must
/// be one of them).
pub(crate) fn scope(all: &[String], picked: Option<&str>) -> anyhow::Result<Vec<String>> {
    match picked.filter(|name| !name.is_empty()) {
        None => Ok(all.to_vec()),
        Some(name) if all.iter().any(|db| db == name) => Ok(vec![name.to_owned()]),
        Some(name) => anyhow::bail!(
            "database `{name}` does not exist or does not accept connections; the databases \
             are: {}",
            all.join(", ")
        ),
    }
}

/// The server's own words for a failed statement.
pub(crate) fn message(error: &postgres::Error) -> String {
    core_data_ops::pg::server_message(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_every_database_or_one_that_exists() {
        let all = vec!["app".to_owned(), "postgres".to_owned()];
        assert_eq!(scope(&all, None).unwrap(), all);
        assert_eq!(scope(&all, Some("")).unwrap(), all);
        assert_eq!(scope(&all, Some("app")).unwrap(), vec!["app".to_owned()]);
        let error = scope(&all, Some("nope")).unwrap_err().to_string();
        assert!(error.contains("`nope` does not exist") && error.contains("app, postgres"));
    }
}
