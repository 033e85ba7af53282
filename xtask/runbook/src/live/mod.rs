//! The live backend: the primitives acting on a real stack through
//! `core_data_ops` (verified-TLS connections, the bollard facade). Reads run as
//! `core_data_reader`, writes as `core_data_runbook`, and as the superuser only
//! when the run was granted `--sql-as-superuser`; exec and log output is capped
//! while it is read.
//! Parameters are bound with declared types (`query_typed`), never spliced
//! into SQL; result columns are decoded by `Cell`'s `FromSql` (`sql.rs`). Backups and QA
//! clones go through `core_data_ops::backup`; SQL for a clone connects to the
//! clone's own port, never to the live cluster.

mod sql;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use camino::Utf8PathBuf;
use core_data_ops::backup::{physical, qa, verify};
use core_data_ops::progress::Quiet;
use core_data_ops::secrets;
use core_data_ops::stack::Stack;

use self::sql::{bind, read_only_rows, refs, sql_failure};
use crate::backend::{
    Backend, BackupSetInfo, ContainerInfo, ExecResult, Failure, LogTail, Outcome, QaCloneInfo, Row,
    SqlValue, VerifyOutcome,
};

/// A backend over one stack. Connections are opened on first use, one per
/// database, and kept for the run.
pub struct Live {
    stack: Stack,
    statement_timeout: Duration,
    /// Whether SQL writes connect as the superuser rather than `core_data_runbook`.
    sql_as_superuser: bool,
    /// Connections for SQL writes, by database.
    clients: Mutex<HashMap<String, postgres::Client>>,
    /// Connections as `core_data_reader` (not a superuser), for `pg::query`, by database.
    reader_clients: Mutex<HashMap<String, postgres::Client>>,
    /// Connections to QA clones, by (clone, database).
    qa_clients: Mutex<HashMap<(String, String), postgres::Client>>,
}

impl Live {
    /// `statement_timeout` bounds every statement, so one slow query cannot
    /// outlive the run's wall-clock budget (which Rhai checks only between operations).
    /// SQL writes run as `core_data_runbook` unless `sql_as_superuser`.
    pub fn new(
        stack: &Stack,
        statement_timeout: Duration,
        sql_as_superuser: bool,
    ) -> anyhow::Result<Live> {
        let stack = Stack::new(stack.paths.clone(), stack.config.clone())?;
        Ok(Live {
            stack,
            statement_timeout,
            sql_as_superuser,
            clients: Mutex::new(HashMap::new()),
            reader_clients: Mutex::new(HashMap::new()),
            qa_clients: Mutex::new(HashMap::new()),
        })
    }

    fn set_timeout(&self, client: &mut postgres::Client) -> Outcome<()> {
        // An integer we computed, not script input.
        let ms = self.statement_timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET statement_timeout = {ms}"))
            .map_err(sql_failure)
    }

    /// A connection for SQL writes: as `core_data_runbook` (not a superuser), or
    /// as the superuser when the run was granted `--sql-as-superuser`.
    fn with_writer<T>(
        &self,
        db: &str,
        f: impl FnOnce(&mut postgres::Client) -> Outcome<T>,
    ) -> Outcome<T> {
        let connect = || {
            if self.sql_as_superuser {
                return self.stack.connect(db);
            }
            let role = secrets::RUNBOOK_ROLE;
            secrets::read(&secrets::runbook_password_file(&self.stack.paths))
                .and_then(|password| self.stack.connect_as(role, &password, db))
                .with_context(|| {
                    format!(
                        "SQL writes connect as `{role}`, which `cargo xtask up` creates; run it \
                         once if this stack predates that role"
                    )
                })
        };
        self.with_pooled(&self.clients, db, connect, f)
    }

    /// A connection as the read-only `core_data_reader`: what `pg::query` uses, so
    /// a read-only run cannot write even through server-side functions.
    fn with_reader<T>(
        &self,
        db: &str,
        f: impl FnOnce(&mut postgres::Client) -> Outcome<T>,
    ) -> Outcome<T> {
        let connect = || {
            let password = secrets::read(&secrets::reader_password_file(&self.stack.paths))?;
            self.stack.connect_as(secrets::READER_ROLE, &password, db)
        };
        self.with_pooled(&self.reader_clients, db, connect, f)
    }

    fn with_pooled<T>(
        &self,
        pool: &Mutex<HashMap<String, postgres::Client>>,
        db: &str,
        connect: impl FnOnce() -> anyhow::Result<postgres::Client>,
        f: impl FnOnce(&mut postgres::Client) -> Outcome<T>,
    ) -> Outcome<T> {
        let mut clients = pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !clients.contains_key(db) {
            let mut client =
                connect().map_err(|err| Failure::new("connect", format!("{err:#}")))?;
            self.set_timeout(&mut client)?;
            clients.insert(db.to_owned(), client);
        }
        let client = clients.get_mut(db).expect("inserted above");
        let result = f(client);
        if client.is_closed() {
            clients.remove(db);
        }
        result
    }

    /// A connection to database `db` of running QA clone `name` of this stack.
    fn with_clone<T>(
        &self,
        name: &str,
        db: &str,
        f: impl FnOnce(&mut postgres::Client) -> Outcome<T>,
    ) -> Outcome<T> {
        let key = (name.to_owned(), db.to_owned());
        let mut clients = self
            .qa_clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !clients.contains_key(&key) {
            let clones = qa::list(&self.stack).map_err(docker_failure)?;
            let clone = clones.into_iter().find(|c| c.name == name).ok_or_else(|| {
                Failure::new(
                    "not_found",
                    format!("there is no QA clone `{name}`; create it with `qa::provision`"),
                )
            })?;
            // The clone's own port, and never the live cluster's.
            if clone.state != "running"
                || clone.port == 0
                || clone.port == self.stack.config.host_port()
            {
                let message = format!(
                    "QA clone `{name}` is {} (port {}); drop and provision it again",
                    clone.state, clone.port
                );
                return Err(Failure::new("not_found", message));
            }
            let mut client = qa::connect(&self.stack, &clone, db)
                .map_err(|err| Failure::new("connect", format!("{err:#}")))?;
            self.set_timeout(&mut client)?;
            clients.insert(key.clone(), client);
        }
        let client = clients.get_mut(&key).expect("inserted above");
        let result = f(client);
        if client.is_closed() {
            clients.remove(&key);
        }
        result
    }

    fn container_of_stack(&self, name: &str) -> Outcome<String> {
        let containers = self.containers()?;
        containers
            .iter()
            .find(|c| c.name == name || c.service == name)
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
                Failure::new(
                    "not_found",
                    format!(
                        "`{name}` is not a container of this stack (its containers: {})",
                        names.join(", ")
                    ),
                )
            })
    }
}

impl Backend for Live {
    fn query(
        &self,
        db: &str,
        sql: &str,
        params: &[SqlValue],
        max_rows: usize,
    ) -> Outcome<Vec<Row>> {
        let timeout = self.statement_timeout;
        self.with_reader(db, |client| {
            read_only_rows(client, sql, params, max_rows, timeout)
        })
    }

    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        self.with_writer(db, |client| {
            let bound = bind(params);
            client
                .execute_typed(sql, &refs(&bound))
                .map_err(sql_failure)
        })
    }

    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>> {
        self.with_writer(db, |client| {
            let mut tx = client.transaction().map_err(sql_failure)?;
            let mut counts = Vec::with_capacity(statements.len());
            for (sql, params) in statements {
                let bound = bind(params);
                // Dropping `tx` on the error path rolls everything back.
                counts.push(tx.execute_typed(sql, &refs(&bound)).map_err(sql_failure)?);
            }
            tx.commit().map_err(sql_failure)?;
            Ok(counts)
        })
    }

    fn containers(&self) -> Outcome<Vec<ContainerInfo>> {
        let project = self.stack.config.project();
        let summaries = self
            .stack
            .docker
            .project_containers(project)
            .map_err(docker_failure)?;
        let mut out = Vec::new();
        for summary in summaries {
            let name = summary
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map_or("", |n| n.trim_start_matches('/'));
            let inspect = self
                .stack
                .docker
                .inspect_container(name)
                .map_err(docker_failure)?;
            let state = inspect
                .as_ref()
                .and_then(|i| i.state.clone())
                .unwrap_or_default();
            let health = match (&state.running, &state.health) {
                (Some(false) | None, _) => "stopped".to_owned(),
                (Some(true), Some(health)) => health
                    .status
                    .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                (Some(true), None) => "none".to_owned(),
            };
            let labels = summary.labels.clone().unwrap_or_default();
            out.push(ContainerInfo {
                name: name.to_owned(),
                service: labels
                    .get("com.docker.compose.service")
                    .cloned()
                    .unwrap_or_default(),
                image: summary.image.clone().unwrap_or_default(),
                state: summary
                    .state
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                health,
                started_at: state.started_at.unwrap_or_default(),
                restart_count: inspect.and_then(|i| i.restart_count).unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn exec(&self, container: &str, argv: &[String], max_bytes: usize) -> Outcome<ExecResult> {
        let name = self.container_of_stack(container)?;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self
            .stack
            .docker
            .exec_capped(&name, &argv, None, max_bytes)
            .map_err(docker_failure)?;
        Ok(ExecResult {
            exit_code: out.output.exit_code,
            stdout: out.output.stdout,
            stderr: out.output.stderr,
            stdout_dropped: out.stdout_dropped,
            stderr_dropped: out.stderr_dropped,
        })
    }

    fn logs(&self, container: &str, lines: usize, max_bytes: usize) -> Outcome<LogTail> {
        let name = self.container_of_stack(container)?;
        let (mut tail, mut dropped) = self
            .stack
            .docker
            .logs_tail_capped(&name, lines, max_bytes)
            .map_err(docker_failure)?;
        // The server writes its own log into the `pglog` volume once its logging
        // collector runs; Docker's log holds only what came before. Both, newest last.
        if name == self.stack.container() {
            if let Ok(Some((_, file))) = core_data_ops::server_log::tail(&self.stack, lines) {
                tail.extend(file);
                let from = tail.len().saturating_sub(lines);
                tail.drain(..from);
                let mut kept = 0usize;
                let keep_from = tail
                    .iter()
                    .rposition(|line| {
                        kept += line.len() + 1;
                        kept > max_bytes
                    })
                    .map_or(0, |at| at + 1);
                dropped += tail[..keep_from]
                    .iter()
                    .map(|line| line.len() as u64 + 1)
                    .sum::<u64>();
                tail.drain(..keep_from);
            }
        }
        Ok(LogTail {
            lines: tail,
            dropped,
        })
    }

    fn backups_dir(&self) -> Utf8PathBuf {
        self.stack.paths.backups_dir()
    }

    fn backup_run(&self, kind: &str) -> Outcome<BackupSetInfo> {
        let kind: physical::Kind = kind
            .parse()
            .map_err(|err| Failure::new("invalid_argument", format!("{err:#}")))?;
        physical::backup(&self.stack, Some(kind), &Quiet).map_err(backup_failure)
    }

    fn backup_info(&self) -> Outcome<Vec<BackupSetInfo>> {
        physical::info(&self.stack).map_err(backup_failure)
    }

    fn backup_verify(&self, set: Option<&str>, repo_copy: Option<&str>) -> Outcome<VerifyOutcome> {
        let chosen = physical::choose_set(&self.stack, set)
            .map_err(|err| Failure::new("not_found", format!("{err:#}")))?;
        let volume = repo_copy.map(|copy| {
            format!(
                "{}_{copy}",
                core_data_ops::backup::oneshot::volume_name(&self.stack, "pgbackrest")
            )
        });
        if let Some(volume) = &volume {
            // Docker would create a missing volume on mount: refuse instead.
            let found = self
                .stack
                .docker
                .volume_exists(volume)
                .map_err(docker_failure)?;
            if !found {
                return Err(Failure::new(
                    "not_found",
                    format!("there is no repository copy `{volume}`"),
                ));
            }
        }
        let report = verify::verify(
            &self.stack,
            Some(&chosen.label),
            volume.as_deref(),
            verify::Depth::Thorough,
            &Quiet,
        )
        .map_err(backup_failure)?;
        let recorded =
            physical::recorded_counts(&self.stack, &report.label).map_err(backup_failure)?;
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Ok(VerifyOutcome {
            restore_seconds: report.restore_seconds,
            recovery_seconds: report.recovery_seconds,
            check_seconds: report.check_seconds,
            amcheck: report.amcheck.clone(),
            checksums: report.checksums.clone(),
            tables_compared: report.counts.as_ref().map_or(0, |c| as_u64(c.tables)),
            count_mismatches: report
                .counts
                .as_ref()
                .map_or(0, |c| as_u64(c.mismatches.len())),
            databases_checked: if report.counts.is_some() {
                recorded.map_or(0, |r| as_u64(r.len()))
            } else {
                0
            },
            failures: report.failures,
            label: report.label,
        })
    }

    fn qa_provision(&self, db: &str, name: &str, expires: Option<&str>) -> Outcome<QaCloneInfo> {
        qa::provision_expiring(&self.stack, db, name, expires, &Quiet).map_err(backup_failure)
    }

    fn qa_list(&self) -> Outcome<Vec<QaCloneInfo>> {
        qa::list(&self.stack).map_err(docker_failure)
    }

    fn qa_drop(&self, name: &str) -> Outcome<bool> {
        self.qa_clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(clone, _), _| clone != name);
        qa::drop_clone(&self.stack, name).map_err(docker_failure)
    }

    fn qa_query(
        &self,
        name: &str,
        db: &str,
        sql: &str,
        params: &[SqlValue],
        max_rows: usize,
    ) -> Outcome<Vec<Row>> {
        self.with_clone(name, db, |client| {
            read_only_rows(client, sql, params, max_rows, self.statement_timeout)
        })
    }

    fn qa_execute(&self, name: &str, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        self.with_clone(name, db, |client| {
            let bound = bind(params);
            client
                .execute_typed(sql, &refs(&bound))
                .map_err(sql_failure)
        })
    }
}

fn backup_failure(err: anyhow::Error) -> Failure {
    Failure::new("backup", format!("{err:#}"))
}

fn docker_failure(err: anyhow::Error) -> Failure {
    Failure::new("docker", format!("{err:#}"))
}
