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
    /// `sql`, `connect`, `not_found`, `docker`, `io` or `limit`.
    pub kind: &'static str,
    pub message: String,
    /// The SQLSTATE of a `sql` failure.
    pub sqlstate: Option<String>,
}

impl Failure {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure { kind, message: message.into(), sqlstate: None }
    }
}

pub type Outcome<T> = Result<T, Failure>;

/// A container of the stack, as scripts see it.
#[derive(Debug, Clone, PartialEq, Default)]
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
}

/// Everything the primitives need from the outside world.
pub trait Backend: Send + Sync {
    /// Runs a read-only query (inside a `READ ONLY` transaction) with bound parameters.
    /// Stops with a `limit` failure past `max_rows` rows.
    fn query(&self, db: &str, sql: &str, params: &[SqlValue], max_rows: usize) -> Outcome<Vec<Row>>;
    /// Runs one writing statement; returns the rows affected.
    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64>;
    /// Runs statements in one transaction, all or nothing; returns the rows affected by each.
    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>>;
    /// The stack's containers (running or not).
    fn containers(&self) -> Outcome<Vec<ContainerInfo>>;
    /// Runs `argv` (no shell) in a container of the stack, as its default user.
    fn exec(&self, container: &str, argv: &[String]) -> Outcome<ExecResult>;
    /// The last `lines` lines of a container's log (stdout and stderr interleaved).
    fn logs(&self, container: &str, lines: usize) -> Outcome<Vec<String>>;
    /// The root of the locations `fs::` may touch (the state directory's `backups/`).
    fn backups_dir(&self) -> Utf8PathBuf;
}

/// A backend with no stack: compiling and listing runbooks, and checks that
/// must not touch anything. Every primitive fails with kind `connect`.
pub struct Offline {
    pub backups_dir: Utf8PathBuf,
}

impl Offline {
    fn fail<T>(&self) -> Outcome<T> {
        Err(Failure::new("connect", "this run has no stack; start it with `cargo xtask up`"))
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
    fn exec(&self, _: &str, _: &[String]) -> Outcome<ExecResult> {
        self.fail()
    }
    fn logs(&self, _: &str, _: usize) -> Outcome<Vec<String>> {
        self.fail()
    }
    fn backups_dir(&self) -> Utf8PathBuf {
        self.backups_dir.clone()
    }
}
