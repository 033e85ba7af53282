//! What the primitives act on, behind a trait: the live stack (`live.rs`) in
//! production and full-workflow tests, an in-memory fake in the golden tests.
//! Values crossing it are plain Rust (`SqlValue`, `Cell`), never Rhai types, so
//! the sandbox decides how a value looks to a script in one place (`api/`).

use camino::Utf8PathBuf;

/// A value bound to a SQL parameter. Never formatted into SQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    TextArray(Vec<String>),
    IntArray(Vec<i64>),
    Json(serde_json::Value),
}

/// One value read from a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(serde_json::Value),
}

/// A result row: column names in order, with their values.
pub type Row = Vec<(String, Cell)>;

/// A failure the world reported (not a misuse by the script). Scripts may
/// catch these as `#{kind, message}` maps and branch on `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `sql`, `connect`, `not_found`, `docker`, `backup`, `io` or `limit`.
    pub kind: &'static str,
    pub message: String,
    /// The SQLSTATE of a `sql` failure.
    pub sqlstate: Option<String>,
}

impl Failure {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            sqlstate: None,
        }
    }
}

pub type Outcome<T> = Result<T, Failure>;

/// A container of the stack, as scripts see it (`docker::containers`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ContainerInfo {
    pub name: String,
    pub service: String,
    pub image: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, `none` or `stopped`.
    pub health: String,
    pub started_at: String,
    pub restart_count: i64,
}

/// The result of a command run inside a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecResult {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    /// Bytes of stdout and of stderr past the output cap, read but not kept.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
}

/// The tail of a container's log, capped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogTail {
    pub lines: Vec<String>,
    /// Bytes of older lines past the output cap, read but not kept.
    pub dropped: u64,
}

/// One pgBackRest backup set, as scripts see it (the library's own type). Times are Unix seconds.
pub use core_data_ops::backup::physical::BackupSet as BackupSetInfo;

/// What restoring a set into a throw-away container and checking it found.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct VerifyOutcome {
    pub label: String,
    pub restore_seconds: f64,
    pub recovery_seconds: f64,
    pub check_seconds: f64,
    /// Empty when verification passed.
    pub failures: Vec<String>,
    /// `pg_amcheck`'s verdict (empty when it did not run).
    pub amcheck: String,
    /// `pg_checksums --check` summary (empty when it did not run).
    pub checksums: String,
    /// Tables whose row counts were compared with those recorded at backup time.
    pub tables_compared: u64,
    pub count_mismatches: u64,
    /// Databases with recorded row counts (all of them are checked by `pg_amcheck --all`).
    pub databases_checked: u64,
}

/// A QA clone of one database (the library's own type; published on 127.0.0.1).
pub use core_data_ops::backup::qa::QaClone as QaCloneInfo;

/// Everything the primitives need from the outside world.
pub trait Backend: Send + Sync {
    /// Runs a read-only query (inside a `READ ONLY` transaction) with bound parameters.
    /// Stops with a `limit` failure past `max_rows` rows.
    fn query(&self, db: &str, sql: &str, params: &[SqlValue], max_rows: usize)
        -> Outcome<Vec<Row>>;
    /// Runs one writing statement; returns the rows affected.
    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64>;
    /// Runs statements in one transaction, all or nothing; returns the rows affected by each.
    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>>;
    /// The stack's containers (running or not).
    fn containers(&self) -> Outcome<Vec<ContainerInfo>>;
    /// Runs `argv` (no shell) in a container of the stack, as its default user,
    /// keeping at most `max_bytes` of each output stream. The caller has checked
    /// `argv` against the exec allowlist.
    fn exec(&self, container: &str, argv: &[String], max_bytes: usize) -> Outcome<ExecResult>;
    /// The last `lines` lines of a container's log (stdout and stderr
    /// interleaved), at most `max_bytes` of them (the newest).
    fn logs(&self, container: &str, lines: usize, max_bytes: usize) -> Outcome<LogTail>;
    /// The root of the locations `fs::` may touch (the state directory's `backups/`).
    fn backups_dir(&self) -> Utf8PathBuf;
    /// Takes a pgBackRest backup (`full`, `diff` or `incr`) and records row counts beside it.
    fn backup_run(&self, kind: &str) -> Outcome<BackupSetInfo>;
    /// The backup sets in the repository, oldest first.
    fn backup_info(&self) -> Outcome<Vec<BackupSetInfo>>;
    /// Restores `set` (default: the latest) into a throw-away container and checks it.
    /// `repo_copy` names a copy of the repository (volume `<project>_pgbackrest_<repo_copy>`).
    fn backup_verify(&self, set: Option<&str>, repo_copy: Option<&str>) -> Outcome<VerifyOutcome>;
    /// Takes a differential backup and starts a clone holding only `db`.
    fn qa_provision(&self, db: &str, name: &str, expires: Option<&str>) -> Outcome<QaCloneInfo>;
    /// The stack's QA clones.
    fn qa_list(&self) -> Outcome<Vec<QaCloneInfo>>;
    /// Removes a clone and its volumes; false when there was none.
    fn qa_drop(&self, name: &str) -> Outcome<bool>;
    /// A read-only query on a clone (never on the live cluster).
    fn qa_query(
        &self,
        name: &str,
        db: &str,
        sql: &str,
        params: &[SqlValue],
        max_rows: usize,
    ) -> Outcome<Vec<Row>>;
    /// One writing statement on a clone (never on the live cluster); returns the rows affected.
    fn qa_execute(&self, name: &str, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64>;
}

/// A backend with no stack: compiling and listing runbooks, and checks that
/// must not touch anything. Every primitive fails with kind `connect`.
pub struct Offline {
    pub backups_dir: Utf8PathBuf,
}

impl Offline {
    fn fail<T>(&self) -> Outcome<T> {
        Err(Failure::new(
            "connect",
            "this run has no stack; start it with `cargo xtask up`",
        ))
    }
}

impl Backend for Offline {
    fn query(&self, _: &str, _: &str, _: &[SqlValue], _: usize) -> Outcome<Vec<Row>> {
        self.fail()
    }
    fn execute(&self, _: &str, _: &str, _: &[SqlValue]) -> Outcome<u64> {
        self.fail()
    }
    fn transaction(&self, _: &str, _: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>> {
        self.fail()
    }
    fn containers(&self) -> Outcome<Vec<ContainerInfo>> {
        self.fail()
    }
    fn exec(&self, _: &str, _: &[String], _: usize) -> Outcome<ExecResult> {
        self.fail()
    }
    fn logs(&self, _: &str, _: usize, _: usize) -> Outcome<LogTail> {
        self.fail()
    }
    fn backups_dir(&self) -> Utf8PathBuf {
        self.backups_dir.clone()
    }
    fn backup_run(&self, _: &str) -> Outcome<BackupSetInfo> {
        self.fail()
    }
    fn backup_info(&self) -> Outcome<Vec<BackupSetInfo>> {
        self.fail()
    }
    fn backup_verify(&self, _: Option<&str>, _: Option<&str>) -> Outcome<VerifyOutcome> {
        self.fail()
    }
    fn qa_provision(&self, _: &str, _: &str, _: Option<&str>) -> Outcome<QaCloneInfo> {
        self.fail()
    }
    fn qa_list(&self) -> Outcome<Vec<QaCloneInfo>> {
        self.fail()
    }
    fn qa_drop(&self, _: &str) -> Outcome<bool> {
        self.fail()
    }
    fn qa_query(&self, _: &str, _: &str, _: &str, _: &[SqlValue], _: usize) -> Outcome<Vec<Row>> {
        self.fail()
    }
    fn qa_execute(&self, _: &str, _: &str, _: &str, _: &[SqlValue]) -> Outcome<u64> {
        self.fail()
    }
}
