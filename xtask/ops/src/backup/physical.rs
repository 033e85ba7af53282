//! Physical backups with pgBackRest (stanza `main`, repository in the stack's
//! `pgbackrest` volume): taking them with streamed progress, `info`, `check`,
//! `expire`, and choosing a set. The per-table row counts recorded beside each
//! backup for `verify` live in `counts` (re-exported here).

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::docker::ExecIo;
use crate::process;
use crate::progress::Progress;
use crate::stack::Stack;

pub use super::counts::{
    activity_file, compare_counts, counts_file, fingerprints, recorded_activity, recorded_counts,
    row_counts, Activity, CountComparison, Fingerprints, RowCounts, FINGERPRINT_SQL, ROW_COUNT_SQL,
};

pub const STANZA: &str = "main";

/// The kinds of pgBackRest backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Full,
    Diff,
    Incr,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Diff => "diff",
            Kind::Incr => "incr",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = anyhow::Error;

    /// `full`, `diff` or `incr`, as pgBackRest spells them.
    fn from_str(kind: &str) -> anyhow::Result<Kind> {
        [Kind::Full, Kind::Diff, Kind::Incr]
            .into_iter()
            .find(|k| k.as_str() == kind)
            .with_context(|| format!("backup type `{kind}`: use `full`, `diff` or `incr`"))
    }
}

/// One backup set, from `pgbackrest info --output=json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BackupSet {
    pub label: String,
    pub kind: String,
    pub started: i64,
    pub stopped: i64,
    /// Size of the cluster when it was backed up.
    pub database_bytes: u64,
    /// Size of this set in the repository (compressed, only what it added).
    pub repo_delta_bytes: u64,
    pub lsn_stop: String,
}

/// `pgbackrest <args>` in the running postgres container, output streamed as progress.
fn pgbackrest_streamed(
    stack: &Stack,
    args: &[&str],
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let mut argv = vec!["pgbackrest", "--stanza", STANZA, "--log-level-console=info"];
    argv.extend_from_slice(args);
    let mut lines = process::Lines::new(|line: &str| {
        // pgBackRest's info lines: "… P00   INFO: backup file …"; keep the message.
        let message = line.split_once("INFO: ").map_or(line, |(_, rest)| rest);
        progress.detail(message);
    });
    let status = stack.docker.exec_io(
        &stack.container(),
        &argv,
        ExecIo {
            user: None,
            stdin: None,
            stdout: &mut lines,
            stderr: None,
            tick: None,
        },
    )?;
    let tail = lines.finish();
    if status.exit_code != 0 {
        bail!(
            "`pgbackrest {}` failed; its last output:\n{tail}",
            args.join(" ")
        );
    }
    Ok(())
}

/// `pgbackrest <args>` in the running postgres container; returns stdout.
fn pgbackrest(stack: &Stack, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["pgbackrest", "--stanza", STANZA];
    argv.extend_from_slice(args);
    let output = stack.docker.exec(&stack.container(), &argv, None)?;
    if output.exit_code != 0 {
        bail!(
            "`{}` failed:\n{}{}",
            argv.join(" "),
            output.stdout,
            output.stderr.trim_end()
        );
    }
    Ok(output.stdout)
}

/// Takes a backup (pgBackRest's default when `kind` is `None`: incremental, or
/// full when none exists) and records row counts beside it.
pub fn backup(
    stack: &Stack,
    kind: Option<Kind>,
    progress: &dyn Progress,
) -> anyhow::Result<BackupSet> {
    let type_arg = kind.map(|kind| format!("--type={}", kind.as_str()));
    let mut args: Vec<&str> = type_arg.iter().map(String::as_str).collect();
    args.push("backup");
    progress.status(
        "Backing up",
        &format!(
            "stack `{}` ({})",
            stack.config.project(),
            kind.map_or("auto", Kind::as_str)
        ),
    );
    let started = std::time::Instant::now();
    let before = fingerprints(stack)?;
    // The row counts run while pgBackRest copies (it is mostly one process per
    // large file). The counts' snapshot and the backup's end are two moments;
    // the fingerprints before both and after both bracket every write between
    // them, and a table written to is only a warning when verified.
    let (copied, counted) = std::thread::scope(|scope| {
        let counting = scope.spawn(|| row_counts(stack));
        let copied = pgbackrest_streamed(stack, &args, progress);
        let counted = counting
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the row count thread panicked")));
        (copied, counted)
    });
    let both_done = std::time::Instant::now();
    copied.context("the backup failed; the previous backups are untouched")?;
    let counts = counted?;
    let set = info(stack)?
        .pop()
        .context("pgBackRest reports no backup after a successful backup")?;
    // Backends flush their table statistics about once a second: let the writes
    // committed before both the copy and the counts ended reach the fingerprints
    // read next.
    if let Some(rest) = std::time::Duration::from_millis(1500).checked_sub(both_done.elapsed()) {
        std::thread::sleep(rest);
    }
    let activity = Activity {
        before,
        after: fingerprints(stack)?,
    };
    crate::fsutil::ensure_real_dir(&stack.paths.backups_dir(), 0o750)?;
    let file = counts_file(stack, &set.label);
    crate::fsutil::ensure_real_dir(file.parent().expect("under backups/"), 0o750)?;
    crate::fsutil::write_atomic(
        &file,
        serde_json::to_string_pretty(&counts)?.as_bytes(),
        0o640,
    )?;
    crate::fsutil::write_atomic(
        &activity_file(stack, &set.label),
        serde_json::to_string_pretty(&activity)?.as_bytes(),
        0o640,
    )?;
    progress.status(
        "Backed up",
        &format!(
            "{} ({}) {:.1} MB of database in {:.1}s",
            set.label,
            set.kind,
            set.database_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(set)
}

#[derive(Deserialize)]
struct InfoStanza {
    #[serde(default)]
    backup: Vec<InfoBackup>,
}

#[derive(Deserialize)]
struct InfoBackup {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    timestamp: InfoTimestamp,
    info: InfoSizes,
    lsn: InfoLsn,
}

#[derive(Deserialize)]
struct InfoTimestamp {
    start: i64,
    stop: i64,
}

#[derive(Deserialize)]
struct InfoSizes {
    size: u64,
    repository: InfoRepo,
}

#[derive(Deserialize)]
struct InfoRepo {
    delta: u64,
}

#[derive(Deserialize)]
struct InfoLsn {
    stop: String,
}

/// Parses `pgbackrest info --output=json`, oldest set first.
pub fn parse_info(json: &str) -> anyhow::Result<Vec<BackupSet>> {
    let stanzas: Vec<InfoStanza> =
        serde_json::from_str(json).context("unexpected `pgbackrest info` output")?;
    Ok(stanzas
        .into_iter()
        .flat_map(|stanza| stanza.backup)
        .map(|b| BackupSet {
            label: b.label,
            kind: b.kind,
            started: b.timestamp.start,
            stopped: b.timestamp.stop,
            database_bytes: b.info.size,
            repo_delta_bytes: b.info.repository.delta,
            lsn_stop: b.lsn.stop,
        })
        .collect())
}

/// The backup sets in the repository, oldest first.
pub fn info(stack: &Stack) -> anyhow::Result<Vec<BackupSet>> {
    parse_info(&pgbackrest(stack, &["info", "--output=json"])?)
}

/// pgBackRest's own text report.
pub fn info_text(stack: &Stack) -> anyhow::Result<String> {
    pgbackrest(stack, &["info"])
}

/// `pgbackrest check`: the archive works end to end (forces a WAL switch and waits for it).
pub fn check(stack: &Stack) -> anyhow::Result<String> {
    pgbackrest(stack, &["--log-level-console=info", "check"])
        .context("the WAL archive is not working; see `cargo xtask logs`")
}

/// `pgbackrest expire` with the configured retention.
pub fn expire(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<()> {
    progress.status(
        "Expiring",
        &format!(
            "keeping {} full and {} differential backup(s)",
            stack.config.get("PGBACKREST_RETENTION_FULL"),
            stack.config.get("PGBACKREST_RETENTION_DIFF")
        ),
    );
    pgbackrest_streamed(stack, &["expire"], progress)
}

/// Resolves `--set` (or the latest set) against the repository.
pub fn choose_set(stack: &Stack, set: Option<&str>) -> anyhow::Result<BackupSet> {
    let sets = info(stack)?;
    match set {
        Some(label) => find_set(&sets, label).cloned(),
        None => sets
            .into_iter()
            .last()
            .context("the repository has no backup yet; take one with `cargo xtask backup`"),
    }
}

/// The set labelled `label`, or an error saying how to list them.
pub fn find_set<'a>(sets: &'a [BackupSet], label: &str) -> anyhow::Result<&'a BackupSet> {
    sets.iter().find(|s| s.label == label).with_context(|| {
        format!(
            "no backup set `{label}` in the repository; list them with `cargo xtask backup info`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_json_is_parsed_oldest_first() {
        let json = r#"[{"name":"main","backup":[
          {"label":"20261124-070000F","type":"full","timestamp":{"start":10,"stop":20},
           "info":{"size":1000,"delta":1000,"repository":{"size":300,"delta":300}},
           "lsn":{"start":"0/2000028","stop":"0/2000100"}},
          {"label":"20261124-070000F_20261124-080000I","type":"incr","timestamp":{"start":30,"stop":40},
           "info":{"size":1100,"delta":100,"repository":{"size":320,"delta":20}},
           "lsn":{"start":"0/3000028","stop":"0/3000100"}}],
          "status":{"code":0,"message":"ok"}}]"#;
        let sets = parse_info(json).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1].kind, "incr");
        assert_eq!(sets[1].repo_delta_bytes, 20);
        assert_eq!(sets[0].lsn_stop, "0/2000100");
        assert!(parse_info(r#"[{"name":"main","status":{"code":1}}]"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn count_mismatches_are_named() {
        let recorded: RowCounts = [(
            "app".to_owned(),
            [("public.t".to_owned(), 3), ("public.u".to_owned(), 1)].into(),
        )]
        .into();
        let restored: RowCounts = [("app".to_owned(), [("public.t".to_owned(), 2)].into())].into();
        let result = compare_counts(&recorded, &restored, None);
        assert_eq!(result.tables, 2);
        assert_eq!(
            result.mismatches,
            vec![
                "`app`.`public.t`: 3 row(s) counted after the backup, 2 in the restored copy"
                    .to_owned(),
                "`app`.`public.u`: 1 row(s) counted after the backup, missing in the restored copy"
                    .to_owned(),
            ]
        );
        assert!(result.warnings.is_empty());

        // `t` was written to in the window, `u` was not: only `t` is explained drift.
        let quiet = |n: &str| {
            [(
                "app".to_owned(),
                [
                    ("public.t".to_owned(), n.to_owned()),
                    ("public.u".to_owned(), "5/1".to_owned()),
                ]
                .into(),
            )]
            .into()
        };
        let activity = Activity {
            before: quiet("7/1"),
            after: quiet("9/1"),
        };
        let result = compare_counts(&recorded, &restored, Some(&activity));
        assert_eq!(result.mismatches.len(), 1, "{result:?}");
        assert!(result.mismatches[0].contains("public.u"));
        assert_eq!(result.warnings.len(), 1);
        assert!(result.warnings[0].contains("public.t") && result.warnings[0].contains("drift"));
        // A truncate moves only the file node; a table created in the window has no `before`.
        assert!(Activity {
            before: quiet("7/1"),
            after: quiet("7/2")
        }
        .changed("app", "public.t"));
        assert!(Activity {
            before: Fingerprints::new(),
            after: quiet("7/1")
        }
        .changed("app", "public.t"));
        assert!(!Activity {
            before: quiet("7/1"),
            after: quiet("7/1")
        }
        .changed("app", "public.t"));
    }
}
