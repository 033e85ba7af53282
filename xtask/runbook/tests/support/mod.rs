//! Shared by the runbook crate's tests: an in-memory backend that records
//! every change it is asked to make, and a one-call way to run a script.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use core_data_runbook::backend::{
    Backend, BackupSetInfo, Cell, ContainerInfo, ExecResult, Failure, LogTail, Outcome,
    QaCloneInfo, Row, SqlValue, VerifyOutcome,
};
use core_data_runbook::catalog::{Catalog, SourceFile};
use core_data_runbook::diag::Diagnostic;
use core_data_runbook::engine::{sandbox, Captured, Grants, Limits};

/// Answers `SELECT …` with one row echoing the SQL and parameters; anything
/// else is a syntax error at its first word. Records writes in `changes`.
/// Backups: two sets; verifying repository copy `corrupt` fails its checks.
/// QA: clones live in memory; `qa_execute` records its SQL.
pub struct Fake {
    pub backups: tempfile::TempDir,
    pub changes: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new() -> Arc<Fake> {
        Arc::new(Fake {
            backups: tempfile::tempdir().unwrap(),
            changes: Mutex::new(Vec::new()),
        })
    }

    pub fn changes(&self) -> Vec<String> {
        self.changes.lock().unwrap().clone()
    }

    fn check(sql: &str) -> Outcome<()> {
        let first = sql.split_whitespace().next().unwrap_or_default();
        if ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"]
            .contains(&first.to_uppercase().as_str())
        {
            return Ok(());
        }
        Err(Failure {
            kind: "sql",
            message: format!("syntax error at or near \"{first}\""),
            sqlstate: Some("42601".to_owned()),
        })
    }
}

impl Backend for Fake {
    fn query(
        &self,
        _db: &str,
        sql: &str,
        params: &[SqlValue],
        _max_rows: usize,
    ) -> Outcome<Vec<Row>> {
        Fake::check(sql)?;
        if sql.contains("pg_stat_archiver") {
            // The last WAL archived half an hour after the latest fake set.
            let row = vec![
                ("at".to_owned(), Cell::Float(1_714_570_200.0)),
                (
                    "wal".to_owned(),
                    Cell::Text("000000010000000000000003".to_owned()),
                ),
                ("failed".to_owned(), Cell::Int(0)),
            ];
            return Ok(vec![row]);
        }
        let row = vec![
            ("sql".to_owned(), Cell::Text(sql.to_owned())),
            ("params".to_owned(), Cell::Int(params.len() as i64)),
        ];
        Ok(vec![row])
    }
    /// `ALTER SYSTEM` is refused as PostgreSQL refuses it to a non-superuser.
    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        if sql.starts_with("ALTER SYSTEM") {
            return Err(Failure {
                kind: "sql",
                message: "permission denied to set parameter \"work_mem\"".to_owned(),
                sqlstate: Some("42501".to_owned()),
            });
        }
        Fake::check(sql)?;
        self.changes
            .lock()
            .unwrap()
            .push(format!("execute {db}: {sql} {params:?}"));
        Ok(1)
    }
    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>> {
        self.changes
            .lock()
            .unwrap()
            .push(format!("transaction {db}: {statements:?}"));
        Ok(statements.iter().map(|_| 1).collect())
    }
    fn containers(&self) -> Outcome<Vec<ContainerInfo>> {
        Ok(vec![ContainerInfo {
            name: "fake-postgres".to_owned(),
            service: "postgres".to_owned(),
            image: "core-data/postgres:17".to_owned(),
            state: "running".to_owned(),
            health: "healthy".to_owned(),
            started_at: "2024-05-01T12:00:00Z".to_owned(),
            restart_count: 0,
        }])
    }
    /// `du` prints 3 MiB (ignoring `max_bytes`, so the sandbox's own cap is what is tested).
    fn exec(&self, container: &str, argv: &[String], _max_bytes: usize) -> Outcome<ExecResult> {
        if argv.first().map(String::as_str) == Some("du") {
            self.changes
                .lock()
                .unwrap()
                .push(format!("exec {container}: {argv:?}"));
            return Ok(ExecResult {
                exit_code: 0,
                stdout: "4\t/var/lib/postgresql/data/base/1\n".repeat(3 << 20 >> 5),
                stderr: "du: cannot read directory\n".to_owned(),
                ..ExecResult::default()
            });
        }
        if argv.first().map(String::as_str) == Some("df") {
            let stdout = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                          /dev/fake 1000 250 750 25% /var/lib/postgresql/data\n";
            return Ok(ExecResult {
                exit_code: 0,
                stdout: stdout.to_owned(),
                ..ExecResult::default()
            });
        }
        self.changes
            .lock()
            .unwrap()
            .push(format!("exec {container}: {argv:?}"));
        Ok(ExecResult::default())
    }
    /// Up to `lines` lines of 1 KiB each, ignoring `max_bytes` (the sandbox caps them).
    fn logs(&self, _container: &str, lines: usize, _max_bytes: usize) -> Outcome<LogTail> {
        Ok(LogTail {
            lines: (0..lines)
                .map(|i| format!("log line {i:04} {}", "x".repeat(1010)))
                .collect(),
            dropped: 0,
        })
    }
    fn backups_dir(&self) -> Utf8PathBuf {
        Utf8PathBuf::from_path_buf(self.backups.path().to_owned()).unwrap()
    }
    fn backup_run(&self, kind: &str) -> Outcome<BackupSetInfo> {
        self.changes.lock().unwrap().push(format!("backup {kind}"));
        let mut set = fake_set("20240501-130000F_20240501-140000I", kind, 1_714_572_000);
        set.kind = kind.to_owned();
        Ok(set)
    }
    fn backup_info(&self) -> Outcome<Vec<BackupSetInfo>> {
        Ok(vec![
            fake_set("20240501-120000F", "full", 1_714_564_800),
            fake_set("20240501-120000F_20240501-130000I", "incr", 1_714_568_400),
        ])
    }
    fn backup_verify(&self, set: Option<&str>, repo_copy: Option<&str>) -> Outcome<VerifyOutcome> {
        let label = set.unwrap_or("20240501-120000F_20240501-130000I");
        if !label.starts_with("20240501-") {
            return Err(Failure::new(
                "not_found",
                format!("no backup set `{label}` in the repository"),
            ));
        }
        let corrupt = repo_copy == Some("corrupt");
        let failures = if corrupt {
            vec![
                "restore failed: `pgbackrest restore` failed (exit 82): invalid checksum"
                    .to_owned(),
            ]
        } else {
            Vec::new()
        };
        Ok(VerifyOutcome {
            label: label.to_owned(),
            restore_seconds: 2.5,
            recovery_seconds: if corrupt { 0.0 } else { 1.5 },
            check_seconds: if corrupt { 0.0 } else { 3.0 },
            failures,
            amcheck: if corrupt {
                String::new()
            } else {
                "pg_amcheck: no corruption found in any database".to_owned()
            },
            checksums: if corrupt {
                String::new()
            } else {
                "Blocks scanned: 100; Bad checksums:  0".to_owned()
            },
            tables_compared: if corrupt { 0 } else { 4 },
            count_mismatches: 0,
            databases_checked: if corrupt { 0 } else { 3 },
        })
    }
    fn qa_provision(&self, db: &str, name: &str, expires: Option<&str>) -> Outcome<QaCloneInfo> {
        self.changes
            .lock()
            .unwrap()
            .push(format!("qa provision {name} of {db}"));
        Ok(QaCloneInfo {
            name: name.to_owned(),
            container: format!("fake-qa-{name}"),
            database: db.to_owned(),
            port: 54321,
            state: "running".to_owned(),
            expires: expires.unwrap_or_default().to_owned(),
        })
    }
    fn qa_list(&self) -> Outcome<Vec<QaCloneInfo>> {
        Ok(Vec::new())
    }
    fn qa_drop(&self, name: &str) -> Outcome<bool> {
        self.changes.lock().unwrap().push(format!("qa drop {name}"));
        Ok(true)
    }
    fn qa_query(
        &self,
        name: &str,
        db: &str,
        sql: &str,
        params: &[SqlValue],
        max_rows: usize,
    ) -> Outcome<Vec<Row>> {
        let _ = name;
        self.query(db, sql, params, max_rows)
    }
    fn qa_execute(&self, name: &str, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        Fake::check(sql)?;
        if sql.contains("\"missing\"") {
            return Err(Failure {
                kind: "sql",
                message: "column \"missing\" of relation \"users\" does not exist".to_owned(),
                sqlstate: Some("42703".to_owned()),
            });
        }
        // The salt is random per run: record how many parameters, not their values.
        self.changes.lock().unwrap().push(format!(
            "qa execute {name}/{db}: {sql} ({} param(s))",
            params.len()
        ));
        Ok(2)
    }
}

fn fake_set(label: &str, kind: &str, stopped: i64) -> BackupSetInfo {
    BackupSetInfo {
        label: label.to_owned(),
        kind: kind.to_owned(),
        started: stopped - 60,
        stopped,
        database_bytes: 50_000_000,
        repo_delta_bytes: 5_000_000,
        lsn_stop: "0/3000100".to_owned(),
    }
}

/// What a run produced.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    /// The exit code, or the rendered diagnostic.
    pub result: Result<u8, String>,
    pub elapsed: std::time::Duration,
}

/// Compiles `text` as `name` and runs runbook `main` with `args`.
pub fn run(
    name: &str,
    text: &str,
    grants: Grants,
    limits: &Limits,
    fake: &Arc<Fake>,
    args: &[(&str, &str)],
) -> Ran {
    let started = std::time::Instant::now();
    let output = Arc::new(Captured::default());
    let file = SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    let render_plain =
        |d: &Diagnostic| d.render(&|source| (source == name).then(|| text.to_owned()));
    let result = match Catalog::compile(vec![file], limits) {
        Err(diag) => Err(render_plain(&diag)),
        Ok(catalog) => {
            let sb = sandbox(limits, grants, fake.clone(), output.clone());
            let args: BTreeMap<String, String> = args
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            match catalog.run(&sb, "main", &args) {
                Ok(value) => core_data_runbook::catalog::exit_code(&value),
                Err(diag) => Err(catalog.render(&diag)),
            }
        }
    };
    let stdout = output.stdout.lock().unwrap().clone();
    let stderr = output.stderr.lock().unwrap().clone();
    Ran {
        stdout,
        stderr,
        result,
        elapsed: started.elapsed(),
    }
}
