//! Arguments of the backup commands: `backup take|verify|info|check|expire`,
//! `restore`, `qa create|list|drop`, and the logical `dump`, `dump-sql`,
//! `restore-dump`, `dump-status`. The old spellings (`backup --type …`,
//! `backup --verify`, `provision-qa …`, `dump-status --json`) are hidden
//! aliases, mapped onto the subcommands here (`Backup::action`,
//! `ProvisionQa::command`) so `cmd/` sees one spelling.

use camino::Utf8PathBuf;
use clap::{Args, Subcommand, ValueEnum};

use super::FormatArg;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Backup {
    #[command(subcommand)]
    pub(crate) action: Option<BackupAction>,
    /// Old spelling of `backup take --type`.
    #[arg(long = "type", value_name = "TYPE", value_enum, hide = true)]
    pub(crate) kind: Option<BackupKind>,
    /// Old spelling of `backup verify` (alone) or `backup take --verify` (with `--type`).
    #[arg(long, hide = true)]
    pub(crate) verify: bool,
    /// Old spelling of `backup verify --set`.
    #[arg(long, value_name = "LABEL", requires = "verify", hide = true)]
    pub(crate) set: Option<String>,
}

impl Backup {
    /// The subcommand, with the old flag spellings mapped onto it: `backup` alone
    /// takes a backup, `backup --verify` alone verifies one.
    pub(crate) fn action(&self) -> BackupAction {
        if let Some(action) = &self.action {
            return action.clone();
        }
        if self.verify && self.kind.is_none() {
            return BackupAction::Verify(BackupVerify {
                set: self.set.clone(),
                quick: false,
            });
        }
        BackupAction::Take(BackupTake {
            kind: self.kind,
            verify: self.verify,
            quick: false,
            verify_set: self.set.clone(),
        })
    }
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum BackupAction {
    /// Take a backup (progress shown) and record each table's row count beside it. The default.
    Take(BackupTake),
    /// Verify a set by restoring it into a throw-away container and checking it; exits 1 if a check fails.
    Verify(BackupVerify),
    /// List the backup sets in the repository.
    Info(BackupInfo),
    /// Check that WAL archiving works end to end.
    Check,
    /// Remove backups (and their WAL) beyond the configured retention.
    Expire,
}

/// The kinds of pgBackRest backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackupKind {
    Full,
    Diff,
    Incr,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BackupTake {
    /// Backup type (default: incr, or full when there is none).
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    pub(crate) kind: Option<BackupKind>,
    /// Then verify the backup just taken, as `backup verify` does.
    #[arg(long)]
    pub(crate) verify: bool,
    /// With `--verify`: check the index structure only, as `backup verify --quick`.
    #[arg(long, requires = "verify")]
    pub(crate) quick: bool,
    /// The set to verify instead of the one just taken (only the old spelling
    /// `backup --type T --verify --set LABEL` sets it).
    #[arg(skip)]
    pub(crate) verify_set: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BackupVerify {
    /// The backup set to verify (a label from `backup info`; default: the latest).
    #[arg(long, value_name = "LABEL")]
    pub(crate) set: Option<String>,
    /// Skip looking every heap tuple up in its B-tree indexes (`pg_amcheck
    /// --heapallindexed`). Still checked: restore, recovery, every heap page
    /// and tuple, the B-tree structure, row counts and every page checksum.
    /// Not caught then: an index that lacks entries. The full check is one
    /// serial pass over the table per index (about 10 CPU seconds per GB of
    /// table per index on a 2-core reference machine); `--quick` keeps verify
    /// near the backup's own time. Use the full check for drills.
    #[arg(long)]
    pub(crate) quick: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BackupInfo {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct Restore {
    /// Restore this backup set (default: the latest); alone, stops at the set's consistent point.
    #[arg(long, value_name = "LABEL")]
    pub(crate) set: Option<String>,
    /// Recover up to this time, then promote. A date, a time and a zone:
    /// `2026-11-24 07:00:00+00`, `2026-11-24T07:00:00Z`, `2026-11-24 08:00:00+01:00`.
    /// It must fall after the end of the earliest backup and not after the newest WAL.
    #[arg(long, value_name = "TIMESTAMP")]
    pub(crate) target_time: Option<String>,
    /// Delete the set-aside old data once the restored server is healthy.
    #[arg(long)]
    pub(crate) discard_old: bool,
    /// Restore even when the running server cannot archive its WAL (recent commits may be lost).
    #[arg(long)]
    pub(crate) force: bool,
    /// Do it. Without this, the command explains what it would do and exits.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum QaCommand {
    /// Clone one database from a fresh differential backup into a separate QA container
    /// (its own volumes and port, archiving off).
    Create(QaCreate),
    /// List this stack's clones.
    List,
    /// Remove a clone, its container and volumes.
    Drop(QaDrop),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct QaCreate {
    /// The database to clone.
    pub(crate) database: String,
    /// Name of the clone (default: `qa_<database>`).
    #[arg(long)]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct QaDrop {
    /// The clone to remove (`qa list` shows them).
    pub(crate) name: String,
}

/// The old spelling: `provision-qa DB [--name NAME]`, `provision-qa --list`,
/// `provision-qa --drop NAME`.
#[derive(Debug, Args)]
pub(crate) struct ProvisionQa {
    /// The database to clone.
    #[arg(required_unless_present_any = ["list", "drop"])]
    pub(crate) database: Option<String>,
    /// Name of the clone (default: `qa_<database>`).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// List this stack's clones.
    #[arg(long, conflicts_with_all = ["database", "drop"])]
    pub(crate) list: bool,
    /// Remove the named clone, its container and volumes.
    #[arg(long, value_name = "NAME", conflicts_with = "database")]
    pub(crate) drop: Option<String>,
}

impl ProvisionQa {
    /// The `qa` subcommand this spelling means.
    pub(crate) fn command(&self) -> QaCommand {
        if self.list {
            QaCommand::List
        } else if let Some(name) = &self.drop {
            QaCommand::Drop(QaDrop { name: name.clone() })
        } else {
            QaCommand::Create(QaCreate {
                database: self.database.clone().expect("clap requires a database"),
                name: self.name.clone(),
            })
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct Dump {
    /// Database to dump (custom format, zstd-compressed; restore it with `restore-dump`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub(crate) database: Option<String>,
    /// Every database (templates excluded) plus the globals, into `backups/all-<UTC timestamp>/`.
    #[arg(long)]
    pub(crate) all: bool,
    /// Write here instead of `backups/<db>-<UTC timestamp>.dump` (must not exist).
    #[arg(long, short, value_name = "FILE", conflicts_with = "all")]
    pub(crate) output: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DumpSql {
    /// Database to dump as plain SQL.
    pub(crate) database: String,
    /// Write here instead of `backups/<db>-<UTC timestamp>.sql` (must not exist).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreDump {
    /// A file written by `dump` (custom format) or `dump-sql` (plain SQL).
    pub(crate) file: Utf8PathBuf,
    /// Database to restore into; a new name, or an existing one with `--yes`.
    pub(crate) database: String,
    /// Replace an existing database (its sessions are ended; it is dropped only after the restored copy is complete).
    #[arg(long)]
    pub(crate) yes: bool,
    /// Parallel restore jobs for custom-format files under `backups/` (default: the container's CPUs, at most 8).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) jobs: Option<u32>,
    /// Restore a file core_data did not write (no matching `<file>.sha256` beside it). Its SQL runs as the
    /// superuser: only for files you trust. psql meta-commands stay refused either way.
    #[arg(long)]
    pub(crate) trust: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DumpStatus {
    #[command(flatten)]
    pub(crate) format: FormatArg,
    /// Old spelling of `--format json`.
    #[arg(long, hide = true)]
    pub(crate) json: bool,
}

impl DumpStatus {
    pub(crate) fn json(&self) -> bool {
        self.json || self.format.json()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::flags::{Command, Xtask};

    fn parse(args: &[&str]) -> Command {
        Xtask::try_parse_from(["xtask"].iter().chain(args))
            .unwrap_or_else(|err| panic!("{args:?}: {err}"))
            .command
    }

    fn backup(args: &[&str]) -> BackupAction {
        match parse(args) {
            Command::Backup(backup) => backup.action(),
            other => panic!("not a backup: {other:?}"),
        }
    }

    #[test]
    fn the_definitions_are_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn old_backup_spellings_map_onto_subcommands() {
        let take = |kind, verify, verify_set: Option<&str>| {
            BackupAction::Take(BackupTake {
                kind,
                verify,
                quick: false,
                verify_set: verify_set.map(str::to_owned),
            })
        };
        let cases: &[(&[&str], BackupAction)] = &[
            (&["backup"], take(None, false, None)),
            (&["backup", "take"], take(None, false, None)),
            (
                &["backup", "--type", "full"],
                take(Some(BackupKind::Full), false, None),
            ),
            (
                &["backup", "take", "--type", "diff", "--verify"],
                take(Some(BackupKind::Diff), true, None),
            ),
            (
                &["backup", "--type", "incr", "--verify", "--set", "L"],
                take(Some(BackupKind::Incr), true, Some("L")),
            ),
            (
                &["backup", "--verify"],
                BackupAction::Verify(BackupVerify {
                    set: None,
                    quick: false,
                }),
            ),
            (
                &["backup", "--verify", "--set", "L"],
                BackupAction::Verify(BackupVerify {
                    set: Some("L".into()),
                    quick: false,
                }),
            ),
            (
                &["backup", "verify", "--set", "L"],
                BackupAction::Verify(BackupVerify {
                    set: Some("L".into()),
                    quick: false,
                }),
            ),
            (
                &["backup", "verify", "--quick"],
                BackupAction::Verify(BackupVerify {
                    set: None,
                    quick: true,
                }),
            ),
            (
                &["backup", "take", "--verify", "--quick"],
                BackupAction::Take(BackupTake {
                    kind: None,
                    verify: true,
                    quick: true,
                    verify_set: None,
                }),
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(
                format!("{:?}", backup(args)),
                format!("{expected:?}"),
                "{args:?}"
            );
        }
        assert!(matches!(backup(&["backup", "check"]), BackupAction::Check));
        assert!(matches!(
            backup(&["backup", "expire"]),
            BackupAction::Expire
        ));
        let BackupAction::Info(info) = backup(&["backup", "info", "--format", "json"]) else {
            panic!("not info");
        };
        assert!(info.format.json());
    }

    #[test]
    fn provision_qa_maps_onto_qa() {
        let qa = |args: &[&str]| match parse(args) {
            Command::ProvisionQa(old) => format!("{:?}", old.command()),
            Command::Qa(new) => format!("{new:?}"),
            other => panic!("not qa: {other:?}"),
        };
        assert_eq!(qa(&["provision-qa", "app"]), qa(&["qa", "create", "app"]));
        assert_eq!(
            qa(&["provision-qa", "app", "--name", "x"]),
            qa(&["qa", "create", "app", "--name", "x"])
        );
        assert_eq!(qa(&["provision-qa", "--list"]), qa(&["qa", "list"]));
        assert_eq!(
            qa(&["provision-qa", "--drop", "x"]),
            qa(&["qa", "drop", "x"])
        );
    }

    #[test]
    fn dump_status_json_has_two_spellings() {
        for (args, json) in [
            (&["dump-status"][..], false),
            (&["dump-status", "--json"], true),
            (&["dump-status", "--format", "json"], true),
            (&["dump-status", "--format", "table"], false),
        ] {
            let Command::DumpStatus(status) = parse(args) else {
                panic!("not dump-status");
            };
            assert_eq!(status.json(), json, "{args:?}");
        }
    }
}
