//! `restore-dump`: a dump file into a new database, or over an existing one.
//!
//! Every input is checked before anything changes: the name, the format, that
//! this tool wrote the file (its `.sha256` manifest, or `--trust`), that an
//! archive lists and a plain file is complete and free of psql meta-commands.
//! Then the dump is restored into a temporary database (`core_data_restore_…`,
//! marked in its comment, created with the target's encoding and locale) and
//! swapped in by ONE transaction that also carries the target's database-level
//! grants, settings, comment and connection limit over, and renames
//! `target -> core_data_restore_old_…` and `temp -> target`: an interruption
//! anywhere leaves either the old database or the restored one under the
//! target's name, never neither. The replaced database is dropped afterwards;
//! anything an interrupted run left is cleaned or reported by `leftovers`.
//! Plain SQL runs in psql with every meta-command refused (`\restrict`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use camino::Utf8Path;

use super::db_props::{self, DbProps};
use super::dump_file::{self, DumpFormat};
use super::leftovers::{self, Marker, TEMP_PREFIX};
use super::logical::conninfo_dbname;
use crate::docker::{ExecIo, Feed};
use crate::fault;
use crate::pg::bootstrap;
use crate::progress::Progress;
use crate::sql::{check_name, quote_ident};
use crate::stack::Stack;

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Replace an existing database.
    pub yes: bool,
    /// Parallel jobs for a custom archive under `backups/`.
    pub jobs: Option<u32>,
    /// Restore a file without a matching `.sha256` manifest (not written by this tool).
    pub trust: bool,
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
    /// Database-level properties carried over from the replaced database.
    pub carried: Vec<String>,
    /// What did not go as planned without failing the restore.
    pub warnings: Vec<String>,
}

/// Restores `file` into `database` (see the module documentation). On any
/// failure before the swap commits, the temporary database is dropped and
/// `database` is exactly as it was.
pub fn restore_dump(
    stack: &Stack,
    file: &Utf8Path,
    database: &str,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> anyhow::Result<Restored> {
    check_name("database", database)?;
    if bootstrap::PROTECTED_DATABASES.contains(&database) {
        bail!("database `{database}` belongs to PostgreSQL itself; restore into another name");
    }
    if database.starts_with(TEMP_PREFIX) {
        bail!("names starting with `{TEMP_PREFIX}` are reserved for restores in progress; choose another name");
    }
    let started = Instant::now();
    let format = dump_file::detect_format(file)?;
    if options.trust {
        progress.status(
            "Trusting",
            &format!("`{file}` (`--trust`: its manifest is not checked)"),
        );
    } else {
        dump_file::check_manifest(file)?;
    }
    let in_container = container_path(stack, file);
    match format {
        DumpFormat::Custom => validate_archive(stack, file, in_container.as_deref())?,
        DumpFormat::Plain => {
            dump_file::check_plain_complete(file)?;
            if !options.trust {
                dump_file::scan_meta_commands(file)?;
            }
        }
    }

    let mut admin = stack.connect("postgres")?;
    let exists = bootstrap::database_exists(&mut admin, database)?;
    if exists && !options.yes {
        bail!(
            "database `{database}` already exists; add `--yes` to replace it (it is kept until the restored copy is complete), \
             or restore into a new name"
        );
    }
    let mut warnings: Vec<String> = leftovers::sweep(stack, progress)?
        .iter()
        .map(leftovers::Leftover::describe)
        .collect();
    let props = if exists {
        Some(db_props::read(&mut admin, database)?)
    } else {
        None
    };
    let owner = match &props {
        Some(props) => props.owner.clone(),
        None => new_database_owner(stack, &mut admin, database)?,
    };
    let create_options = props
        .as_ref()
        .map(DbProps::create_options)
        .transpose()?
        .unwrap_or_default();
    let temp = format!("{TEMP_PREFIX}{:08x}", rand::random::<u32>());
    progress.status(
        "Creating",
        &format!("temporary database `{temp}` owned by `{owner}`"),
    );
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0 OWNER {}{create_options}",
            quote_ident(&temp),
            quote_ident(&owner)
        ))
        .with_context(|| {
            format!(
                "failed to create the temporary database `{temp}`; `{database}` was not touched"
            )
        })?;

    let jobs = match (format, &in_container) {
        (DumpFormat::Custom, Some(_)) => options.jobs.unwrap_or_else(|| default_jobs(stack)).max(1),
        _ => 1,
    };
    let outcome = (|| {
        admin.batch_execute(&Marker::new("temp", database, None).comment_sql(&temp))?;
        fault::point("restore-dump:created")?;
        restore_into(stack, file, in_container.as_deref(), format, &temp, jobs, progress)
            .with_context(|| {
                let target = if exists { format!("`{database}` was not touched") } else { format!("`{database}` was not created") };
                format!("restoring `{file}` failed; {target} (a damaged or incomplete file? take a new one with `cargo xtask dump`)")
            })?;
        fault::point("restore-dump:loaded")?;
        swap(stack, &temp, database, props.as_ref(), progress)
    })();
    let swapped = match outcome {
        Ok(swapped) => swapped,
        Err(err) => {
            // Before the swap committed: the temporary copy goes, the target is as it was.
            if let Ok(mut client) = stack.connect("postgres") {
                if let Err(drop_err) = client.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&temp)
                )) {
                    progress.status("Warning", &format!("could not drop the temporary database `{temp}`: {drop_err}; `cargo xtask up` drops it"));
                }
            }
            return Err(err);
        }
    };
    warnings.extend(swapped.warnings);
    if let Some(old) = &swapped.old {
        progress.status("Dropping", &format!("the previous `{database}` (`{old}`)"));
        let dropped = fault::point("restore-dump:swapped").and_then(|()| {
            admin
                .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", quote_ident(old)))
                .map_err(anyhow::Error::from)
        });
        if let Err(err) = dropped {
            let warning = format!(
                "the previous `{database}` is still there as `{old}` ({err:#}); `cargo xtask up` drops it"
            );
            progress.status("Warning", &warning);
            warnings.push(warning);
        }
    }
    let duration = started.elapsed();
    progress.status(
        "Restored",
        &format!(
            "`{file}` into `{database}` in {:.1}s ({jobs} job(s){})",
            duration.as_secs_f64(),
            if exists { ", replaced the old one" } else { "" }
        ),
    );
    Ok(Restored {
        database: database.to_owned(),
        replaced: exists,
        jobs,
        duration,
        carried: swapped.carried,
        warnings,
    })
}

struct Swapped {
    /// The replaced database's name now, to be dropped.
    old: Option<String>,
    carried: Vec<String>,
    warnings: Vec<String>,
}

/// One transaction: carry `props` over to `temp`, rename `database` aside (marked
/// `old`) and `temp` to `database`. Retried while a reconnecting client holds `database`.
fn swap(
    stack: &Stack,
    temp: &str,
    database: &str,
    props: Option<&DbProps>,
    progress: &dyn Progress,
) -> anyhow::Result<Swapped> {
    fault::point("restore-dump:swap")?;
    let mut admin = stack.connect("postgres")?;
    let old = props.map(|_| format!("{TEMP_PREFIX}old_{:08x}", rand::random::<u32>()));
    if props.is_some() {
        progress.status(
            "Swapping",
            &format!(
                "`{database}` for the restored copy (sessions on `{database}` are terminated)"
            ),
        );
    }
    let mut attempt = 0;
    loop {
        if props.is_some() {
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )?;
        }
        match try_swap(&mut admin, temp, database, old.as_deref(), props) {
            Ok(carried) => {
                let mut warnings = Vec::new();
                if let Some(wanted) = props {
                    let got = db_props::read(&mut admin, database)?;
                    for difference in wanted.differences(&got) {
                        progress.status("Warning", &format!("`{database}`: {difference}"));
                        warnings.push(format!("`{database}`: {difference}"));
                    }
                    if !carried.is_empty() {
                        progress.status("Carried", &format!("over to `{database}`: {}", carried.join(", ")));
                    }
                }
                return Ok(Swapped { old, carried, warnings });
            }
            // A client may reconnect between the termination and the rename.
            Err(err)
                if attempt < 20
                    && err.downcast_ref::<postgres::Error>().and_then(postgres::Error::code)
                        == Some(&postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(err) => {
                return Err(err.context(format!(
                    "swapping the restored copy in as `{database}` failed; nothing was swapped: `{database}` is as it was"
                )))
            }
        }
    }
}

fn try_swap(
    admin: &mut postgres::Client,
    temp: &str,
    database: &str,
    old: Option<&str>,
    props: Option<&DbProps>,
) -> anyhow::Result<Vec<String>> {
    let mut tx = admin.transaction()?;
    let carried = match props {
        Some(props) => props.apply(&mut tx, temp)?,
        None => {
            tx.batch_execute(&format!(
                "COMMENT ON DATABASE {} IS NULL",
                quote_ident(temp)
            ))?;
            Vec::new()
        }
    };
    if let (Some(old), Some(props)) = (old, props) {
        tx.batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(database),
            quote_ident(old)
        ))?;
        tx.batch_execute(&Marker::new("old", database, props.comment.clone()).comment_sql(old))?;
    }
    tx.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(temp),
        quote_ident(database)
    ))?;
    fault::point("restore-dump:swapping")?;
    tx.commit()?;
    Ok(carried)
}

/// `pg_restore --list`: a garbage or unreadable archive fails here, before anything is created.
fn validate_archive(
    stack: &Stack,
    file: &Utf8Path,
    in_container: Option<&str>,
) -> anyhow::Result<()> {
    let (ok, stderr) = match in_container {
        Some(path) => {
            let out =
                stack
                    .docker
                    .exec(&stack.container(), &["pg_restore", "--list", path], None)?;
            (out.exit_code == 0, out.stderr)
        }
        None => exec_with_stdin(stack, &["pg_restore", "--list"], file, None)?,
    };
    if !ok {
        bail!(
            "`{file}` is not a readable pg_dump archive (pg_restore --list: {}); check the file or take a new one with `cargo xtask dump`",
            stderr.trim()
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
                    exec_with_stdin(stack, &argv, file, None)?
                }
            }
        }
        DumpFormat::Plain => {
            progress.status(
                "Restoring",
                &format!("`{file}` (plain SQL, one transaction, psql meta-commands refused)"),
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
            exec_with_stdin(stack, &argv, file, Some(&dump_file::new_restrict_key()))?
        }
    };
    if !ok {
        bail!("{}", stderr.trim_end());
    }
    Ok(())
}

/// The owner of a new database: the configured owner of an application database, or the superuser.
fn new_database_owner(
    stack: &Stack,
    admin: &mut postgres::Client,
    database: &str,
) -> anyhow::Result<String> {
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

/// Runs `argv` in the postgres container with `file` as its stdin (`docker exec -i`),
/// behind `\restrict <key>` when `restrict` is given. Returns success and stderr.
fn exec_with_stdin(
    stack: &Stack,
    argv: &[&str],
    file: &Utf8Path,
    restrict: Option<&str>,
) -> anyhow::Result<(bool, String)> {
    let container = stack.container();
    let mut input =
        std::fs::File::open(file).with_context(|| format!("cannot open dump file `{file}`"))?;
    let owned_file = file.to_owned();
    let key = restrict.map(str::to_owned);
    let feed: Feed = Box::new(move |stdin| match key {
        Some(key) => dump_file::restricted_stream(&owned_file, &key, stdin),
        None => std::io::copy(&mut input, stdin).map(drop),
    });
    let mut stderr = crate::docker::Capped::tail(256 * 1024);
    let status = stack.docker.exec_io(
        &container,
        argv,
        ExecIo {
            user: None,
            stdin: Some(feed),
            stdout: &mut std::io::sink(),
            stderr: Some(&mut stderr),
            tick: None,
        },
    )?;
    let ok = status.exit_code == 0;
    // A feed error after the reader failed is only the broken pipe of that failure.
    if ok {
        if let Some(err) = status.stdin_error {
            return Err(err).with_context(|| format!("failed to stream `{file}`"));
        }
    }
    Ok((ok, stderr.finish().0))
}

/// The path of `file` inside the postgres container when it lies under the
/// host's backups directory (bind-mounted read-only at `/backups`).
fn container_path(stack: &Stack, file: &Utf8Path) -> Option<String> {
    let backups = std::fs::canonicalize(stack.paths.backups_dir()).ok()?;
    let file = std::fs::canonicalize(file).ok()?;
    let relative = file.strip_prefix(&backups).ok()?;
    let relative = Utf8Path::from_path(relative)?;
    Some(format!("/backups/{relative}"))
}

fn default_jobs(stack: &Stack) -> u32 {
    // Kept small: each job is a backend competing with the live workload.
    stack.config.cpus().clamp(1, 8)
}
