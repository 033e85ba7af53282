//! The one place a Rhai `Engine` is built (tidy-checked: no `Engine::new` elsewhere).
//! `Engine::new_raw()` plus the standard package, no file imports, `eval`
//! disabled, strict variables, every limit set explicitly (the same in debug
//! and release builds), a wall-clock deadline, print/debug routed to `Output`
//! with the script line, and write primitives only when granted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhai::module_resolvers::StaticModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::Engine;

use crate::api;
use crate::backend::Backend;

/// Every limit of the sandbox. `Default` is what `cargo xtask run` uses; only
/// `timeout` is exposed on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Rhai operations (roughly: expressions evaluated) per run.
    pub max_operations: u64,
    /// Nesting of function calls (recursion depth).
    pub max_call_levels: usize,
    /// Expression nesting at the top level and inside functions.
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    /// Elements in one array; also the most rows `pg::query` returns.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Variables alive at once.
    pub max_variables: usize,
    /// Functions one file may define.
    pub max_functions: usize,
    /// Modules a script may import: none; runbooks get their helpers from static modules.
    pub max_modules: usize,
    /// Wall-clock budget of a run, checked between operations and applied as
    /// `statement_timeout` to every SQL statement.
    pub timeout: Duration,
    /// Bytes kept of each output stream of `docker::exec` (and of `docker::logs`);
    /// the rest is dropped and the truncation marked.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 48,
            max_expr_depth: 64,
            max_function_expr_depth: 48,
            max_string_size: 4 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_variables: 1_000,
            max_functions: 256,
            max_modules: 0,
            timeout: Duration::from_secs(600),
            max_output_bytes: 1 << 20,
        }
    }
}

/// What a run may change, one grant per kind of change. Each registers its
/// write primitives (`api::WRITE_PRIMITIVES` says which); without it they do not exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    /// `pg::execute`, `pg::transaction` (`--allow-sql-writes`), as `core_data_runbook`.
    pub sql_writes: bool,
    /// Run SQL writes as the superuser instead (`--sql-as-superuser`; implies `sql_writes`).
    pub sql_as_superuser: bool,
    /// `docker::exec` of allowlisted programs (`--allow-exec`).
    pub exec: bool,
    /// `backup::run` and the QA clone writes (`--allow-backups`).
    pub backups: bool,
    /// `fs::write_*`, `fs::append_csv`, `fs::prune` under `backups/` (`--allow-files`).
    pub files: bool,
    /// Register every write primitive, but have them print what they would do (`--dry-run`).
    pub dry_run: bool,
}

/// One kind of change a run may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    SqlWrites,
    Exec,
    Backups,
    Files,
}

impl Grant {
    pub const ALL: [Grant; 4] = [Grant::SqlWrites, Grant::Exec, Grant::Backups, Grant::Files];

    /// The command-line flag that grants it.
    pub fn flag(self) -> &'static str {
        match self {
            Grant::SqlWrites => "--allow-sql-writes",
            Grant::Exec => "--allow-exec",
            Grant::Backups => "--allow-backups",
            Grant::Files => "--allow-files",
        }
    }
}

impl Grants {
    /// Every write grant (not `sql_as_superuser`, not a dry run).
    pub const ALL_WRITES: Grants = Grants {
        sql_writes: true,
        sql_as_superuser: false,
        exec: true,
        backups: true,
        files: true,
        dry_run: false,
    };

    /// Only `grant`.
    pub fn only(grant: Grant) -> Grants {
        let mut grants = Grants::default();
        match grant {
            Grant::SqlWrites => grants.sql_writes = true,
            Grant::Exec => grants.exec = true,
            Grant::Backups => grants.backups = true,
            Grant::Files => grants.files = true,
        }
        grants
    }

    /// Whether the primitives of `grant` are registered (granted, or a dry run).
    pub fn registers(self, grant: Grant) -> bool {
        self.dry_run
            || match grant {
                Grant::SqlWrites => self.sql_writes || self.sql_as_superuser,
                Grant::Exec => self.exec,
                Grant::Backups => self.backups,
                Grant::Files => self.files,
            }
    }
}

/// Which stream a line of script output goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where script output goes: the terminal in the CLI, a buffer in tests.
pub trait Output: Send + Sync {
    fn line(&self, stream: Stream, text: &str);
}

/// Writes to the process's stdout and stderr.
pub struct Terminal;

impl Output for Terminal {
    fn line(&self, stream: Stream, text: &str) {
        use std::io::Write;
        // A closed pipe must not kill the run halfway through a change.
        let _ = match stream {
            Stream::Stdout => writeln!(std::io::stdout().lock(), "{text}"),
            Stream::Stderr => writeln!(std::io::stderr().lock(), "{text}"),
        };
    }
}

/// Collects output in memory (tests, benchmarks).
#[derive(Default)]
pub struct Captured {
    pub stdout: Mutex<String>,
    pub stderr: Mutex<String>,
}

impl Output for Captured {
    fn line(&self, stream: Stream, text: &str) {
        let buffer = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        };
        let mut buffer = buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buffer.push_str(text);
        buffer.push('\n');
    }
}

/// The run's wall clock, started when the runbook starts (not when it compiles).
#[derive(Clone, Default)]
pub struct Clock {
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl Clock {
    pub fn start(&self, budget: Duration) {
        *self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + budget);
    }

    pub fn expired(&self) -> bool {
        self.deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|d| Instant::now() > d)
    }
}

/// A sandboxed engine and the clock its deadline reads.
pub struct Sandbox {
    pub engine: Engine,
    pub clock: Clock,
    pub limits: Limits,
}

/// Builds the sandbox. This is the only function in the workspace that creates an `Engine`.
pub fn sandbox(
    limits: &Limits,
    grants: Grants,
    backend: Arc<dyn Backend>,
    output: Arc<dyn Output>,
) -> Sandbox {
    // new_raw: no file module resolver, no stdout printing, no packages.
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    // Nothing is importable: the resolver is empty, `import` does not parse and the module limit is 0.
    engine.set_module_resolver(StaticModuleResolver::new());
    engine.disable_symbol("import");
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine
        .set_max_operations(limits.max_operations.max(1))
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size.max(1))
        .set_max_array_size(limits.max_array_size.max(1))
        .set_max_map_size(limits.max_map_size.max(1))
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_max_modules(limits.max_modules);

    let clock = Clock::default();
    let timeout = limits.timeout;
    let progress_clock = clock.clone();
    engine.on_progress(move |_operations| {
        progress_clock
            .expired()
            .then(|| format!("the runbook exceeded its time budget of {timeout:?}").into())
    });
    // `print` is replaced by a native function (it needs the call site); `debug` has it already.
    let debug_out = output.clone();
    engine.on_debug(move |text, source, pos| {
        let at = api::location(source, pos);
        debug_out.line(Stream::Stderr, &format!("{at}: debug: {text}"));
    });

    let env = api::Env {
        backend,
        output,
        grants,
        limits: limits.clone(),
        clock: clock.clone(),
    };
    api::register(&mut engine, Arc::new(env));
    Sandbox {
        engine,
        clock,
        limits: limits.clone(),
    }
}
