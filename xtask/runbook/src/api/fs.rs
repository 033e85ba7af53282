//! `fs::` — reports under named locations of the backups directory
//! (`backups/reports/`, `backups/drills/`). Scripts name a location and a
//! plain file name; Rust maps them to a path, so absolute paths, `..` and
//! separators never reach the filesystem, and symlinks are refused.
//! Files are written to a temporary name and renamed, which replaces (never
//! follows) whatever sits at the destination.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use camino::{Utf8Path, Utf8PathBuf};
use rhai::{Array, Dynamic, Map, Module, NativeCallContext, INT};

use super::{dynamic_to_json, failure, function, located, misuse, Env, Res};
use crate::backend::Failure;

/// The named locations under `backups/` that runbooks may use.
pub const LOCATIONS: &[&str] = &["reports", "drills"];

/// The directory of a location, created on first use; refuses symlinks.
fn location_dir(env: &Env, function: &str, location: &str, create: bool) -> Res<Utf8PathBuf> {
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
    let dir = env.backend.backups_dir().join(location);
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
fn file_path(function: &str, dir: &Utf8Path, name: &str) -> Res<Utf8PathBuf> {
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

fn csv_field(value: &Dynamic) -> String {
    let text = if value.is_unit() {
        String::new()
    } else {
        value.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_lines(function: &str, columns: &Array, rows: &Array) -> Res<(String, String)> {
    let names: Vec<String> = columns.iter().map(ToString::to_string).collect();
    if names.is_empty() {
        return Err(misuse(
            function,
            "`columns` is empty; pass the column names in order",
        ));
    }
    let header = names
        .iter()
        .map(|n| csv_field(&n.clone().into()))
        .collect::<Vec<_>>()
        .join(",");
    let mut body = String::new();
    for (i, row) in rows.iter().enumerate() {
        let map = row
            .read_lock::<Map>()
            .ok_or_else(|| misuse(function, format!("row {i} is not a map")))?;
        let fields: Vec<String> = names
            .iter()
            .map(|n| map.get(n.as_str()).map_or_else(String::new, csv_field))
            .collect();
        body.push_str(&fields.join(","));
        body.push('\n');
    }
    Ok((header, body))
}

fn age_of(meta: &std::fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    let e = env.clone();
    function(
        "list",
        &["location: String", "Array"],
        "The files of a location (`reports` or `drills`), sorted by name, as maps\n\
         `#{name, size, modified, age_seconds}` (`modified` in ISO 8601 UTC).",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, location: &str| -> Res<Array> {
            located(
                &ctx,
                (|| -> Res<Array> {
                    const F: &str = "fs::list";
                    let dir = location_dir(&e, F, location, false)?;
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        return Ok(Array::new());
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
                        let modified = meta
                            .modified()
                            .ok()
                            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok());
                        let mut map = Map::new();
                        map.insert("name".into(), name.clone().into());
                        map.insert(
                            "size".into(),
                            INT::try_from(meta.len()).unwrap_or(INT::MAX).into(),
                        );
                        let millis = modified
                            .map_or(0, |d| INT::try_from(d.as_millis()).unwrap_or(INT::MAX));
                        map.insert("modified".into(), super::time::iso_millis(millis).into());
                        map.insert(
                            "age_seconds".into(),
                            INT::try_from(age_of(&meta).as_secs())
                                .unwrap_or(INT::MAX)
                                .into(),
                        );
                        files.push((name, map));
                    }
                    files.sort_by(|a, b| a.0.cmp(&b.0));
                    Ok(files.into_iter().map(|(_, m)| m.into()).collect())
                })(),
            )
        },
    );

    if !env.grants.registers(crate::engine::Grant::Files) {
        return;
    }
    let e = env.clone();
    function(
        "write_text",
        &["location: String", "name: String", "text: String", "String"],
        "Writes (replaces) a text file in a location; returns its path relative to the state directory.\n\
         Needs `--allow-files`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, location: &str, name: &str, text: &str| -> Res<String> {
        located(&ctx, (|| -> Res<String> {
        const F: &str = "fs::write_text";
        let args = [Dynamic::from(location.to_owned()), Dynamic::from(name.to_owned()), Dynamic::from(text.to_owned())];
        write(&e, &ctx, F, location, name, &args, || Ok(text.to_owned()))
    })())
    });

    let e = env.clone();
    function(
        "write_json",
        &["location: String", "name: String", "value: ?", "String"],
        "Writes (replaces) any value as pretty JSON in a location; returns the path. Needs `--allow-files`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, location: &str, name: &str, value: Dynamic| -> Res<String> {
        located(&ctx, (|| -> Res<String> {
        const F: &str = "fs::write_json";
        let args = [Dynamic::from(location.to_owned()), Dynamic::from(name.to_owned()), value.clone()];
        write(&e, &ctx, F, location, name, &args, || {
            let mut text = serde_json::to_string_pretty(&dynamic_to_json(&value)).map_err(|err| misuse(F, err))?;
            text.push('\n');
            Ok(text)
        })
    })())
    });

    let e = env.clone();
    function(
        "write_csv",
        &["location: String", "name: String", "columns: Array", "rows: Array", "String"],
        "Writes (replaces) a CSV file: a header of `columns`, then one line per row map (missing keys are\n\
         empty). Returns the path. Needs `--allow-files`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, location: &str, name: &str, columns: Array, rows: Array| -> Res<String> {
        located(&ctx, (|| -> Res<String> {
            const F: &str = "fs::write_csv";
            let args = [location.into(), name.into(), columns.clone().into(), rows.clone().into()];
            write(&e, &ctx, F, location, name, &args, || {
                let (header, body) = csv_lines(F, &columns, &rows)?;
                Ok(format!("{header}\n{body}"))
            })
        })())
    },
    );

    let e = env.clone();
    function(
        "append_csv",
        &["location: String", "name: String", "columns: Array", "rows: Array", "String"],
        "Appends rows to a CSV file, writing the header first when the file is new; an existing file must\n\
         have the same header. Returns the path. Needs `--allow-files`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, location: &str, name: &str, columns: Array, rows: Array| -> Res<String> {
        located(&ctx, (|| -> Res<String> {
            const F: &str = "fs::append_csv";
            let args = [location.into(), name.into(), columns.clone().into(), rows.clone().into()];
            let dir = location_dir(&e, F, location, false)?;
            let path = file_path(F, &dir, name)?;
            write(&e, &ctx, F, location, name, &args, || {
                let (header, body) = csv_lines(F, &columns, &rows)?;
                match std::fs::read_to_string(&path) {
                    Ok(existing) => {
                        let first = existing.lines().next().unwrap_or_default();
                        if first != header {
                            return Err(misuse(F, format!("`{name}` has the header `{first}`, not `{header}`")));
                        }
                        let sep = if existing.ends_with('\n') || existing.is_empty() { "" } else { "\n" };
                        Ok(format!("{existing}{sep}{body}"))
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(format!("{header}\n{body}")),
                    Err(err) => Err(io(F, &path, &err)),
                }
            })
        })())
    },
    );

    let e = env.clone();
    function(
        "prune",
        &["location: String", "older_than_days: INT", "Array"],
        "Deletes the files of a location last modified more than `older_than_days` days ago (at least 1);\n\
         returns their names. Needs `--allow-files`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, location: &str, days: INT| -> Res<Array> {
        located(&ctx, (|| -> Res<Array> {
        const F: &str = "fs::prune";
        if days < 1 {
            return Err(misuse(F, format!("`older_than_days` must be at least 1, not {days}")));
        }
        let dir = location_dir(&e, F, location, false)?;
        let limit = Duration::from_secs(u64::try_from(days).unwrap_or(u64::MAX).saturating_mul(86_400));
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Array::new()) };
        let mut old: Vec<(String, Utf8PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only regular files: a symlink or directory here is not ours to delete.
            if meta.is_file() && age_of(&meta) > limit {
                old.push((name.clone(), dir.join(&name)));
            }
        }
        old.sort();
        let dry = e.dry_run(&ctx, F, &[&location.into(), &days.into()]);
        for (name, path) in &old {
            if dry {
                e.output.line(crate::engine::Stream::Stderr, &format!("    would delete backups/{location}/{name}"));
            } else {
                std::fs::remove_file(path).map_err(|err| io(F, path, &err))?;
            }
        }
        Ok(old.into_iter().map(|(name, _)| name.into()).collect())
    })())
    });
}

fn write(
    env: &Env,
    ctx: &NativeCallContext<'_>,
    function: &str,
    location: &str,
    name: &str,
    args: &[Dynamic],
    text: impl FnOnce() -> Res<String>,
) -> Res<String> {
    env.check_clock(function)?;
    let dir = location_dir(env, function, location, false)?;
    file_path(function, &dir, name)?;
    let text = text()?;
    let relative = format!("backups/{location}/{name}");
    if env.dry_run(ctx, function, &args.iter().collect::<Vec<_>>()) {
        return Ok(relative);
    }
    let dir = location_dir(env, function, location, true)?;
    let path = file_path(function, &dir, name)?;
    write_atomic(function, &path, &text)?;
    Ok(relative)
}
