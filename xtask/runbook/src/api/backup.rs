//! `backup::` — pgBackRest backups of the stack: take one (granted), list the
//! sets, and verify one by restoring it into a throw-away container (fresh
//! volumes, the repository read-only, no network) and checking it there. The
//! live cluster is never touched by `info` or `verify`.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module};

use super::{misuse, primitive, to_map, Env, Res};
use crate::backend::{BackupSetInfo, VerifyOutcome};

/// A backup set as scripts see it (`backup::info`, `backup::run`).
#[derive(serde::Serialize)]
struct SetView {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    /// Unix seconds.
    started: i64,
    stopped: i64,
    /// ISO 8601 UTC.
    started_at: String,
    stopped_at: String,
    seconds: i64,
    database_bytes: u64,
    repo_delta_bytes: u64,
    lsn_stop: String,
}

pub(crate) fn set_map(function: &str, set: BackupSetInfo) -> Res<Map> {
    let view = SetView {
        started_at: super::time::iso_millis(set.started.saturating_mul(1000)),
        stopped_at: super::time::iso_millis(set.stopped.saturating_mul(1000)),
        seconds: set.stopped - set.started,
        label: set.label,
        kind: set.kind,
        started: set.started,
        stopped: set.stopped,
        database_bytes: set.database_bytes,
        repo_delta_bytes: set.repo_delta_bytes,
        lsn_stop: set.lsn_stop,
    };
    to_map(function, &view)
}

/// What `backup::verify` returns: the outcome and whether it passed.
#[derive(serde::Serialize)]
struct VerifyView {
    passed: bool,
    #[serde(flatten)]
    outcome: VerifyOutcome,
}

/// Refuses keys a primitive does not know (a typo must not silently become a default).
pub(crate) fn check_keys(function: &str, options: &Map, known: &[&str]) -> Res<()> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            let known = known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(misuse(
                function,
                format!("unknown option `{key}`; known: {known}"),
            ));
        }
    }
    Ok(())
}

/// An optional string option.
pub(crate) fn string_option(function: &str, options: &Map, key: &str) -> Res<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(value) if value.is_unit() => Ok(None),
        Some(value) => value.clone().into_string().map(Some).map_err(|t| {
            misuse(
                function,
                format!("option `{key}` must be a string, not a `{t}`"),
            )
        }),
    }
}

/// Letters, digits, `_` and `-` (and `.` when `dot`), 1 to `max` characters.
pub(crate) fn plain(value: &str, max: usize, dot: bool) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dot && c == '.'))
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    primitive!(
        module,
        env,
        "backup::info",
        &["Array"],
        "The backup sets in the repository, oldest first, as maps `#{label, type, started, stopped,\n\
         started_at, stopped_at, seconds, database_bytes, repo_delta_bytes, lsn_stop}` (`started` and\n\
         `stopped` in Unix seconds, `*_at` in ISO 8601 UTC). Throws `#{kind: \"backup\"}` when\n\
         pgBackRest cannot be asked (e.g. the stack is down).",
        |call| -> Array {
            let sets = call.backend.backup_info().map_err(|f| call.fail(f))?;
            sets.into_iter()
                .map(|s| set_map(call.name, s).map(Dynamic::from))
                .collect()
        }
    );

    primitive!(
        module,
        env,
        "backup::verify",
        &["options: Map", "Map"],
        "Restores a backup set into a throw-away container (fresh volumes, the repository read-only,\n\
         no network), recovers it to consistency and checks it: `pg_amcheck` on every database, row\n\
         counts against those recorded at backup time, `pg_checksums`. The live cluster is not touched.\n\
         Options: `set` (a label; default the latest), `repo_copy` (verify a copy of the repository\n\
         in volume `<project>_pgbackrest_<repo_copy>` instead). Returns `#{passed, label,\n\
         restore_seconds, recovery_seconds, check_seconds, failures, amcheck, checksums,\n\
         tables_compared, count_mismatches, databases_checked}`; a backup that fails its checks is a\n\
         result (`passed: false`), not an error. Throws `#{kind: \"not_found\"}` for an unknown set.",
        |call, options: Map| -> Map {
            check_keys(call.name, &options, &["set", "repo_copy"])?;
            let set = string_option(call.name, &options, "set")?;
            if let Some(label) = &set {
                if !plain(label, 80, false) {
                    return Err(call.misuse(format!(
                        "`{label}` is not a backup set label (e.g. `20240501-120000F`)"
                    )));
                }
            }
            let copy = string_option(call.name, &options, "repo_copy")?;
            if let Some(copy) = &copy {
                if !plain(copy, 40, false) || copy.chars().any(|c| c.is_ascii_uppercase()) {
                    return Err(call.misuse(format!(
                        "`repo_copy` `{copy}`: use at most 40 characters from a-z, 0-9, `_`, `-`"
                    )));
                }
            }
            let outcome = call
                .backend
                .backup_verify(set.as_deref(), copy.as_deref())
                .map_err(|f| call.fail(f))?;
            let view = VerifyView {
                passed: outcome.failures.is_empty(),
                outcome,
            };
            to_map(call.name, &view)
        }
    );

    if !env.grants.registers(crate::engine::Grant::Backups) {
        return;
    }
    primitive!(
        module,
        env,
        "backup::run",
        &["options: Map", "Map"],
        "Takes a pgBackRest backup, `#{type: \"full\"}`, `\"diff\"` or `\"incr\"`, and records every\n\
         table's row count beside it (for `backup::verify`). Returns the new set as for `backup::info`.\n\
         Throws `#{kind: \"backup\"}` when pgBackRest fails. Needs `--allow-backups`; a dry run\n\
         returns a set labelled `dry-run`.",
        |call, options: Map| -> Map {
            check_keys(call.name, &options, &["type"])?;
            let kind = string_option(call.name, &options, "type")?.ok_or_else(|| {
                call.misuse("pass the backup type: `#{type: \"full\"}`, `\"diff\"` or `\"incr\"`")
            })?;
            if let Err(err) = kind.parse::<core_data_ops::backup::physical::Kind>() {
                return Err(call.misuse(format!("{err:#}")));
            }
            if call.dry_run(&[&options.clone().into()]) {
                let set = BackupSetInfo {
                    label: "dry-run".into(),
                    kind,
                    ..BackupSetInfo::default()
                };
                return set_map(call.name, set);
            }
            let set = call.backend.backup_run(&kind).map_err(|f| call.fail(f))?;
            set_map(call.name, set)
        }
    );
}
