//! `backup::` — pgBackRest backups of the stack: take one (granted), list the
//! sets, and verify one by restoring it into a throw-away container (fresh
//! volumes, the repository read-only, no network) and checking it there. The
//! live cluster is never touched by `info` or `verify`.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module, NativeCallContext, FLOAT, INT};

use super::{failure, function, located, misuse, Env, Res};
use crate::backend::{BackupSetInfo, VerifyOutcome};

fn int(n: u64) -> Dynamic {
    INT::try_from(n).unwrap_or(INT::MAX).into()
}

/// A backup set as scripts see it.
pub(crate) fn set_map(set: BackupSetInfo) -> Map {
    let mut map = Map::new();
    map.insert(
        "started_at".into(),
        super::time::iso_millis(set.started.saturating_mul(1000)).into(),
    );
    map.insert(
        "stopped_at".into(),
        super::time::iso_millis(set.stopped.saturating_mul(1000)).into(),
    );
    map.insert("seconds".into(), (set.stopped - set.started).into());
    map.insert("label".into(), set.label.into());
    map.insert("type".into(), set.kind.into());
    map.insert("started".into(), set.started.into());
    map.insert("stopped".into(), set.stopped.into());
    map.insert("database_bytes".into(), int(set.database_bytes));
    map.insert("repo_delta_bytes".into(), int(set.repo_delta_bytes));
    map.insert("lsn_stop".into(), set.lsn_stop.into());
    map
}

fn verify_map(report: VerifyOutcome) -> Map {
    let mut map = Map::new();
    map.insert("passed".into(), report.failures.is_empty().into());
    map.insert("label".into(), report.label.into());
    map.insert(
        "restore_seconds".into(),
        (report.restore_seconds as FLOAT).into(),
    );
    map.insert(
        "recovery_seconds".into(),
        (report.recovery_seconds as FLOAT).into(),
    );
    map.insert(
        "check_seconds".into(),
        (report.check_seconds as FLOAT).into(),
    );
    map.insert(
        "failures".into(),
        report
            .failures
            .into_iter()
            .map(Dynamic::from)
            .collect::<Array>()
            .into(),
    );
    map.insert("amcheck".into(), report.amcheck.into());
    map.insert("checksums".into(), report.checksums.into());
    map.insert("tables_compared".into(), int(report.tables_compared));
    map.insert("count_mismatches".into(), int(report.count_mismatches));
    map.insert("databases_checked".into(), int(report.databases_checked));
    map
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
    let e = env.clone();
    function(
        "info",
        &["Array"],
        "The backup sets in the repository, oldest first, as maps `#{label, type, started, stopped,\n\
         started_at, stopped_at, seconds, database_bytes, repo_delta_bytes, lsn_stop}` (`started` and\n\
         `stopped` in Unix seconds, `*_at` in ISO 8601 UTC). Throws `#{kind: \"backup\"}` when\n\
         pgBackRest cannot be asked (e.g. the stack is down).",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>| -> Res<Array> {
        located(&ctx, (|| -> Res<Array> {
            const F: &str = "backup::info";
            e.check_clock(F)?;
            let sets = e.backend.backup_info().map_err(|f| failure(F, f))?;
            Ok(sets.into_iter().map(|s| set_map(s).into()).collect())
        })())
    });

    let e = env.clone();
    function(
        "verify",
        &["options: Map", "Map"],
        "Restores a backup set into a throw-away container (fresh volumes, the repository read-only,\n\
         no network), recovers it to consistency and checks it: `pg_amcheck` on every database, row\n\
         counts against those recorded at backup time, `pg_checksums`. The live cluster is not touched.\n\
         Options: `set` (a label; default the latest), `repo_copy` (verify a copy of the repository\n\
         in volume `<project>_pgbackrest_<repo_copy>` instead). Returns `#{passed, label,\n\
         restore_seconds, recovery_seconds, check_seconds, failures, amcheck, checksums,\n\
         tables_compared, count_mismatches, databases_checked}`; a backup that fails its checks is a\n\
         result (`passed: false`), not an error. Throws `#{kind: \"not_found\"}` for an unknown set.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, options: Map| -> Res<Map> {
        located(&ctx, (|| -> Res<Map> {
            const F: &str = "backup::verify";
            e.check_clock(F)?;
            check_keys(F, &options, &["set", "repo_copy"])?;
            let set = string_option(F, &options, "set")?;
            if let Some(label) = &set {
                if !plain(label, 80, false) {
                    return Err(misuse(F, format!("`{label}` is not a backup set label (e.g. `20240501-120000F`)")));
                }
            }
            let copy = string_option(F, &options, "repo_copy")?;
            if let Some(copy) = &copy {
                if !plain(copy, 40, false) || copy.chars().any(|c| c.is_ascii_uppercase()) {
                    return Err(misuse(F, format!("`repo_copy` `{copy}`: use at most 40 characters from a-z, 0-9, `_`, `-`")));
                }
            }
            let report = e.backend.backup_verify(set.as_deref(), copy.as_deref()).map_err(|f| failure(F, f))?;
            Ok(verify_map(report))
        })())
    });

    if !env.grants.registers(crate::engine::Grant::Backups) {
        return;
    }
    let e = env.clone();
    function(
        "run",
        &["options: Map", "Map"],
        "Takes a pgBackRest backup, `#{type: \"full\"}`, `\"diff\"` or `\"incr\"`, and records every\n\
         table's row count beside it (for `backup::verify`). Returns the new set as for `backup::info`.\n\
         Throws `#{kind: \"backup\"}` when pgBackRest fails. Needs `--allow-backups`; a dry run\n\
         returns a set labelled `dry-run`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, options: Map| -> Res<Map> {
        located(&ctx, (|| -> Res<Map> {
            const F: &str = "backup::run";
            e.check_clock(F)?;
            check_keys(F, &options, &["type"])?;
            let kind = string_option(F, &options, "type")?
                .ok_or_else(|| misuse(F, "pass the backup type: `#{type: \"full\"}`, `\"diff\"` or `\"incr\"`"))?;
            if !["full", "diff", "incr"].contains(&kind.as_str()) {
                return Err(misuse(F, format!("backup type `{kind}`: use `full`, `diff` or `incr`")));
            }
            if e.dry_run(&ctx, F, &[&options.clone().into()]) {
                return Ok(set_map(BackupSetInfo { label: "dry-run".into(), kind, ..BackupSetInfo::default() }));
            }
            let set = e.backend.backup_run(&kind).map_err(|f| failure(F, f))?;
            Ok(set_map(set))
        })())
    });
}
