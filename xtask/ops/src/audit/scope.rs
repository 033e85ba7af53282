//! The context every audit runs in: the stack, the thresholds, the databases
//! in scope, and connections as `core_data_auditor`, kept open and handed out
//! again (one TLS + SCRAM handshake per database for `audit all`, not one per
//! audit and database).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use anyhow::{bail, Context};

use super::{Identity, Thresholds};
use crate::pg::bootstrap;
use crate::secrets;
use crate::stack::Stack;

pub struct Audit<'a> {
    pub stack: &'a Stack,
    pub thresholds: Thresholds,
    /// Every non-template database that accepts connections, or the ones
    /// `--db` named (each checked to exist).
    pub databases: Vec<String>,
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
        let mut audit = Audit {
            stack,
            thresholds,
            databases: Vec::new(),
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
            None => self
                .stack
                .connect_as(secrets::AUDITOR_ROLE, &self.password, database)
                .with_context(|| {
                    format!(
                        "failed to connect as `{}`; `cargo xtask up` creates it",
                        secrets::AUDITOR_ROLE
                    )
                })?,
        };
        Ok(Pooled {
            database: database.to_owned(),
            client: Some(client),
            idle: &self.idle,
        })
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
