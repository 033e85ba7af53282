//! Logical backups: pg_dump/pg_restore streamed between the container and ./backups.
//!
//! Dumps run inside the postgres container as the superuser (socket, peer
//! authentication: no password anywhere) with stdout going straight into a
//! `.partial` file on the host, renamed only on success, so a dump is never
//! held in memory and a half-written one never carries a final name.
//! Restores always go into a temporary database (`core_data_restore_…`, from
//! `template0`) and are swapped in by renaming only when complete; the
//! temporary database is dropped on failure, so the target is left as it was.
//! `sidecar_status` reads what the `logical_backup` service writes.

use std::fs::File;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::pg::bootstrap;
use crate::progress::Progress;
use crate::sql::{check_name, quote_ident};
use crate::stack::Stack;

/// Prefix of the temporary databases a restore creates (and always removes).
pub const TEMP_PREFIX: &str = "core_data_restore_";
/// The compose service of the logical backup sidecar.
pub const SIDECAR_SERVICE: &str = "logical_backup";

const PROTECTED_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// One finished dump.
#[derive(Debug, Clone)]
pub struct Dumped {
    /// The database, or `globals` for `pg_dumpall --globals-only`.
    pub database: String,
    pub path: Utf8PathBuf,
    pub bytes: u64,
    pub duration: Duration,
}

/// What `dump_all` wrote.
#[derive(Debug, Clone)]
pub struct DumpedAll {
    pub dir: Utf8PathBuf,
    pub databases: Vec<Dumped>,
    pub globals: Dumped,
}

/// What `restore_dump` did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub database: String,
    /// True when an existing database was replaced.
    pub replaced: bool,
    /// Parallel jobs used (1 when streaming or for plain SQL).
    pub jobs: u32,
    pub duration: Duration,
}

/// The kinds of dump file `restore_dump` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `pg_dump --format=custom` (starts with `PGDMP`): restored with pg_restore.
    Custom,
    /// `pg_dump --format=plain`: replayed with psql in one transaction.
    Plain,
}

/// The sidecar's machine-readable status (`backups/logical/status.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: u32,
    pub interval_seconds: u64,
    pub retention_seconds: u64,
    #[serde(default)]
    pub excluded: Vec<String>,
    pub last_success: Option<String>,
    pub last_success_epoch: Option<i64>,
    pub last_success_directory: Option<String>,
    pub last_failure: Option<String>,
    pub last_failure_epoch: Option<i64>,
    pub last_failure_error: Option<String>,
    pub last_run: Option<Run>,
}

/// One sidecar run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub ok: bool,
    pub started: String,
    pub started_epoch: i64,
    pub finished: String,
    pub finished_epoch: i64,
    pub seconds: f64,
    /// The run's directory under `backups/logical/` (`<timestamp>` or `<timestamp>.failed`).
    pub directory: String,
    pub error: Option<String>,
    pub databases: Vec<FileEntry>,
    pub globals: Option<FileEntry>,
}

/// One file of a sidecar run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub file: Option<String>,
    pub ok: bool,
    pub bytes: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

impl Status {
    /// The status as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status always serializes")
    }

    /// Why the sidecar is unhealthy at `now` (seconds since the epoch), or `None`:
    /// the last run failed, or the last success is older than two intervals.
    pub fn problem(&self, now: i64) -> Option<String> {
        if let Some(run) = self.last_run.as_ref().filter(|run| !run.ok) {
            return Some(format!(
                "the last run ({}) failed: {}",
                run.finished,
                run.error.as_deref().unwrap_or("no error text recorded")
            ));
        }
        let limit = 2 * i64::try_from(self.interval_seconds).unwrap_or(i64::MAX / 4) + 30;
        match self.last_success_epoch {
            Some(at) if now - at > limit => Some(format!(
                "the last success ({}) is older than two intervals ({}s)",
                self.last_success.as_deref().unwrap_or("?"),
                self.interval_seconds
            )),
            None => Some("no run has succeeded yet".to_owned()),
            _ => None,
        }
    }
}

/// The sidecar's container name.
pub fn sidecar_container(stack: &Stack) -> String {
    format!("{}-{SIDECAR_SERVICE}", stack.config.project())
}

/// Where the sidecar writes its runs on the host.
pub fn sidecar_dir(stack: &Stack) -> Utf8PathBuf {
    stack.paths.backups_dir().join("logical")
}

/// Reads the sidecar's `status.json` from the host's backups directory.
pub fn sidecar_status(stack: &Stack) -> anyhow::Result<Status> {
    let path = sidecar_dir(stack).join("status.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "no sidecar status at `{path}` yet; the `{SIDECAR_SERVICE}` service writes it after its first run \
             (see `docker logs {}`)",
            sidecar_container(stack)
        ),
        Err(err) => return Err(err).with_context(|| format!("failed to read `{path}`")),
    };
    serde_json::from_str(&String::from_utf8_lossy(&bytes))
        .with_context(|| format!("`{path}` is not a status file this version understands"))
}

/// `pg_dump --format=custom` (zstd-compressed) of `database` to `output`
/// (default `backups/<db>-<UTC timestamp>.dump`).
pub fn dump(
    stack: &Stack,
    database: &str,
    output: Option<&Utf8Path>,
    progress: &dyn Progress,
) -> anyhow::Result<Dumped> {
    dump_format(stack, database, output, DumpFormat::Custom, progress)
}

/// `pg_dump --format=plain` of `database` to `output` (default `backups/<db>-<UTC timestamp>.sql`).
pub fn dump_sql(
    stack: &Stack,
    database: &str,
    output: Option<&Utf8Path>,
    progress: &dyn Progress,
) -> anyhow::Result<Dumped> {
    dump_format(stack, database, output, DumpFormat::Plain, progress)
}

fn dump_format(
    stack: &Stack,
    database: &str,
    output: Option<&Utf8Path>,
    format: DumpFormat,
    progress: &dyn Progress,
) -> anyhow::Result<Dumped> {
    check_name("database", database)?;
    let mut admin = stack.connect("postgres")?;
    if !bootstrap::database_exists(&mut admin, database)? {
        bail!("database `{database}` does not exist; `cargo xtask status` and `psql -l` show what there is");
    }
    let extension = if format == DumpFormat::Custom {
        "dump"
    } else {
        "sql"
    };
    let path = match output {
        Some(path) => path.to_owned(),
        None => {
            let dir = stack.paths.backups_dir();
            crate::fsutil::ensure_dir(&dir, 0o750)?;
            dir.join(format!(
                "{}-{}.{extension}",
                file_stem(database),
                utc_stamp(SystemTime::now())
            ))
        }
    };
    if path.exists() {
        bail!("`{path}` already exists; choose another `--output` or move it away");
    }
    dump_database(stack, database, &path, format, progress)
}

/// Every database that allows connections (templates excluded) into
/// `backups/all-<UTC timestamp>/<db>.dump`, plus `globals.sql`
/// (`pg_dumpall --globals-only --no-role-passwords`).
pub fn dump_all(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<DumpedAll> {
    let mut admin = stack.connect("postgres")?;
    let databases: Vec<String> = admin
        .query(
            "SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate \
             AND left(datname, length($1)) <> $1 ORDER BY datname",
            &[&TEMP_PREFIX],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let stamp = utc_stamp(SystemTime::now());
    let dir = stack.paths.backups_dir().join(format!("all-{stamp}"));
    let partial = stack
        .paths
        .backups_dir()
        .join(format!("all-{stamp}.partial"));
    if dir.exists() || partial.exists() {
        bail!("`{dir}` already exists; wait a second and run `cargo xtask dump --all` again");
    }
    crate::fsutil::ensure_dir(&partial, 0o750)?;
    let result = (|| {
        let mut dumped = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        for database in &databases {
            let mut name = file_stem(database);
            if !used.insert(name.clone()) {
                name = format!("{name}-{}", used.len());
                used.insert(name.clone());
            }
            dumped.push(dump_database(
                stack,
                database,
                &partial.join(format!("{name}.dump")),
                DumpFormat::Custom,
                progress,
            )?);
        }
        let globals_path = partial.join("globals.sql");
        let superuser = stack.config.superuser().to_owned();
        let argv = [
            "pg_dumpall",
            "--host=/tmp",
            &format!("--username={superuser}"),
            "--globals-only",
            "--no-role-passwords",
        ];
        progress.status("Dumping", "globals (roles, tablespaces)");
        let (bytes, duration) = exec_to_file(stack, &argv, &globals_path, progress)
            .context("failed to dump the globals (`pg_dumpall --globals-only`)")?;
        let globals = Dumped {
            database: "globals".to_owned(),
            path: globals_path,
            bytes,
            duration,
        };
        Ok::<_, anyhow::Error>((dumped, globals))
    })();
    match result {
        Ok((dumped, globals)) => {
            std::fs::rename(&partial, &dir)
                .with_context(|| format!("failed to move `{partial}` to `{dir}`"))?;
            let relocate = |d: Dumped| Dumped {
                path: dir.join(d.path.file_name().unwrap_or_default()),
                ..d
            };
            let databases: Vec<Dumped> = dumped.into_iter().map(relocate).collect();
            let globals = relocate(globals);
            let total: u64 = databases.iter().map(|d| d.bytes).sum::<u64>() + globals.bytes;
            progress.status(
                "Finished",
                &format!(
                    "{} database(s) and globals, {} in `{dir}`",
                    databases.len(),
                    human_bytes(total)
                ),
            );
            Ok(DumpedAll {
                dir,
                databases,
                globals,
            })
        }
        Err(err) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(err)
        }
    }
}

fn dump_database(
    stack: &Stack,
    database: &str,
    path: &Utf8Path,
    format: DumpFormat,
    progress: &dyn Progress,
) -> anyhow::Result<Dumped> {
    let superuser = stack.config.superuser().to_owned();
    let format_flag = if format == DumpFormat::Custom {
        "--format=custom"
    } else {
        "--format=plain"
    };
    let mut argv = vec![
        "pg_dump".to_owned(),
        "--host=/tmp".to_owned(),
        format!("--username={superuser}"),
        format_flag.to_owned(),
    ];
    if format == DumpFormat::Custom {
        argv.push("--compress=zstd:3".to_owned());
    }
    argv.push(format!("--dbname={}", conninfo_dbname(database)));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    progress.status("Dumping", &format!("`{database}` to `{path}`"));
    let (bytes, duration) = exec_to_file(stack, &argv, path, progress)
        .with_context(|| format!("failed to dump database `{database}`"))?;
    progress.status(
        "Dumped",
        &format!(
            "`{database}`: {} in {:.1}s ({}/s)",
            human_bytes(bytes),
            duration.as_secs_f64(),
            human_rate(bytes, duration)
        ),
    );
    Ok(Dumped {
        database: database.to_owned(),
        path: path.to_owned(),
        bytes,
        duration,
    })
}

/// Runs `argv` in the postgres container with stdout streamed into
/// `<path>.partial`, renamed to `path` on success. Reports the size now and then.
fn exec_to_file(
    stack: &Stack,
    argv: &[&str],
    path: &Utf8Path,
    progress: &dyn Progress,
) -> anyhow::Result<(u64, Duration)> {
    let partial = Utf8PathBuf::from(format!("{path}.partial"));
    if let Some(dir) = path.parent().filter(|dir| !dir.as_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create `{dir}`"))?;
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&partial)
            .with_context(|| {
                format!(
                    "failed to create `{partial}` (a previous dump may have left it; remove it)"
                )
            })?
    };
    let result = run_to_file(stack, argv, file, &partial, progress);
    match result {
        Ok(duration) => {
            let bytes = std::fs::metadata(&partial)?.len();
            crate::fsutil::hand_over(&partial, stack.config.uid(), stack.config.gid())?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("failed to move `{partial}` to `{path}`"))?;
            Ok((bytes, duration))
        }
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            Err(err)
        }
    }
}

fn run_to_file(
    stack: &Stack,
    argv: &[&str],
    file: File,
    partial: &Utf8Path,
    progress: &dyn Progress,
) -> anyhow::Result<Duration> {
    let container = stack.container();
    let started = Instant::now();
    let mut child = Command::new("docker")
        .arg("exec")
        .arg(&container)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "failed to run `docker exec {container} {}`; is Docker installed?",
                argv[0]
            )
        })?;
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut last_report = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            let size = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
            progress.status(
                "",
                &format!(
                    "… {} after {:.0}s",
                    human_bytes(size),
                    started.elapsed().as_secs_f64()
                ),
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "`{}` in `{container}` failed ({status}):\n{}\nis the stack up (`cargo xtask status`)?",
            argv[0],
            stderr.trim_end()
        );
    }
    Ok(started.elapsed())
}

/// Reads the first bytes of `file` to tell a custom archive from a plain SQL dump.
/// pg_dump ends every plain dump with `-- PostgreSQL database dump complete`;
/// psql would happily replay a file cut short (ending a COPY early and
/// committing), so a plain file without that line is refused.
pub fn check_plain_complete(file: &Utf8Path) -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut handle = File::open(file)
        .with_context(|| format!("cannot open dump file `{file}`; check the path"))?;
    let length = handle.metadata()?.len();
    handle.seek(SeekFrom::Start(length.saturating_sub(8192)))?;
    let mut tail = Vec::new();
    handle.read_to_end(&mut tail)?;
    if !String::from_utf8_lossy(&tail).contains("-- PostgreSQL database dump complete") {
        bail!(
            "`{file}` is an incomplete plain SQL dump (no `-- PostgreSQL database dump complete` at its end); \
             nothing was restored; take a new one with `cargo xtask dump-sql`"
        );
    }
    Ok(())
}

pub fn detect_format(file: &Utf8Path) -> anyhow::Result<DumpFormat> {
    let mut head = Vec::with_capacity(512);
    File::open(file)
        .with_context(|| format!("cannot open dump file `{file}`; check the path"))?
        .take(512)
        .read_to_end(&mut head)?;
    if head.starts_with(b"PGDMP") {
        return Ok(DumpFormat::Custom);
    }
    let text = String::from_utf8_lossy(&head);
    if text.starts_with("--") && text.contains("PostgreSQL database dump") {
        return Ok(DumpFormat::Plain);
    }
    bail!(
        "`{file}` is not a pg_dump file: it starts with neither `PGDMP` (custom format) nor a pg_dump SQL header; \
         restore a file written by `cargo xtask dump` or `cargo xtask dump-sql`"
    )
}

/// Restores `file` into `database`: into a temporary database first, swapped in
/// by renaming only when the restore is complete. An existing `database` is
/// replaced only with `yes` (its sessions are terminated; it is dropped after
/// the new copy is in place). On any failure the temporary database is dropped
/// and `database` is exactly as it was.
pub fn restore_dump(
    stack: &Stack,
    file: &Utf8Path,
    database: &str,
    yes: bool,
    jobs: Option<u32>,
    progress: &dyn Progress,
) -> anyhow::Result<Restored> {
    check_name("database", database)?;
    if PROTECTED_DATABASES.contains(&database) {
        bail!("database `{database}` belongs to PostgreSQL itself; restore into another name");
    }
    if database.starts_with(TEMP_PREFIX) {
        bail!("names starting with `{TEMP_PREFIX}` are reserved for restores in progress; choose another name");
    }
    let started = Instant::now();
    let format = detect_format(file)?;
    let in_container = container_path(stack, file);
    match format {
        DumpFormat::Custom => validate_archive(stack, file, in_container.as_deref())?,
        DumpFormat::Plain => check_plain_complete(file)?,
    }

    let mut admin = stack.connect("postgres")?;
    let exists = bootstrap::database_exists(&mut admin, database)?;
    if exists && !yes {
        bail!(
            "database `{database}` already exists; add `--yes` to replace it (it is kept until the restored copy is complete), \
             or restore into a new name"
        );
    }
    let owner = database_owner(stack, &mut admin, database, exists)?;
    let temp = format!("{TEMP_PREFIX}{:08x}", rand::random::<u32>());
    progress.status(
        "Creating",
        &format!("temporary database `{temp}` owned by `{owner}`"),
    );
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 OWNER {}",
            quote_ident(&temp),
            quote_ident(&owner)
        ))
        .with_context(|| format!("failed to create the temporary database `{temp}`"))?;

    let jobs_used = match (format, &in_container) {
        (DumpFormat::Custom, Some(_)) => jobs.unwrap_or_else(|| default_jobs(stack)).max(1),
        _ => 1,
    };
    let outcome = restore_into(stack, file, in_container.as_deref(), format, &temp, jobs_used, progress)
        .with_context(|| {
            let target = if exists { format!("`{database}` was not touched") } else { format!("`{database}` was not created") };
            format!("restoring `{file}` failed; {target} (a damaged or incomplete file? take a new one with `cargo xtask dump`)")
        })
        .and_then(|()| swap(stack, &temp, database, exists, progress));
    if let Err(err) = outcome {
        if let Ok(mut client) = stack.connect("postgres") {
            if let Err(drop_err) = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&temp)
            )) {
                progress.status("Warning", &format!("could not drop the temporary database `{temp}`: {drop_err}; drop it with `cargo xtask drop-db`"));
            }
        }
        return Err(err);
    }
    let duration = started.elapsed();
    progress.status(
        "Restored",
        &format!(
            "`{file}` into `{database}` in {:.1}s ({} job(s){})",
            duration.as_secs_f64(),
            jobs_used,
            if exists { ", replaced the old one" } else { "" }
        ),
    );
    Ok(Restored {
        database: database.to_owned(),
        replaced: exists,
        jobs: jobs_used,
        duration,
    })
}

/// `pg_restore --list`: a garbage or unreadable archive fails here, before anything is created.
fn validate_archive(
    stack: &Stack,
    file: &Utf8Path,
    in_container: Option<&str>,
) -> anyhow::Result<()> {
    let output = match in_container {
        Some(path) => {
            let out =
                stack
                    .docker
                    .exec(&stack.container(), &["pg_restore", "--list", path], None)?;
            (out.exit_code == 0, out.stderr)
        }
        None => exec_with_stdin(stack, &["pg_restore", "--list"], file)?,
    };
    if !output.0 {
        bail!(
            "`{file}` is not a readable pg_dump archive (pg_restore --list: {}); check the file or take a new one with `cargo xtask dump`",
            output.1.trim()
        );
    }
    Ok(())
}

fn restore_into(
    stack: &Stack,
    file: &Utf8Path,
    in_container: Option<&str>,
    format: DumpFormat,
    temp: &str,
    jobs: u32,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let superuser = format!("--username={}", stack.config.superuser());
    let dbname = format!("--dbname={}", conninfo_dbname(temp));
    let (ok, stderr) = match format {
        DumpFormat::Custom => {
            let jobs_flag = format!("--jobs={jobs}");
            let argv = vec![
                "pg_restore",
                "--host=/tmp",
                &superuser,
                &dbname,
                "--exit-on-error",
                "--no-password",
            ];
            match in_container {
                Some(path) => {
                    // In sections: schema first; then the data with triggers disabled,
                    // because extension catalog tables with foreign keys between them
                    // (Apache AGE's ag_label -> ag_graph) may otherwise load in the
                    // wrong order in parallel; then indexes and constraints in parallel.
                    progress.status(
                        "Restoring",
                        &format!("`{file}` with {jobs} parallel job(s)"),
                    );
                    let mut result = (true, String::new());
                    for section in [
                        &["--section=pre-data"][..],
                        &["--data-only", "--disable-triggers"],
                        &["--section=post-data"],
                    ] {
                        let mut step = argv.clone();
                        step.extend_from_slice(section);
                        if section[0] != "--section=pre-data" {
                            step.push(&jobs_flag);
                        }
                        step.push(path);
                        let out = stack.docker.exec(&stack.container(), &step, None)?;
                        if out.exit_code != 0 {
                            result = (false, out.stderr);
                            break;
                        }
                    }
                    result
                }
                None => {
                    progress.status(
                        "Restoring",
                        &format!("`{file}` streamed through stdin (one job)"),
                    );
                    exec_with_stdin(stack, &argv, file)?
                }
            }
        }
        DumpFormat::Plain => {
            progress.status(
                "Restoring",
                &format!("`{file}` (plain SQL, one transaction)"),
            );
            let argv = [
                "psql",
                "--host=/tmp",
                &superuser,
                &dbname,
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                "--output=/dev/null",
                "--file=-",
            ];
            exec_with_stdin(stack, &argv, file)?
        }
    };
    if !ok {
        bail!("{}", stderr.trim_end());
    }
    Ok(())
}

/// Replaces (or creates) `database` with `temp` by renaming; the old database is
/// renamed aside first and dropped only after the new one carries the name.
fn swap(
    stack: &Stack,
    temp: &str,
    database: &str,
    exists: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let mut admin = stack.connect("postgres")?;
    let rename = |client: &mut postgres::Client, from: &str, to: &str| -> anyhow::Result<()> {
        let mut attempt = 0;
        loop {
            client.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&from],
            )?;
            match client.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(from),
                quote_ident(to)
            )) {
                Ok(()) => return Ok(()),
                // A client may reconnect between the termination and the rename.
                Err(err)
                    if attempt < 20
                        && err.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("failed to rename database `{from}` to `{to}`"))
                }
            }
        }
    };
    if !exists {
        return rename(&mut admin, temp, database);
    }
    let old = format!("{TEMP_PREFIX}old_{:08x}", rand::random::<u32>());
    progress.status(
        "Swapping",
        &format!("`{database}` for the restored copy (sessions on `{database}` are terminated)"),
    );
    rename(&mut admin, database, &old)?;
    if let Err(err) = rename(&mut admin, temp, database) {
        return match rename(&mut admin, &old, database) {
            Ok(()) => Err(err),
            Err(back) => Err(err.context(format!(
                "and putting the old database back failed too ({back:#}); it is `{old}`: rename it with \
                 `ALTER DATABASE {} RENAME TO {}`",
                quote_ident(&old),
                quote_ident(database)
            ))),
        };
    }
    progress.status("Dropping", &format!("the previous `{database}`"));
    if let Err(err) =
        admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", quote_ident(&old)))
    {
        progress.status("Warning", &format!("the previous `{database}` is still there as `{old}`: {err}; drop it with `cargo xtask drop-db`"));
    }
    Ok(())
}

/// The owner of the restored database: the existing one's, the configured owner
/// of an application database, or the superuser.
fn database_owner(
    stack: &Stack,
    admin: &mut postgres::Client,
    database: &str,
    exists: bool,
) -> anyhow::Result<String> {
    if exists {
        let row = admin.query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&database],
        )?;
        return Ok(row.get(0));
    }
    if let Some(db) = stack
        .config
        .databases()
        .into_iter()
        .find(|db| db.name == database)
    {
        if bootstrap::role_exists(admin, &db.owner)? {
            return Ok(db.owner);
        }
    }
    Ok(stack.config.superuser().to_owned())
}

/// Runs `argv` in the postgres container with `file` as its stdin (`docker exec -i`).
/// Returns success and stderr; stdout is discarded.
fn exec_with_stdin(
    stack: &Stack,
    argv: &[&str],
    file: &Utf8Path,
) -> anyhow::Result<(bool, String)> {
    let container = stack.container();
    let input = File::open(file).with_context(|| format!("cannot open dump file `{file}`"))?;
    let output = Command::new("docker")
        .arg("exec")
        .arg("--interactive")
        .arg(&container)
        .args(argv)
        .stdin(Stdio::from(input))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| {
            format!(
                "failed to run `docker exec {container} {}`; is Docker installed?",
                argv[0]
            )
        })?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// The path of `file` inside the postgres container when it lies under the
/// host's backups directory (bind-mounted at `/backups`).
fn container_path(stack: &Stack, file: &Utf8Path) -> Option<String> {
    let backups = std::fs::canonicalize(stack.paths.backups_dir()).ok()?;
    let file = std::fs::canonicalize(file).ok()?;
    let relative = file.strip_prefix(&backups).ok()?;
    let relative = Utf8Path::from_path(relative)?;
    Some(format!("/backups/{relative}"))
}

fn default_jobs(stack: &Stack) -> u32 {
    let cpus: f64 = stack
        .config
        .get("POSTGRES_CPU_LIMIT")
        .parse()
        .unwrap_or(1.0);
    // Rounded up and kept small: each job is a backend competing with the live workload.
    (cpus.ceil() as u32).clamp(1, 8)
}

/// A libpq conninfo `dbname='…'` so any database name (even one with `=`) is a name.
pub fn conninfo_dbname(database: &str) -> String {
    format!(
        "dbname='{}'",
        database.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// A file-name-safe form of a database name.
pub fn file_stem(database: &str) -> String {
    let stem: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "_".to_owned()
    } else {
        stem
    }
}

pub use crate::clock::utc_stamp;

/// `1.5 MB`, `320 kB`, `12 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_rate(bytes: u64, duration: Duration) -> String {
    let secs = duration.as_secs_f64().max(0.001);
    human_bytes((bytes as f64 / secs) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_names() {
        assert_eq!(conninfo_dbname("app"), "dbname='app'");
        assert_eq!(conninfo_dbname("a'b\\c=d"), "dbname='a\\'b\\\\c=d'");
        assert_eq!(
            file_stem("x\"; DROP DATABASE postgres; --"),
            "x___DROP_DATABASE_postgres__--"
        );
        assert_eq!(file_stem("../etc"), "___etc");
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 kB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MB");
    }

    #[test]
    fn garbage_is_not_a_dump() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("x.dump")).unwrap();
        std::fs::write(&path, b"\x00\x01garbage").unwrap();
        let err = detect_format(&path).unwrap_err().to_string();
        assert!(err.contains("is not a pg_dump file"), "{err}");
        std::fs::write(&path, b"PGDMP\x01\x0f").unwrap();
        assert_eq!(detect_format(&path).unwrap(), DumpFormat::Custom);
        std::fs::write(&path, b"--\n-- PostgreSQL database dump\n--\n").unwrap();
        assert_eq!(detect_format(&path).unwrap(), DumpFormat::Plain);
        assert!(detect_format(&path.with_file_name("missing")).is_err());
    }

    #[test]
    fn status_reports_failure_and_staleness() {
        let text = r#"{"version":1,"interval_seconds":5,"retention_seconds":20,"excluded":[],
            "last_success":"2025-01-01T00:00:00Z","last_success_epoch":1000,"last_success_directory":"x",
            "last_failure":null,"last_failure_epoch":null,"last_failure_error":null,
            "last_run":{"ok":true,"started":"s","started_epoch":990,"finished":"f","finished_epoch":1000,"seconds":1.5,
            "directory":"x","error":null,"databases":[{"name":"app","file":"app.dump","ok":true,"bytes":10,"seconds":0.5,"error":null}],
            "globals":{"name":"globals","file":"globals.sql","ok":true,"bytes":3,"seconds":0.1,"error":null}}}"#;
        let mut status: Status = serde_json::from_str(text).unwrap();
        assert_eq!(status.problem(1010), None);
        assert!(status
            .problem(1100)
            .unwrap()
            .contains("older than two intervals"));
        let run = status.last_run.as_mut().unwrap();
        run.ok = false;
        run.error = Some("pg_dump of `app` failed: permission denied".to_owned());
        assert!(status.problem(1001).unwrap().contains("permission denied"));
    }
}
