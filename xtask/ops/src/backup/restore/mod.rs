//! `restore`: replace the live cluster with a backup, whole or to a point in
//! time, as a journaled state machine that never strands the cluster.
//!
//! 1. Validate everything while nothing has changed (set, target time inside
//!    the recoverable window, a readable repository, working WAL archiving).
//! 2. `Staging`: pgBackRest restores into `pgdata.restore-<id>` and
//!    `pg_wal.restore-<id>` beside the live directories; the server keeps running.
//! 3. `Stopping`: the server and sidecar stop cleanly.
//! 4. `CopyingWal`: every WAL file the stopped cluster still holds (the last,
//!    partial segment included) is copied into the staging WAL directory, so
//!    recovery replays every acknowledged commit.
//! 5. `Swapping`: live directories renamed to `*.pre-restore-<id>`, staging
//!    ones renamed in (the swap marker makes the entrypoint refuse meanwhile).
//! 6. `Starting`: the server starts, recovers and promotes.
//! 7. `Promoted`: the point of no return; the sidecar starts, the journal goes.
//!
//! Any failure before `Promoted` rolls back (`recover.rs`): the original
//! directories back in place, the server started and healthy. A run killed at
//! any step is finished the same way by the next `up` or `restore`.

mod journal;
pub mod new_cluster;
mod recover;
pub mod target;
pub(crate) mod workspace;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::physical::{self, BackupSet, STANZA};
use crate::fault;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::poll_until;
/// Where a restore's journal lives (`old_clusters` refuses to remove anything while one exists).
pub(crate) use journal::{host_file as journal_host_file, VOLUME_FILE as JOURNAL_IN_VOLUME};
pub use journal::{Journal, Step};
pub(crate) use recover::left_recovery;
pub use recover::{recover_pending, Recovered};
use target::{TargetTime, Window};
use workspace::{Workspace, PGDATA, PGWAL};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A backup set label; alone, it restores exactly that set (to its consistent point).
    pub set: Option<String>,
    /// An absolute time with a zone (`2026-11-24 07:00:00+00`); recovery stops there.
    pub target_time: Option<String>,
    /// Remove the old data once the restored server is healthy.
    pub discard_old: bool,
    /// Restore even though the running server cannot archive its WAL (commits since the last archived segment may be lost).
    pub force: bool,
    /// Fail on purpose once the restored server is healthy, before it is accepted, and
    /// roll back: how `bench restore` measures a late rollback in any build.
    pub rehearse_rollback: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub set: BackupSet,
    pub seconds: f64,
    /// Where the previous data and WAL were set aside (inside their volumes), unless discarded.
    pub old_data: Vec<String>,
    /// A restore interrupted earlier that was finished or rolled back first.
    pub recovered: Option<Recovered>,
}

/// Everything checked before the first change.
#[derive(Debug, Clone)]
pub struct Validated {
    pub set: BackupSet,
    pub target: Option<TargetTime>,
    /// `--set` was given.
    pub pinned: bool,
    pub server_running: bool,
}

/// Checks the options against the repository and the stack; changes nothing.
pub(crate) fn validate(
    stack: &Stack,
    options: &Options,
    ws: &Workspace<'_>,
) -> anyhow::Result<Validated> {
    // The time first: a typo must not even need the repository.
    let target = options
        .target_time
        .as_deref()
        .map(target::parse)
        .transpose()?;
    let sets = repository_sets(ws)?;
    if sets.is_empty() {
        match &target {
            Some(time) => bail!(
                "the target time {time} cannot be reached: the repository has no backup to start from; \
                 take one with `cargo xtask backup`"
            ),
            None => bail!("the repository has no backup to restore; take one with `cargo xtask backup`"),
        }
    }
    let pinned = match &options.set {
        Some(label) => Some(physical::find_set(&sets, label)?),
        None => None,
    };
    let server_running = stack
        .docker
        .health(&stack.container())?
        .is_some_and(|h| h != "stopped");
    let set = match &target {
        None => pinned
            .cloned()
            .unwrap_or_else(|| sets.last().cloned().expect("not empty")),
        Some(time) => {
            let window = Window {
                earliest: sets.iter().map(|s| s.stopped).min().unwrap_or_default(),
                latest: newest_wal(ws, server_running)?,
            };
            target::choose_set(time, &sets, pinned, &window)?.clone()
        }
    };
    Ok(Validated {
        set,
        target,
        pinned: options.set.is_some(),
        server_running,
    })
}

/// The repository's backup sets, read by the workspace image's pgBackRest.
pub(crate) fn repository_sets(ws: &Workspace<'_>) -> anyhow::Result<Vec<BackupSet>> {
    let info = ws.try_run(&[
        "pgbackrest",
        "--stanza",
        STANZA,
        "--log-level-console=warn",
        "info",
        "--output=json",
    ])?;
    if !info.ok {
        bail!(
            "the backup repository cannot be read, so nothing can be restored from it:\n{}",
            info.text
        );
    }
    let json = info
        .text
        .lines()
        .filter(|l| l.starts_with('['))
        .collect::<Vec<_>>()
        .join("\n");
    physical::parse_info(&json)
}

/// The newest moment WAL will exist for: now when the server runs (the restore
/// copies everything up to its clean stop), else the newest archived or local WAL file.
fn newest_wal(ws: &Workspace<'_>, server_running: bool) -> anyhow::Result<i64> {
    let now = jiff::Timestamp::now().as_second();
    if server_running {
        return Ok(now);
    }
    let listing = ws.try_run(&[
        "find",
        "/var/lib/pgbackrest/archive",
        PGWAL,
        "-type",
        "f",
        "-printf",
        "%T@\\n",
    ])?;
    let newest = listing
        .text
        .lines()
        .filter_map(|line| line.trim().parse::<f64>().ok())
        .fold(0.0_f64, f64::max);
    #[allow(clippy::cast_possible_truncation)]
    Ok((newest as i64).min(now))
}

/// The journal of an interrupted restore this state directory knows of (no container started).
pub fn pending_journal(paths: &crate::paths::Paths) -> anyhow::Result<Option<Journal>> {
    journal::read_host(paths)
}

/// What `restore` would do, for the operator to read before adding `--yes`.
pub fn plan(stack: &Stack, options: &Options) -> anyhow::Result<String> {
    let ws = Workspace::start(stack)?;
    let pending = journal::read_host(&stack.paths)?.or(journal::read_volume(&ws)?);
    let checked = validate(stack, options, &ws)?;
    let target = match &checked.target {
        Some(time) => format!("replay WAL up to {time}, then promote"),
        None if options.set.is_some() => {
            "stop at the set's consistent point, then promote".to_owned()
        }
        None => "replay all archived WAL and the WAL the stopped server still holds, then promote"
            .to_owned(),
    };
    let mut text = String::new();
    if let Some(pending) = pending {
        text.push_str(&format!(
            "an interrupted restore (`{}`, step {:?}) will first be finished or rolled back\n",
            pending.id, pending.step
        ));
    }
    text.push_str(&format!(
        "restore would:\n  \
         1. restore backup set `{label}` ({kind}, {size:.1} MB) into staging directories beside the live ones \
         (the server keeps running; a pgBackRest failure changes nothing)\n  \
         2. stop `{container}` cleanly and copy the WAL it still holds into the staging directory\n  \
         3. set the current data aside in its volumes as `pgdata.pre-restore-<id>` and `pg_wal.pre-restore-<id>`, \
         and move the restored directories in\n  \
         4. start the server, {target}, and wait until it is healthy{discard}\n  \
         any failure before the promotion puts the current data back and starts it again",
        container = stack.container(),
        label = checked.set.label,
        kind = checked.set.kind,
        size = checked.set.database_bytes as f64 / 1e6,
        discard = if options.discard_old { "; then delete the set-aside data" } else { "; the set-aside data is kept" },
    ));
    Ok(text)
}

/// Restores. On failure before the promotion, the original cluster is back and
/// serving, and the error says so.
pub fn restore(
    stack: &Stack,
    options: &Options,
    progress: &dyn Progress,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let recovered = recover_pending(stack, progress)?;
    let ws = Workspace::start(stack)?;
    let checked = validate(stack, options, &ws)?;
    if checked.server_running {
        check_archiving(stack, options.force, progress)?;
    }
    let had_cluster = ws.exists(&format!("{PGDATA}/PG_VERSION"))?;
    let had_data = ws.present(PGDATA)?;
    let had_wal = ws.present(PGWAL)?;
    let mut journal = Journal {
        id: crate::clock::utc_stamp(std::time::SystemTime::now()),
        started: jiff::Timestamp::now().to_string(),
        set: checked.set.label.clone(),
        target_time: checked.target.as_ref().map(TargetTime::for_postgres),
        discard_old: options.discard_old,
        had_data,
        had_wal,
        had_cluster,
        step: Step::Staging,
    };
    journal::record(&stack.paths, &ws, &journal)?;
    let staged = stage(
        &ws,
        &Staging {
            data: journal.staging_data(),
            wal: journal.staging_wal(),
        },
        journal.target_time.as_deref(),
        &checked,
        progress,
    );
    if let Err(err) = staged {
        // Nothing live was touched: drop the staging directories and the journal.
        let cleanup =
            remove_staging(&ws, &journal).and_then(|()| journal::clear(&stack.paths, &ws));
        return Err(match cleanup {
            Ok(()) => err.context("the restore failed while staging; nothing was changed and the server was not stopped"),
            Err(cleanup_err) => err.context(format!(
                "the restore failed while staging; the live cluster was not touched, but cleaning up failed ({cleanup_err:#}); \
                 `cargo xtask up` finishes the cleanup"
            )),
        });
    }
    let result = switch_over(
        stack,
        &ws,
        &mut journal,
        options.rehearse_rollback,
        progress,
    );
    match result {
        Ok(()) => {}
        Err(err) if journal.step == Step::Promoted => {
            return Err(err.context(format!(
                "the restore of `{}` completed (the restored server is promoted and serving), but a later step failed",
                journal.set
            )));
        }
        Err(err) => {
            progress.status("Rolling back", &format!("{err:#}"));
            drop(ws);
            return Err(match recover::roll_back(stack, &journal, progress) {
                Ok(()) => err.context(if journal.had_cluster {
                    "the restore failed; rolled back: your data is as it was and the server is running"
                } else {
                    "the restore failed; rolled back to the state before it (there was no cluster to start)"
                }),
                Err(rollback_err) => err.context(format!(
                    "the restore failed and rolling back failed too ({rollback_err:#}); the journal is kept: \
                     run `cargo xtask up` to finish the rollback"
                )),
            });
        }
    }
    let mut old_data = Vec::new();
    if journal.had_data {
        old_data.push(journal.aside_data());
    }
    if journal.had_wal {
        old_data.push(journal.aside_wal());
    }
    if options.discard_old {
        for dir in &old_data {
            ws.remove(dir)?;
        }
        old_data.clear();
    }
    journal::clear(&stack.paths, &ws)?;
    Ok(Report {
        set: checked.set,
        seconds: started.elapsed().as_secs_f64(),
        old_data,
        recovered,
    })
}

/// Refuses, changing nothing, when the running server cannot archive its WAL
/// (commits since the last archived segment could be lost), unless `force`.
/// (The `ha` topology's restore checks the same way, on its leader.)
pub(crate) fn check_archiving(
    stack: &Stack,
    force: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    progress.status(
        "Checking",
        "that WAL archiving works, so nothing written before the restore is lost",
    );
    if let Err(err) = physical::check(stack) {
        if !force {
            return Err(err.context(
                "WAL archiving does not work, so the restore could lose recent commits; nothing was changed. \
                 Fix archiving (`cargo xtask backup check`) or add `--force` to restore anyway",
            ));
        }
        progress.status(
            "Warning",
            &format!("WAL archiving fails ({err:#}); continuing because of --force"),
        );
    }
    Ok(())
}

/// Where a restore stages the backup: a data directory and a WAL directory
/// beside the live ones, in the same volumes (so moving them in is a rename).
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    pub(crate) data: String,
    pub(crate) wal: String,
}

/// pgBackRest into the staging directories, recovering to `target_time` (as
/// PostgreSQL writes it) when given; the live cluster is not touched. (The `ha`
/// topology's restore stages the same way, in the leader's volumes.)
pub(crate) fn stage(
    ws: &Workspace<'_>,
    staging: &Staging,
    target_time: Option<&str>,
    checked: &Validated,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    fault::point("restore:before-pgbackrest")?;
    progress.status(
        "Restoring",
        &format!(
            "backup set {} ({}) into a staging directory",
            checked.set.label, checked.set.kind
        ),
    );
    let (staging_data, staging_wal) = (&staging.data, &staging.wal);
    ws.run(&["install", "-d", "-m", "0700", staging_data])?;
    let mut args = pgbackrest_restore_args(staging_data, staging_wal, &checked.set.label);
    match (&checked.target, target_time) {
        (Some(_), Some(time)) => args.extend([
            "--type=time".into(),
            format!("--target={time}"),
            "--target-action=promote".into(),
        ]),
        // A set asked for without a time: exactly that set, to its consistent point.
        (None, _) if checked.pinned => {
            args.extend(["--type=immediate".into(), "--target-action=promote".into()]);
        }
        _ => {}
    }
    args.push("restore".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ws.run(&refs)
        .context("pgBackRest could not restore the backup set")?;
    fault::point("restore:after-pgbackrest")?;
    if !ws.exists(&format!("{staging_data}/recovery.signal"))? {
        bail!("pgBackRest did not write `recovery.signal` into the staging directory; refusing to continue");
    }
    // The link must name the final WAL path: after the swap, the staging WAL directory is renamed there.
    let link = format!("{staging_data}/pg_wal");
    ws.run(&["ln", "-sfn", "--no-target-directory", PGWAL, &link])?;
    ws.sync()
}

/// `pgbackrest restore` of `set` into `data` with its WAL directory at `wal`,
/// recovery fetching from the repository; the caller adds the recovery type
/// and the command word `restore`. (The restore, the upgrade's rollback and its
/// rehearsal share it.)
pub(crate) fn pgbackrest_restore_args(data: &str, wal: &str, set: &str) -> Vec<String> {
    vec![
        "pgbackrest".into(),
        "--stanza".into(),
        STANZA.into(),
        "--log-level-console=warn".into(),
        format!("--pg1-path={data}"),
        "--link-all".into(),
        format!("--link-map=pg_wal={wal}"),
        format!("--set={set}"),
        // Without `--pg1-path`: after the swap the cluster lives at the usual path.
        format!(
            "--recovery-option=restore_command=pgbackrest --stanza={STANZA} archive-get %f \"%p\""
        ),
    ]
}

/// Stop, copy the WAL, swap, start, promote. Each step is journaled first.
fn switch_over(
    stack: &Stack,
    ws: &Workspace<'_>,
    journal: &mut Journal,
    rehearse_rollback: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    step(stack, ws, journal, Step::Stopping)?;
    progress.status("Stopping", &format!("`{}` cleanly", stack.container()));
    // Creates the volumes and containers when the stack was down or its volumes were removed.
    stack.compose().run(&["up", "--no-start"])?;
    // The sidecar goes down too: its dumps would fail (and mark it unhealthy) while postgres is away.
    stack
        .compose()
        .run(&["stop", "logical_backup", "postgres"])?;
    fault::point("restore:after-stop")?;

    step(stack, ws, journal, Step::CopyingWal)?;
    if journal.had_wal {
        progress.status(
            "Copying",
            "the WAL the stopped server holds, so every acknowledged commit is replayed",
        );
        ws.copy_wal_files(PGWAL, &journal.staging_wal())?;
    }
    fault::point("restore:after-wal-copy")?;

    step(stack, ws, journal, Step::Swapping)?;
    progress.status(
        "Swapping",
        "the current data aside and the restored data in",
    );
    ws.write_file(journal::SWAP_MARKER, journal.id.as_bytes())?;
    for (live, aside, had) in [
        (PGWAL, journal.aside_wal(), journal.had_wal),
        (PGDATA, journal.aside_data(), journal.had_data),
    ] {
        match (had, ws.present(live)?) {
            (true, true) => ws.rename(live, &aside)?,
            (false, false) => {}
            (true, false) => bail!("`{live}` disappeared during the restore; refusing to continue"),
            (false, true) => {
                bail!("`{live}` appeared during the restore; refusing to overwrite it")
            }
        }
    }
    fault::point("restore:after-set-aside")?;
    ws.rename(&journal.staging_wal(), PGWAL)?;
    ws.rename(&journal.staging_data(), PGDATA)?;
    ws.sync()?;
    ws.remove(journal::SWAP_MARKER)?;
    fault::point("restore:after-swap")?;

    step(stack, ws, journal, Step::Starting)?;
    progress.status("Starting", "the restored cluster");
    stack.compose().run(&["up", "--detach", "postgres"])?;
    fault::point("restore:after-start")?;
    stack.wait_healthy(Duration::from_secs(1800), progress)?;
    fault::point("restore:before-promotion")?;
    if rehearse_rollback {
        bail!("a rollback rehearsal was asked for (`bench restore`)");
    }
    wait_promoted(stack)?;
    step(stack, ws, journal, Step::Promoted)?;
    fault::point("restore:after-promotion")?;
    stack.compose().run(&["up", "--detach"])?;
    Ok(())
}

fn step(
    stack: &Stack,
    ws: &Workspace<'_>,
    journal: &mut Journal,
    step: Step,
) -> anyhow::Result<()> {
    journal.step = step;
    journal::record(&stack.paths, ws, journal)
}

fn remove_staging(ws: &Workspace<'_>, journal: &Journal) -> anyhow::Result<()> {
    ws.remove(&journal.staging_data())?;
    ws.remove(&journal.staging_wal())
}

fn wait_promoted(stack: &Stack) -> anyhow::Result<()> {
    poll_until(
        "the restored server (see `cargo xtask logs`)",
        Duration::from_secs(1800),
        Duration::from_millis(300),
        || crate::pg::bootstrap::promoted(&mut stack.connect("postgres")?),
    )
}
