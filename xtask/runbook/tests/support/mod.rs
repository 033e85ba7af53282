//! Shared by the runbook crate's tests: an in-memory backend that records
//! every change it is asked to make, and a one-call way to run a script.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use core_data_runbook::backend::{Backend, Cell, ContainerInfo, ExecResult, Failure, Outcome, Row, SqlValue};
use core_data_runbook::catalog::{Catalog, SourceFile};
use core_data_runbook::diag::Diagnostic;
use core_data_runbook::engine::{sandbox, Captured, Grants, Limits};

/// Answers `SELECT …` with one row echoing the SQL and parameters; anything
/// else is a syntax error at its first word. Records writes in `changes`.
pub struct Fake {
    pub backups: tempfile::TempDir,
    pub changes: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new() -> Arc<Fake> {
        Arc::new(Fake { backups: tempfile::tempdir().unwrap(), changes: Mutex::new(Vec::new()) })
    }

    pub fn changes(&self) -> Vec<String> {
        self.changes.lock().unwrap().clone()
    }

    fn check(sql: &str) -> Outcome<()> {
        let first = sql.split_whitespace().next().unwrap_or_default();
        if ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"].contains(&first.to_uppercase().as_str()) {
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
    fn query(&self, _db: &str, sql: &str, params: &[SqlValue], _max_rows: usize) -> Outcome<Vec<Row>> {
        Fake::check(sql)?;
        let row = vec![("sql".to_owned(), Cell::Text(sql.to_owned())), ("params".to_owned(), Cell::Int(params.len() as i64))];
        Ok(vec![row])
    }
    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        Fake::check(sql)?;
        self.changes.lock().unwrap().push(format!("execute {db}: {sql} {params:?}"));
        Ok(1)
    }
    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>> {
        self.changes.lock().unwrap().push(format!("transaction {db}: {statements:?}"));
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
    fn exec(&self, container: &str, argv: &[String]) -> Outcome<ExecResult> {
        if argv.first().map(String::as_str) == Some("df") {
            let stdout = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                          /dev/fake 1000 250 750 25% /var/lib/postgresql/data\n";
            return Ok(ExecResult { exit_code: 0, stdout: stdout.to_owned(), stderr: String::new() });
        }
        self.changes.lock().unwrap().push(format!("exec {container}: {argv:?}"));
        Ok(ExecResult::default())
    }
    fn logs(&self, _container: &str, lines: usize) -> Outcome<Vec<String>> {
        Ok((0..lines.min(3)).map(|i| format!("log line {i}")).collect())
    }
    fn backups_dir(&self) -> Utf8PathBuf {
        Utf8PathBuf::from_path_buf(self.backups.path().to_owned()).unwrap()
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
pub fn run(name: &str, text: &str, grants: Grants, limits: &Limits, fake: &Arc<Fake>, args: &[(&str, &str)]) -> Ran {
    let started = std::time::Instant::now();
    let output = Arc::new(Captured::default());
    let file = SourceFile { name: name.to_owned(), text: text.to_owned() };
    let render_plain = |d: &Diagnostic| d.render(&|source| (source == name).then(|| text.to_owned()));
    let result = match Catalog::compile(vec![file], limits) {
        Err(diag) => Err(render_plain(&diag)),
        Ok(catalog) => {
            let sb = sandbox(limits, grants, fake.clone(), output.clone());
            let args: BTreeMap<String, String> = args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            match catalog.run(&sb, "main", &args) {
                Ok(value) => core_data_runbook::catalog::exit_code(&value),
                Err(diag) => Err(catalog.render(&diag)),
            }
        }
    };
    let stdout = output.stdout.lock().unwrap().clone();
    let stderr = output.stderr.lock().unwrap().clone();
    Ran { stdout, stderr, result, elapsed: started.elapsed() }
}
