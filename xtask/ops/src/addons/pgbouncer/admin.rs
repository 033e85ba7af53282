//! PgBouncer's admin console, as [`STATS_USER`] over verified TLS from the
//! host: `SHOW STATS`, `SHOW POOLS`, `SHOW CLIENTS` (the `pgbouncer stats|pools|
//! clients` commands), and `reload` (SIGHUP to the container: PgBouncer re-reads
//! its configuration; the stats user may not run `RELOAD`).

use anyhow::Context;
use serde::Serialize;

use super::{Addon, STATS_PASSWORD, STATS_USER};
use crate::stack::Stack;

/// What a `SHOW` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    Stats,
    Pools,
    Clients,
    Servers,
}

impl Show {
    fn command(self) -> &'static str {
        match self {
            Show::Stats => "SHOW STATS",
            Show::Pools => "SHOW POOLS",
            Show::Clients => "SHOW CLIENTS",
            Show::Servers => "SHOW SERVERS",
        }
    }
}

/// One `SHOW`'s answer: its columns and rows as PgBouncer sent them (text).
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub command: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The values of column `name`, one per row.
    pub fn column(&self, name: &str) -> Vec<Option<&str>> {
        let Some(index) = self.columns.iter().position(|c| c == name) else {
            return Vec::new();
        };
        self.rows.iter().map(|row| row[index].as_deref()).collect()
    }
}

/// A connection to the admin console (database `pgbouncer`) as the stats user.
pub fn console(stack: &Stack) -> anyhow::Result<postgres::Client> {
    console_as(stack, STATS_USER, STATS_PASSWORD)
}

/// A connection to the admin console as `user`, with the password of secret `secret`.
pub(crate) fn console_as(
    stack: &Stack,
    user: &str,
    secret: &str,
) -> anyhow::Result<postgres::Client> {
    anyhow::ensure!(
        super::enabled(&stack.config),
        "the `pgbouncer` profile is off; add it to COMPOSE_PROFILES in `.env` (or run \
         `cargo xtask up --profile pgbouncer`)"
    );
    let password = crate::secrets::read(&Addon::PgBouncer.secret_file(&stack.paths, secret))?;
    let ca = crate::tls::files(&stack.paths).ca_cert;
    let target = crate::pg::Target {
        host: super::client_host(&stack.config),
        port: super::host_port(&stack.config),
        user,
        database: "pgbouncer",
        ca_cert: &ca,
    };
    crate::pg::connect(&target, &password).context(
        "PgBouncer's admin console did not answer; is the stack up (`cargo xtask status`)?",
    )
}

/// Runs one `SHOW` on the admin console.
pub fn show(stack: &Stack, what: Show) -> anyhow::Result<Table> {
    let mut client = console(stack)?;
    let messages = client
        .simple_query(what.command())
        .with_context(|| format!("PgBouncer refused `{}`", what.command()))?;
    let mut table = Table {
        command: what.command().to_owned(),
        columns: Vec::new(),
        rows: Vec::new(),
    };
    for message in messages {
        match message {
            postgres::SimpleQueryMessage::RowDescription(columns) => {
                table.columns = columns.iter().map(|c| c.name().to_owned()).collect();
            }
            postgres::SimpleQueryMessage::Row(row) => {
                if table.columns.is_empty() {
                    table.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                table.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    Ok(table)
}

/// Makes PgBouncer re-read `pgbouncer.ini` (SIGHUP, `addons::lifecycle::reload`).
pub fn reload(stack: &Stack) -> anyhow::Result<()> {
    crate::addons::lifecycle::reload(stack, Addon::PgBouncer)
}
