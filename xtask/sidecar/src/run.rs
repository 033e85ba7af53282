//! One run: every database to `<stamp>.partial/<file_stem>.dump` (custom
//! format, zstd) with a `.sha256` manifest, the globals to `globals.sql`, then
//! the directory renamed to `<stamp>` (or `<stamp>.failed`), `status.json`
//! replaced, and runs past the retention pruned (never the newest success).
//! Every file is created exclusively: nothing is truncated or written through
//! a planted link.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use core_data_sidecar::{conninfo_dbname, file_stem, FileEntry, Run, Status, TEMP_PREFIX};
use sha2::{Digest, Sha256};

use crate::{epoch, log, present, run_killable, stopping, Settings};

/// The databases to dump, in name order.
const DATABASES_SQL: &str = core_data_sidecar::names::DATABASES_SQL;

fn stamp(format: &str) -> String {
    jiff::Timestamp::now().strftime(format).to_string()
}

/// Runs once; returns whether every dump succeeded.
pub(crate) fn once(settings: &Settings) -> bool {
    let started = Instant::now();
    let started_iso = stamp("%Y-%m-%dT%H:%M:%SZ");
    let started_epoch = epoch();
    let name = stamp("%Y%m%dT%H%M%SZ");
    let dir = settings.root.join(format!("{name}.partial"));
    if let Err(err) = std::fs::DirBuilder::new().mode(0o750).create(&dir) {
        log(&format!(
            "error: cannot create `{}` (it must not exist yet): {err}",
            dir.display()
        ));
        return false;
    }
    let mut errors: Vec<String> = Vec::new();
    let mut entries = Vec::new();
    let mut globals = None;
    match list_databases(settings) {
        Ok(databases) => {
            for database in databases {
                if database.starts_with(TEMP_PREFIX) || settings.excluded.contains(&database) {
                    continue;
                }
                if stopping() {
                    break;
                }
                let file = format!("{}.dump", file_stem(&database));
                let conninfo = conninfo_dbname(&database);
                let args = [
                    "--format=custom",
                    "--compress=zstd:3",
                    "--dbname",
                    conninfo.as_str(),
                ];
                let entry = dump(settings, "pg_dump", &args, &database, &dir, &file);
                match &entry.error {
                    Some(error) => {
                        errors.push(format!("pg_dump of `{database}` failed: {error}"));
                        log(&format!("error: pg_dump of `{database}` failed: {error}"));
                    }
                    None => log(&format!("dumped `{database}` ({} bytes)", entry.bytes)),
                }
                entries.push(entry);
            }
        }
        Err(error) => errors.push(format!("listing databases failed: {error}")),
    }
    if !stopping() {
        let args = [
            "--globals-only",
            "--no-role-passwords",
            "--dbname=dbname=postgres",
        ];
        let entry = dump(
            settings,
            "pg_dumpall",
            &args,
            "globals",
            &dir,
            "globals.sql",
        );
        if let Some(error) = &entry.error {
            errors.push(format!("pg_dumpall --globals-only failed: {error}"));
        }
        globals = Some(entry);
    }
    if stopping() {
        let _ = std::fs::remove_dir_all(&dir);
        log("stopping: abandoned the run in progress");
        return true;
    }
    let ok = errors.is_empty();
    let error = (!ok).then(|| errors.join("; "));
    let final_name = if ok { name } else { format!("{name}.failed") };
    let final_dir = settings.root.join(&final_name);
    // Never into (or over) an existing directory of that name.
    if present(&final_dir) || std::fs::rename(&dir, &final_dir).is_err() {
        log(&format!(
            "error: cannot rename `{}` to `{final_name}`",
            dir.display()
        ));
        return false;
    }
    let mut status = settings.status();
    status.interval_seconds = settings.interval;
    status.retention_seconds = settings.retention;
    status.excluded = settings.excluded.clone();
    let finished = stamp("%Y-%m-%dT%H:%M:%SZ");
    if ok {
        status.last_success = Some(finished.clone());
        status.last_success_epoch = Some(epoch());
        status.last_success_directory = Some(final_name.clone());
    } else {
        status.last_failure = Some(finished.clone());
        status.last_failure_epoch = Some(epoch());
        status.last_failure_error = error.clone();
    }
    status.last_run = Some(Run {
        ok,
        started: started_iso,
        started_epoch,
        finished,
        finished_epoch: epoch(),
        seconds: started.elapsed().as_secs_f64(),
        directory: final_name.clone(),
        error: error.clone(),
        databases: entries,
        globals,
    });
    if let Err(err) = write_status(settings, &status) {
        log(&format!(
            "error: cannot write `{}`: {err}",
            settings.status_path().display()
        ));
    }
    match &error {
        None => log(&format!(
            "run {final_name} complete in {:.3}s",
            started.elapsed().as_secs_f64()
        )),
        Some(error) => log(&format!("error: run {final_name} failed: {error}")),
    }
    prune(settings, &status, &final_name);
    ok
}

fn list_databases(settings: &Settings) -> Result<Vec<String>, String> {
    let command = format!("--command={DATABASES_SQL}");
    let args = [
        "--no-psqlrc",
        "-XAtq",
        "--record-separator-zero",
        "--dbname=dbname=postgres",
        command.as_str(),
    ];
    let output = run_killable(settings.pg("psql", &args).stdout_capture().stderr_capture())
        .map_err(|err| err.to_string())?;
    if !output.status.success() {
        return Err(tail(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The last 2000 bytes of `bytes`, as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(2000);
    String::from_utf8_lossy(&bytes[start..])
        .trim_end()
        .to_owned()
}

fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
}

/// `program args…` with stdout into `dir/file` and a `file.sha256` manifest beside it.
fn dump(
    settings: &Settings,
    program: &str,
    args: &[&str],
    name: &str,
    dir: &Path,
    file: &str,
) -> FileEntry {
    let started = Instant::now();
    let path = dir.join(file);
    let result = (|| -> Result<u64, String> {
        let out = create_new(&path).map_err(|err| {
            format!("`{file}` cannot be created ({err}); it is never overwritten")
        })?;
        let output = run_killable(settings.pg(program, args).stdout_file(out).stderr_capture())
            .map_err(|err| err.to_string())?;
        if !output.status.success() {
            let message = tail(&output.stderr);
            return Err(if message.is_empty() {
                format!(
                    "{program} exited with {} and printed nothing",
                    output.status
                )
            } else {
                message
            });
        }
        write_manifest(&path, file).map_err(|err| format!("the manifest of `{file}`: {err}"))?;
        std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|err| err.to_string())
    })();
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(bytes) => FileEntry {
            name: name.to_owned(),
            file: Some(file.to_owned()),
            ok: true,
            bytes,
            seconds,
            error: None,
        },
        Err(error) => FileEntry {
            name: name.to_owned(),
            file: None,
            ok: false,
            bytes: 0,
            seconds,
            error: Some(error),
        },
    }
}

/// `<file>.sha256` in `sha256sum` format.
fn write_manifest(path: &Path, file: &str) -> std::io::Result<()> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(path)?, &mut hasher)?;
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut manifest = create_new(&path.with_file_name(format!("{file}.sha256")))?;
    manifest.write_all(format!("{digest}  {file}\n").as_bytes())?;
    manifest.sync_all()
}

/// Replaces `status.json` through a fresh temporary file and a rename.
fn write_status(settings: &Settings, status: &Status) -> std::io::Result<()> {
    let path = settings.status_path();
    let temporary = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut out = create_new(&temporary)?;
    out.write_all(status.to_json().as_bytes())?;
    out.write_all(b"\n")?;
    out.sync_all()?;
    std::fs::rename(&temporary, &path)
}

/// A run directory's name: `YYYYMMDDTHHMMSSZ`, maybe `.partial` or `.failed`.
fn is_run_dir(name: &str) -> bool {
    let stem = name
        .strip_suffix(".partial")
        .or_else(|| name.strip_suffix(".failed"))
        .unwrap_or(name);
    let bytes = stem.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 15) || b.is_ascii_digit())
}

/// Removes runs older than the retention, except `keep` and the newest success.
fn prune(settings: &Settings, status: &Status, keep: &str) {
    let Ok(entries) = std::fs::read_dir(&settings.root) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir
            || !is_run_dir(&name)
            || name == keep
            || Some(&name) == status.last_success_directory.as_ref()
        {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        if age.is_some_and(|age| age.as_secs() > settings.retention) {
            let path: PathBuf = entry.path();
            if std::fs::remove_dir_all(&path).is_ok() {
                log(&format!(
                    "pruned {name} (older than {}s)",
                    settings.retention
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_run_dir;

    #[test]
    fn only_run_directories_are_pruned() {
        for name in [
            "20261201T101112Z",
            "20261201T101112Z.failed",
            "20261201T101112Z.partial",
        ] {
            assert!(is_run_dir(name), "{name}");
        }
        for name in [
            "status.json",
            "20261201T101112",
            "2026120xT101112Z",
            "20261201T101112Z.old",
            "keep",
        ] {
            assert!(!is_run_dir(name), "{name}");
        }
    }
}
