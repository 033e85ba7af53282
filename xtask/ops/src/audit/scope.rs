//! The context every audit runs in: where it runs (the CLI on the host, or a
//! service of the stack such as the dashboard), the thresholds, the databases
//! in scope, and connections as a `pg_monitor` login (`core_data_auditor` from
//! the CLI, the dashboard's own role in the dashboard), kept open and handed
//! out again (one TLS + SCRAM handshake per database for `audit all`, not one
//! per audit and database).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use anyhow::{bail, Context};
use camino::Utf8PathBuf;

use super::{Identity, Thresholds};
use crate::pg::bootstrap;
use crate::secrets;
use crate::stack::Stack;

/// Where an audit runs. The checks are the same code in both; only what
/// needs the host (rendering `.env`, Docker) is the CLI's alone.
pub enum Host<'a> {
    /// `cargo xtask` on the host: the stack's configuration, rendered files
    /// and Docker; connects as `core_data_auditor` through the published port.
    Cli(&'a Stack),
    /// A service of the stack (the dashboard), on the compose network.
    Service(&'a ServiceTarget),
}

/// How a service of the stack reaches the server and what it knows of the
/// configuration (handed to it in its rendered settings file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceTarget {
    /// The server's name on the compose network (`postgres`).
    pub host: String,
    pub port: u16,
    /// The stack's CA certificate, as mounted in the service.
    pub ca_cert: Utf8PathBuf,
    /// The service's login (a member of `pg_monitor`).
    pub role: String,
    /// The configured superuser's name (`audit roles` tells it apart).
    pub superuser: String,
    /// The rendered postgresql.conf the server runs, mounted read-only: what
    /// `audit config` compares the live settings against.
    pub postgresql_conf: Utf8PathBuf,
}

pub struct Audit<'a> {
    pub host: Host<'a>,
    pub thresholds: Thresholds,
    /// Every non-template database that accepts connections, or the ones
    /// `--db` named (each checked to exist).
    pub databases: Vec<String>,
    role: String,
    password: String,
    /// Idle connections by database, returned by [`Pooled`] on drop.
    idle: RefCell<BTreeMap<String, postgres::Client>>,
}

/// A connection as the auditor; goes back to its `Audit` when dropped.
pub struct Pooled<'a> {
    database: String,
    client: Option<postgres::Client>,
    idle: &'a RefCell<BTreeMap<String, postgres::Client>>,
}

impl Deref for Pooled<'_> {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                self.idle
                    .borrow_mut()
                    .insert(std::mem::take(&mut self.database), client);
            }
        }
    }
}

impl<'a> Audit<'a> {
    /// Resolves the scope: `only` empty means every database. A name that
    /// does not exist is an error listing the ones that do.
    pub fn open(stack: &'a Stack, thresholds: Thresholds, only: &[String]) -> anyhow::Result<Self> {
        let password = secrets::read(&secrets::auditor_password_file(&stack.paths))?;
        Audit::scoped(
            Host::Cli(stack),
            secrets::AUDITOR_ROLE.to_owned(),
            password,
            thresholds,
            only,
        )
    }

    /// An audit run by a service of the stack as `target.role`.
    pub fn for_service(
        target: &'a ServiceTarget,
        password: String,
        thresholds: Thresholds,
        only: &[String],
    ) -> anyhow::Result<Self> {
        Audit::scoped(
            Host::Service(target),
            target.role.clone(),
            password,
            thresholds,
            only,
        )
    }

    fn scoped(
        host: Host<'a>,
        role: String,
        password: String,
        thresholds: Thresholds,
        only: &[String],
    ) -> anyhow::Result<Self> {
        let mut audit = Audit {
            host,
            thresholds,
            databases: Vec::new(),
            role,
            password,
            idle: RefCell::new(BTreeMap::new()),
        };
        let all = bootstrap::databases(&mut *audit.connect("postgres")?)?;
        audit.databases = if only.is_empty() {
            all
        } else {
            for name in only {
                if !all.contains(name) {
                    bail!(
                        "database `{name}` does not exist or does not accept connections; \
                         the databases are: {}",
                        all.join(", ")
                    );
                }
            }
            let mut chosen = only.to_vec();
            chosen.sort();
            chosen.dedup();
            chosen
        };
        Ok(audit)
    }

    /// [`Audit::open`] with the thresholds of `.env`.
    pub fn with_defaults(stack: &'a Stack, only: &[String]) -> anyhow::Result<Self> {
        Audit::open(stack, Thresholds::from_config(&stack.config)?, only)
    }

    /// A connection to `database` as the auditor (TLS verified, not a
    /// superuser): an idle one of this audit run, or a new one.
    pub fn connect(&self, database: &str) -> anyhow::Result<Pooled<'_>> {
        let idle = self.idle.borrow_mut().remove(database);
        let client = match idle {
            Some(client) => client,
            None => self.open_connection(database).with_context(|| {
                format!(
                    "failed to connect as `{}`; `cargo xtask up` creates it",
                    self.role
                )
            })?,
        };
        Ok(Pooled {
            database: database.to_owned(),
            client: Some(client),
            idle: &self.idle,
        })
    }

    fn open_connection(&self, database: &str) -> anyhow::Result<postgres::Client> {
        match &self.host {
            Host::Cli(stack) => stack.connect_as(&self.role, &self.password, database),
            Host::Service(target) => crate::pg::connect(
                &crate::pg::Target {
                    host: &target.host,
                    port: target.port,
                    user: &self.role,
                    database,
                    ca_cert: &target.ca_cert,
                },
                &self.password,
            ),
        }
    }

    /// The stack, for the audits that need the host (rendering `.env`,
    /// Docker); an error when the audit runs in a service.
    pub fn stack(&self) -> anyhow::Result<&'a Stack> {
        match self.host {
            Host::Cli(stack) => Ok(stack),
            Host::Service(_) => {
                bail!("this check needs the host's view of the stack: run it with `cargo xtask`")
            }
        }
    }

    /// The configured superuser's name.
    pub fn superuser(&self) -> &str {
        match &self.host {
            Host::Cli(stack) => stack.config.superuser(),
            Host::Service(target) => &target.superuser,
        }
    }

    /// Calls `each` with a connection to every database in scope, in name order.
    pub fn each_database(
        &self,
        mut each: impl FnMut(&str, &mut postgres::Client) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for database in &self.databases {
            let mut client = self.connect(database)?;
            each(database, &mut client)
                .with_context(|| format!("while auditing database `{database}`"))?;
        }
        Ok(())
    }

    /// Who the connection is, as the server sees it.
    pub fn identity(&self) -> anyhow::Result<Identity> {
        let mut client = self.connect("postgres")?;
        let row = client.query_one(
            "SELECT current_user::text, current_setting('is_superuser') = 'on'",
            &[],
        )?;
        Ok(Identity {
            role: row.get(0),
            superuser: row.get(1),
        })
    }
}
