//! Physical backups with pgBackRest (stanza `main`, repository in the stack's
//! `pgbackrest` volume): taking them with streamed progress, `info`, `check`,
//! `expire`, and the per-table row counts recorded beside each backup for
//! `verify` to compare against.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::process;
use crate::progress::Progress;
use crate::stack::Stack;

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

/// One backup set, from `pgbackrest info --output=json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

/// Row counts by database, then `schema.table`.
pub type RowCounts = BTreeMap<String, BTreeMap<String, i64>>;

/// The same query counts rows on the live cluster (recording) and on a restored
/// copy (verifying): every ordinary table outside the system schemas.
pub const ROW_COUNT_SQL: &str = "\
SELECT n.nspname || '.' || c.relname, \
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint \
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
ORDER BY 1";

/// Databases worth counting or checking: everything that accepts connections but the templates.
pub const DATABASES_SQL: &str =
    "SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1";

/// `pgbackrest <args>` in the running postgres container, output streamed as progress.
fn pgbackrest_streamed(
    stack: &Stack,
    args: &[&str],
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let container = stack.container();
    let mut argv = vec![
        "exec",
        container.as_str(),
        "pgbackrest",
        "--stanza",
        STANZA,
        "--log-level-console=info",
    ];
    argv.extend_from_slice(args);
    process::stream(
        duct::cmd("docker", &argv),
        &format!("pgbackrest {}", args.join(" ")),
        |line| {
            // pgBackRest's info lines: "… P00   INFO: backup file …"; keep the message.
            let message = line.split_once("INFO: ").map_or(line, |(_, rest)| rest);
            progress.detail(message);
        },
    )
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
    pgbackrest_streamed(stack, &args, progress)
        .context("the backup failed; the previous backups are untouched")?;
    let set = info(stack)?
        .pop()
        .context("pgBackRest reports no backup after a successful backup")?;
    let counts = row_counts(stack)?;
    let file = counts_file(stack, &set.label);
    crate::fsutil::write_atomic(
        &file,
        serde_json::to_string_pretty(&counts)?.as_bytes(),
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

/// Where the row counts of a backup set are kept (host side, under backups/).
pub fn counts_file(stack: &Stack, label: &str) -> Utf8PathBuf {
    stack
        .paths
        .backups_dir()
        .join("pgbackrest")
        .join(format!("{label}.rowcounts.json"))
}

/// The recorded row counts of a set, if any.
pub fn recorded_counts(stack: &Stack, label: &str) -> anyhow::Result<Option<RowCounts>> {
    let file = counts_file(stack, label);
    if !file.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("failed to read `{file}`"))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("`{file}` is not valid JSON"))?,
    ))
}

/// Exact row counts of every table in every database of the live cluster.
pub fn row_counts(stack: &Stack) -> anyhow::Result<RowCounts> {
    let mut admin = stack.connect("postgres")?;
    let databases: Vec<String> = admin
        .query(DATABASES_SQL, &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut counts = RowCounts::new();
    for database in databases {
        let mut client = stack.connect(&database)?;
        let tables = client
            .query(ROW_COUNT_SQL, &[])
            .with_context(|| format!("failed to count rows in `{database}`"))?
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
            .collect();
        counts.insert(database, tables);
    }
    Ok(counts)
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
        Some(label) => sets.into_iter().find(|s| s.label == label).with_context(|| {
            format!("no backup set `{label}` in the repository; list them with `cargo xtask backup info`")
        }),
        None => sets.into_iter().last().context("the repository has no backup yet; take one with `cargo xtask backup`"),
    }
}

/// What a row-count comparison found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountComparison {
    pub tables: usize,
    pub mismatches: Vec<String>,
}

/// Compares counts recorded at backup time with counts of a restored copy.
pub fn compare_counts(recorded: &RowCounts, restored: &RowCounts) -> CountComparison {
    let mut result = CountComparison::default();
    for (database, tables) in recorded {
        for (table, expected) in tables {
            result.tables += 1;
            let got = restored.get(database).and_then(|t| t.get(table));
            if got != Some(expected) {
                result.mismatches.push(format!(
                    "`{database}`.`{table}`: {expected} row(s) at backup time, {} in the restored copy",
                    got.map_or_else(|| "missing".to_owned(), ToString::to_string)
                ));
            }
        }
    }
    result
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
        let result = compare_counts(&recorded, &restored);
        assert_eq!(result.tables, 2);
        assert_eq!(
            result.mismatches,
            vec![
                "`app`.`public.t`: 3 row(s) at backup time, 2 in the restored copy".to_owned(),
                "`app`.`public.u`: 1 row(s) at backup time, missing in the restored copy"
                    .to_owned(),
            ]
        );
    }
}
