//! `core-data-logical-backup`: the `logical_backup` compose service.
//!
//! `run` (the default) dumps, every `LOGICAL_BACKUP_INTERVAL_SECONDS`, every
//! database but the templates, `LOGICAL_BACKUP_EXCLUDE` and restores in
//! progress, plus the globals, into `/backups/logical/<UTC stamp>/` (see
//! `run.rs`), prunes runs older than `LOGICAL_BACKUP_RETENTION_SECONDS` and
//! writes `status.json`. It connects over TLS (verify-full against
//! `/run/secrets/ca.crt`, host `postgres`) as the least-privileged
//! `core_data_backup`, whose password reaches libpq through a passfile in the
//! tmpfs, never env or argv. SIGTERM ends a sleep or a dump at once.
//!
//! `health` is the container's health check: unhealthy when the last run
//! failed or the last success is older than two intervals (`Status::problem`).

mod run;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_sidecar::Status;

/// Set by SIGTERM/SIGINT; every loop checks it.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The command running now, killed by a stop signal.
static CHILD: Mutex<Option<Arc<duct::Handle>>> = Mutex::new(None);

const STARTED_FILE: &str = "/tmp/core_data-logical-backup.started";
const PASSFILE: &str = "/tmp/core_data-logical-backup.pgpass";

pub(crate) fn log(message: &str) {
    eprintln!("core_data-logical-backup: {message}");
}

fn die(message: &str) -> ! {
    log(&format!("error: {message}"));
    std::process::exit(1);
}

/// The settings, from the service's environment.
pub(crate) struct Settings {
    pub(crate) interval: u64,
    pub(crate) retention: u64,
    pub(crate) excluded: Vec<String>,
    pub(crate) role: String,
    pub(crate) server: String,
    pub(crate) port: String,
    pub(crate) secrets: PathBuf,
    pub(crate) root: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let var =
            |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_owned());
        let seconds = |key: &str, default: &str, positive: bool| {
            let raw = var(key, default);
            match raw.parse::<u64>() {
                Ok(n) if n > 0 || !positive => n,
                _ => die(&format!(
                    "{key}=`{raw}` is not a{} number of seconds",
                    if positive { " positive" } else { "" }
                )),
            }
        };
        Settings {
            interval: seconds("LOGICAL_BACKUP_INTERVAL_SECONDS", "86400", true),
            retention: seconds("LOGICAL_BACKUP_RETENTION_SECONDS", "604800", false),
            excluded: var("LOGICAL_BACKUP_EXCLUDE", "")
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            role: var("LOGICAL_BACKUP_ROLE", "core_data_backup"),
            server: var("LOGICAL_BACKUP_HOST", "postgres"),
            port: var("LOGICAL_BACKUP_PORT", "5432"),
            secrets: PathBuf::from(var("CORE_DATA_SECRETS_DIR", "/run/secrets")),
            root: PathBuf::from(var("LOGICAL_BACKUP_DIR", "/backups/logical")),
        }
    }

    pub(crate) fn status_path(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// The last status written, or a fresh one.
    pub(crate) fn status(&self) -> Status {
        std::fs::read_to_string(self.status_path())
            .ok()
            .and_then(|text| Status::from_json(&text).ok())
            .unwrap_or_else(|| Status::new(self.interval, self.retention, self.excluded.clone()))
    }

    /// `program args…` with libpq pointed at the server over verified TLS.
    pub(crate) fn pg(&self, program: &str, args: &[&str]) -> duct::Expression {
        duct::cmd(program, args)
            .env("PGHOST", &self.server)
            .env("PGPORT", &self.port)
            .env("PGUSER", &self.role)
            .env("PGPASSFILE", PASSFILE)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", self.secrets.join("ca.crt"))
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", "core_data_logical_backup")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
    }
}

pub(crate) fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Runs `expr` so a stop signal can kill it; returns its output (never fails on exit status).
pub(crate) fn run_killable(expr: duct::Expression) -> std::io::Result<std::process::Output> {
    let handle = Arc::new(expr.unchecked().start()?);
    *CHILD.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.clone());
    if stopping() {
        let _ = handle.kill();
    }
    let output = handle.wait().cloned();
    *CHILD.lock().unwrap_or_else(|e| e.into_inner()) = None;
    output
}

/// Sleeps up to `seconds`, ending early on a stop signal.
fn sleep(seconds: u64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    while !stopping() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn epoch() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn health(settings: &Settings) -> ! {
    let started = std::fs::read_to_string(STARTED_FILE)
        .ok()
        .and_then(|text| text.trim().parse().ok());
    let status = settings.status();
    match status.problem_since(epoch(), started) {
        Some(problem) => {
            println!("{problem}");
            std::process::exit(1)
        }
        None => {
            println!(
                "ok: last success {}",
                status.last_success.as_deref().unwrap_or("none yet")
            );
            std::process::exit(0)
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text
                .lines()
                .find(|line| line.starts_with("Uid:"))?
                .to_owned();
            Some(line.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A libpq passfile field: `\` and `:` escaped.
fn passfile_field(value: &str) -> String {
    value.replace('\\', "\\\\").replace(':', "\\:")
}

/// Writes the passfile (0600, created fresh) from the secret file.
fn write_passfile(settings: &Settings) {
    let secret = settings.secrets.join("core_data_backup_password");
    let password = std::fs::read_to_string(&secret).unwrap_or_else(|_| {
        die(&format!(
            "`{}` is missing or unreadable; run `cargo xtask up` to generate it",
            secret.display()
        ))
    });
    if !settings.secrets.join("ca.crt").exists() {
        die(&format!(
            "`{}/ca.crt` is missing; run `cargo xtask up`",
            settings.secrets.display()
        ));
    }
    let _ = std::fs::remove_file(PASSFILE);
    let line = format!(
        "{}:{}:*:{}:{}\n",
        passfile_field(&settings.server),
        settings.port,
        passfile_field(&settings.role),
        passfile_field(password.trim_end_matches('\n'))
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(PASSFILE)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .unwrap_or_else(|err| die(&format!("cannot write `{PASSFILE}`: {err}")));
}

/// The role is created by `cargo xtask up` after the server is healthy: wait for it.
fn wait_for_server(settings: &Settings) {
    let until = Instant::now() + Duration::from_secs(600);
    let mut said = false;
    loop {
        let probe = settings
            .pg(
                "psql",
                &[
                    "--no-psqlrc",
                    "-XAtq",
                    "--dbname=dbname=postgres",
                    "--command=SELECT 1",
                ],
            )
            .stdout_null()
            .stderr_capture();
        match run_killable(probe) {
            Ok(output) if output.status.success() => return,
            Ok(output) if !said => {
                let text = String::from_utf8_lossy(&output.stderr);
                log(&format!(
                    "waiting for `{}` to accept `{}`: {}",
                    settings.server,
                    settings.role,
                    text.chars().take(300).collect::<String>().trim_end()
                ));
                said = true;
            }
            _ => {}
        }
        if stopping() {
            return;
        }
        if Instant::now() > until {
            log("still not reachable after 600s; trying the run anyway");
            return;
        }
        sleep(2);
    }
}

fn main() {
    let settings = Settings::from_env();
    match std::env::args().nth(1).as_deref().unwrap_or("run") {
        "health" => health(&settings),
        "run" => {}
        _ => die("usage: core-data-logical-backup [run|health]"),
    }
    if is_root() {
        die("refusing to run as root; set the container user to the postgres UID");
    }
    ctrlc::set_handler(|| {
        STOPPING.store(true, Ordering::SeqCst);
        if let Some(child) = CHILD.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = child.kill();
        }
    })
    .unwrap_or_else(|err| die(&format!("cannot handle signals: {err}")));
    write_passfile(&settings);
    if let Err(err) = std::fs::create_dir_all(&settings.root) {
        die(&format!(
            "cannot create `{}`: {err}",
            settings.root.display()
        ));
    }
    let _ = std::fs::remove_file(STARTED_FILE);
    let _ = std::fs::write(STARTED_FILE, epoch().to_string());
    let exclude = settings.excluded.join(",");
    log(&format!(
        "starting: every {}s into {}, retention {}s{}",
        settings.interval,
        settings.root.display(),
        settings.retention,
        if exclude.is_empty() {
            String::new()
        } else {
            format!(", excluding {exclude}")
        }
    ));
    wait_for_server(&settings);
    while !stopping() {
        let ok = run::once(&settings);
        if stopping() {
            break;
        }
        // After a failure (a restart of the server, say) retry sooner than a whole interval.
        if !ok && settings.interval > 300 {
            log("retrying in 300s after the failed run");
            sleep(300);
        } else {
            sleep(settings.interval);
        }
    }
    log("stopped");
}

/// True when `path` exists (a link counts, even a dangling one).
pub(crate) fn present(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}
