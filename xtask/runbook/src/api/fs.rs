//! `fs::` — reports under named locations of the backups directory
//! (`backups/reports/`, `backups/drills/`). Scripts name a location and a
//! plain file name; Rust maps them to a path, so absolute paths, `..` and
//! separators never reach the filesystem, and symlinks are refused.
//! Files are written to a temporary name and renamed, which replaces (never
//! follows) whatever sits at the destination.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use rhai::{Array, Dynamic, Map, Module, INT};

use super::{dynamic_to_json, failure, misuse, primitive, to_map, Call, Env, Res};
use crate::backend::Failure;

/// The named locations under `backups/` that runbooks may use.
pub const LOCATIONS: &[&str] = &["reports", "drills"];

/// The directory of a location, created on first use; refuses symlinks.
fn location_dir(call: &Call<'_, '_>, location: &str, create: bool) -> Res<Utf8PathBuf> {
    let function = call.name;
    if !LOCATIONS.contains(&location) {
        let known = LOCATIONS
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(misuse(
            function,
            format!("`{location}` is not a location under ./backups; use one of {known}"),
        ));
    }
    let dir = call.backend.backups_dir().join(location);
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(misuse(
            function,
            format!("`backups/{location}` is a symlink; runbooks only write to real directories"),
        )),
        Ok(meta) if !meta.is_dir() => Err(misuse(
            function,
            format!("`backups/{location}` is not a directory"),
        )),
        Ok(_) => Ok(dir),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && create => {
            std::fs::create_dir_all(&dir).map_err(|err| io(function, &dir, &err))?;
            Ok(dir)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(dir),
        Err(err) => Err(io(function, &dir, &err)),
    }
}

/// A plain file name: letters, digits, `.`, `_`, `-`; not starting with `.`.
fn file_path(call: &Call<'_, '_>, dir: &Utf8Path, name: &str) -> Res<Utf8PathBuf> {
    let function = call.name;
    let plain = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain {
        return Err(misuse(
            function,
            format!("`{name}` is not a plain file name (letters, digits, `.`, `_`, `-`; no `/`, no leading `.`)"),
        ));
    }
    let path = dir.join(name);
    if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(misuse(
            function,
            format!("`{name}` is a symlink; runbooks do not follow symlinks"),
        ));
    }
    Ok(path)
}

fn io(function: &str, path: &Utf8Path, err: &std::io::Error) -> Box<rhai::EvalAltResult> {
    failure(function, Failure::new("io", format!("`{path}`: {err}")))
}

/// Through the library's exclusive-create-then-rename, which never follows a symlink.
fn write_atomic(function: &str, path: &Utf8Path, text: &str) -> Res<()> {
    core_data_ops::fsutil::write_atomic(path, text.as_bytes(), 0o640)
        .map_err(|err| failure(function, Failure::new("io", format!("`{path}`: {err:#}"))))
}

/// A cell as CSV text: unit is empty, anything else its display text.
fn csv_field(value: &Dynamic) -> String {
    if value.is_unit() {
        String::new()
    } else {
        value.to_string()
    }
}

/// CSV records (the `csv` crate: `,`, `"` quoting where needed, `\n` endings).
fn csv_text<I, R>(function: &str, records: I) -> Res<String>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer
            .write_record(record)
            .map_err(|err| misuse(function, err))?;
    }
    let bytes = writer.into_inner().map_err(|err| misuse(function, err))?;
    String::from_utf8(bytes).map_err(|err| misuse(function, err))
}

/// The header line (without its newline) and the rows, as CSV.
fn csv_lines(function: &str, columns: &Array, rows: &Array) -> Res<(String, String)> {
    let names: Vec<String> = columns.iter().map(ToString::to_string).collect();
    if names.is_empty() {
        return Err(misuse(
            function,
            "`columns` is empty; pass the column names in order",
        ));
    }
    let header = csv_text(function, [names.clone()])?;
    let mut records = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let map = row
            .read_lock::<Map>()
            .ok_or_else(|| misuse(function, format!("row {i} is not a map")))?;
        records.push(
            names
                .iter()
                .map(|n| map.get(n.as_str()).map_or_else(String::new, csv_field))
                .collect::<Vec<_>>(),
        );
    }
    let body = csv_text(function, records)?;
    Ok((header.trim_end_matches('\n').to_owned(), body))
}

fn age_of(meta: &std::fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

/// One file of a location, as `fs::list` returns it.
#[derive(serde::Serialize)]
struct FileEntry {
    name: String,
    size: INT,
    /// ISO 8601 UTC.
    modified: String,
    age_seconds: INT,
}

/// The regular files of a location (not starting with `.`), sorted by name.
fn list(dir: &Utf8Path) -> Vec<FileEntry> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if !meta.is_file() || name.starts_with('.') {
            continue;
        }
        let millis = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| INT::try_from(d.as_millis()).unwrap_or(INT::MAX));
        files.push(FileEntry {
            name,
            size: INT::try_from(meta.len()).unwrap_or(INT::MAX),
            modified: super::time::iso_millis(millis),
            age_seconds: INT::try_from(age_of(&meta).as_secs()).unwrap_or(INT::MAX),
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    primitive!(
        module,
        env,
        "fs::list",
        &["location: String", "Array"],
        "The files of a location (`reports` or `drills`), sorted by name, as maps\n\
         `#{name, size, modified, age_seconds}` (`modified` in ISO 8601 UTC).",
        |call, location: &str| -> Array {
            let dir = location_dir(&call, location, false)?;
            list(&dir)
                .iter()
                .map(|f| to_map(call.name, f).map(Dynamic::from))
                .collect()
        }
    );

    if !env.grants.registers(crate::engine::Grant::Files) {
        return;
    }
    primitive!(
        module,
        env,
        "fs::write_text",
        &["location: String", "name: String", "text: String", "String"],
        "Writes (replaces) a text file in a location; returns its path relative to the state directory.\n\
         Needs `--allow-files`.",
        |call, location: &str, name: &str, text: &str| -> String {
            let args: [Dynamic; 3] = [location.into(), name.into(), text.into()];
            write(&call, location, name, &args, || Ok(text.to_owned()))
        }
    );

    primitive!(
        module,
        env,
        "fs::write_json",
        &["location: String", "name: String", "value: ?", "String"],
        "Writes (replaces) any value as pretty JSON in a location; returns the path. Needs `--allow-files`.",
        |call, location: &str, name: &str, value: Dynamic| -> String {
            let args: [Dynamic; 3] = [location.into(), name.into(), value.clone()];
            write(&call, location, name, &args, || {
                let json = dynamic_to_json(call.name, &value)?;
                let mut text = serde_json::to_string_pretty(&json).map_err(|err| call.misuse(err))?;
                text.push('\n');
                Ok(text)
            })
        }
    );

    primitive!(
        module,
        env,
        "fs::write_csv",
        &["location: String", "name: String", "columns: Array", "rows: Array", "String"],
        "Writes (replaces) a CSV file: a header of `columns`, then one line per row map (missing keys are\n\
         empty). Returns the path. Needs `--allow-files`.",
        |call, location: &str, name: &str, columns: Array, rows: Array| -> String {
            let args: [Dynamic; 4] =
                [location.into(), name.into(), columns.clone().into(), rows.clone().into()];
            write(&call, location, name, &args, || {
                let (header, body) = csv_lines(call.name, &columns, &rows)?;
                Ok(format!("{header}\n{body}"))
            })
        }
    );

    primitive!(
        module,
        env,
        "fs::append_csv",
        &["location: String", "name: String", "columns: Array", "rows: Array", "String"],
        "Appends rows to a CSV file, writing the header first when the file is new; an existing file must\n\
         have the same header. Returns the path. Needs `--allow-files`.",
        |call, location: &str, name: &str, columns: Array, rows: Array| -> String {
            let args: [Dynamic; 4] =
                [location.into(), name.into(), columns.clone().into(), rows.clone().into()];
            let dir = location_dir(&call, location, false)?;
            let path = file_path(&call, &dir, name)?;
            write(&call, location, name, &args, || {
                let (header, body) = csv_lines(call.name, &columns, &rows)?;
                match std::fs::read_to_string(&path) {
                    Ok(existing) => {
                        let first = existing.lines().next().unwrap_or_default();
                        if first != header {
                            return Err(call.misuse(format!(
                                "`{name}` has the header `{first}`, not `{header}`"
                            )));
                        }
                        let sep = if existing.ends_with('\n') || existing.is_empty() {
                            ""
                        } else {
                            "\n"
                        };
                        Ok(format!("{existing}{sep}{body}"))
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        Ok(format!("{header}\n{body}"))
                    }
                    Err(err) => Err(io(call.name, &path, &err)),
                }
            })
        }
    );

    primitive!(
        module,
        env,
        "fs::prune",
        &["location: String", "older_than_days: INT", "Array"],
        "Deletes the files of a location last modified more than `older_than_days` days ago (at least 1);\n\
         returns their names. Needs `--allow-files`.",
        |call, location: &str, days: INT| -> Array {
            if days < 1 {
                return Err(call.misuse(format!(
                    "`older_than_days` must be at least 1, not {days}"
                )));
            }
            let dir = location_dir(&call, location, false)?;
            let limit = Duration::from_secs(
                u64::try_from(days)
                    .unwrap_or(u64::MAX)
                    .saturating_mul(86_400),
            );
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return Ok(Array::new());
            };
            let mut old: Vec<(String, Utf8PathBuf)> = Vec::new();
            for entry in entries.flatten() {
                let Ok(meta) = entry.path().symlink_metadata() else {
                    continue;
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                // Only regular files: a symlink or directory here is not ours to delete.
                if meta.is_file() && age_of(&meta) > limit {
                    old.push((name.clone(), dir.join(&name)));
                }
            }
            old.sort();
            let dry = call.dry_run(&[&location.into(), &days.into()]);
            for (name, path) in &old {
                if dry {
                    call.output.line(
                        crate::engine::Stream::Stderr,
                        &format!("    would delete backups/{location}/{name}"),
                    );
                } else {
                    std::fs::remove_file(path).map_err(|err| io(call.name, path, &err))?;
                }
            }
            Ok(old.into_iter().map(|(name, _)| name.into()).collect())
        }
    );
}

/// Checks the location and name, renders the text, then (unless a dry run)
/// writes it atomically; returns the path relative to the state directory.
fn write(
    call: &Call<'_, '_>,
    location: &str,
    name: &str,
    args: &[Dynamic],
    text: impl FnOnce() -> Res<String>,
) -> Res<String> {
    let dir = location_dir(call, location, false)?;
    file_path(call, &dir, name)?;
    let text = text()?;
    let relative = format!("backups/{location}/{name}");
    if call.dry_run(&args.iter().collect::<Vec<_>>()) {
        return Ok(relative);
    }
    let dir = location_dir(call, location, true)?;
    let path = file_path(call, &dir, name)?;
    write_atomic(call.name, &path, &text)?;
    Ok(relative)
}
