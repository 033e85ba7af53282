//! Logical backups taken on demand: pg_dump streamed from the postgres
//! container into ./backups.
//!
//! Dumps run inside the postgres container as the superuser (socket, peer
//! authentication: no password anywhere) with stdout going straight into a
//! `.partial` file on the host, created exclusively; on success a `.sha256`
//! manifest is written beside it and the file takes its final name without
//! ever replacing an existing one, so a dump is never held in memory, a
//! half-written one never carries a final name, and no dump overwrites another.
//! Restores live in `restore_dump`, the sidecar's status in `sidecar`.

use std::fs::File;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};

use super::dump_file::{file_stem, DumpFormat};
use super::leftovers::TEMP_PREFIX;
use crate::docker::ExecIo;
use crate::pg::bootstrap;
use crate::progress::Progress;
use crate::sql::check_name;
use crate::stack::Stack;

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
            crate::fsutil::ensure_real_dir(&dir, 0o750)?;
            dir.join(format!(
                "{}-{}.{extension}",
                file_stem(database),
                utc_stamp(SystemTime::now())
            ))
        }
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        bail!("`{path}` already exists; choose another `--output` or move it away");
    }
    dump_database(stack, database, &path, format, progress)
}

/// Every database that allows connections (templates excluded) into
/// `backups/all-<UTC timestamp>/<db>.dump`, plus `globals.sql`
/// (`pg_dumpall --globals-only --no-role-passwords`).
pub fn dump_all(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<DumpedAll> {
    let mut admin = stack.connect("postgres")?;
    // A restore in progress is not a database to keep.
    let databases: Vec<String> = bootstrap::databases(&mut admin)?
        .into_iter()
        .filter(|name| !name.starts_with(TEMP_PREFIX))
        .collect();
    crate::fsutil::ensure_real_dir(&stack.paths.backups_dir(), 0o750)?;
    let stamp = utc_stamp(SystemTime::now());
    let dir = stack.paths.backups_dir().join(format!("all-{stamp}"));
    let partial = stack
        .paths
        .backups_dir()
        .join(format!("all-{stamp}.partial"));
    if std::fs::symlink_metadata(&dir).is_ok() {
        bail!("`{dir}` already exists; wait a second and run `cargo xtask dump --all` again");
    }
    // Created exclusively (mkdir never follows or reuses an existing entry).
    std::fs::create_dir(&partial).with_context(|| {
        format!("failed to create `{partial}` (it must not exist yet; wait a second and run `cargo xtask dump --all` again)")
    })?;
    crate::fsutil::ensure_dir(&partial, 0o750)?;
    let result = (|| {
        let mut dumped = Vec::new();
        for database in &databases {
            // `file_stem` gives every database its own name: nothing to deduplicate.
            let name = file_stem(database);
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
            // rename(2) can replace only an empty directory here (a non-empty one
            // fails), so no earlier dump can be lost even if `dir` appeared since.
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
    let file = crate::fsutil::create_new(&partial, 0o640)
        .context("a previous dump may have left it; remove it")?;
    let manifest = super::dump_file::manifest_path(path);
    let result = run_to_file(stack, argv, file, &partial, progress).and_then(|duration| {
        let bytes = std::fs::metadata(&partial)?.len();
        crate::fsutil::hand_over(&partial, stack.config.uid(), stack.config.gid())?;
        let name = path.file_name().unwrap_or_default();
        super::dump_file::write_manifest(&partial, &manifest, name)?;
        if let Err(err) = crate::fsutil::publish_noreplace(&partial, path) {
            let _ = std::fs::remove_file(&manifest);
            return Err(err);
        }
        crate::fsutil::hand_over(&manifest, stack.config.uid(), stack.config.gid())?;
        Ok((bytes, duration))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn run_to_file(
    stack: &Stack,
    argv: &[&str],
    mut file: File,
    partial: &Utf8Path,
    progress: &dyn Progress,
) -> anyhow::Result<Duration> {
    let container = stack.container();
    let started = Instant::now();
    let mut stderr = crate::docker::Capped::tail(64 * 1024);
    let mut report = || {
        let size = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        progress.status(
            "",
            &format!(
                "… {} after {:.0}s",
                human_bytes(size),
                started.elapsed().as_secs_f64()
            ),
        );
    };
    let status = stack.docker.exec_io(
        &container,
        argv,
        ExecIo {
            user: None,
            stdin: None,
            stdout: &mut file,
            stderr: Some(&mut stderr),
            tick: Some((Duration::from_secs(10), &mut report)),
        },
    )?;
    file.sync_all()
        .with_context(|| format!("failed to flush `{partial}`"))?;
    if status.exit_code != 0 {
        bail!(
            "`{}` in `{container}` failed (exit {}):\n{}\nis the stack up (`cargo xtask status`)?",
            argv[0],
            status.exit_code,
            stderr.finish().0.trim_end()
        );
    }
    Ok(started.elapsed())
}

pub use core_data_sidecar::conninfo_dbname;

use crate::clock::utc_stamp;

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
    fn sizes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 kB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MB");
    }
}
