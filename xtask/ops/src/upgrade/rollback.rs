//! `upgrade --rollback --yes`: after a completed upgrade, the old major back
//! with the data as it was when the upgrade stopped the old server.
//!
//! The old cluster's own files cannot serve again (link mode: the new server
//! wrote to them), so the rollback restores the full backup the upgrade took
//! first, in the old major's image, and replays the archived WAL and then the
//! WAL the old cluster left in its set-aside directory (`pg_wal.pre-upgrade-<id>`,
//! which pg_upgrade does not touch): every commit up to the upgrade's stop.
//!
//! 1. Validate (nothing changes): a completed upgrade is recorded
//!    (`upgrade-done.json`), the stack runs its target major, no restore or
//!    upgrade is unfinished, the old image exists (built when due) and its
//!    pgBackRest reads the repository and finds the set.
//! 2. `Staging`: pgBackRest restores the set into `pgdata.rollback-<id>` beside
//!    the live cluster, which keeps running.
//! 3. `Stopping`: the new major's server stops (downtime starts).
//! 4. `CopyingWal`: the set-aside WAL into the staging WAL directory.
//! 5. `Swapping`: the new major's directories aside as `*.pre-rollback-<id>`,
//!    the staged ones in; the stanza marker lets the old entrypoint take the
//!    repository's stanza back (`stanza-upgrade`).
//! 6. `Starting`: `.env` names the old major; its server recovers and promotes.
//! 7. `Promoted`: `up` finishes; the journal and the upgrade's record go.
//!
//! A failure or kill before the promotion puts the new major's directories
//! and `.env` back and starts it (by this command, or by the next `up`);
//! after the promotion it finishes forward. Only directories named with the
//! rollback's id are ever removed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::journal::{self, Journal};
use super::run::{InProgress, STANZA_MARKER};
use super::workspace::{Workspace, PGDATA, PGWAL};
use crate::backup::physical;
// The steps are a restore's: staging, stopping, copying WAL, swapping, starting, promoted.
use crate::backup::restore::Step;
use crate::config::Config;
use crate::fault;
use crate::paths::Paths;
use crate::progress::Progress;
use crate::stack::Stack;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RollbackJournal {
    pub id: String,
    /// The completed upgrade being rolled back.
    pub upgrade: Journal,
    /// `.env` as it was (naming the new major), put back by a failed rollback.
    pub env_new: String,
    pub step: Step,
}

impl RollbackJournal {
    fn staging_data(&self) -> String {
        format!("{PGDATA}.rollback-{}", self.id)
    }
    fn staging_wal(&self) -> String {
        format!("{PGWAL}.rollback-{}", self.id)
    }
    pub(super) fn aside_data(&self) -> String {
        format!("{PGDATA}.pre-rollback-{}", self.id)
    }
    pub(super) fn aside_wal(&self) -> String {
        format!("{PGWAL}.pre-rollback-{}", self.id)
    }
}

#[derive(Debug, Clone)]
pub struct RollbackReport {
    pub from: u32,
    pub to: u32,
    pub backup_set: String,
    /// Whether the old cluster's set-aside WAL was replayed (else the archive only).
    pub replayed_local_wal: bool,
    pub downtime_seconds: f64,
    pub seconds: f64,
    pub aside: Vec<String>,
}

pub(crate) fn file(paths: &Paths) -> camino::Utf8PathBuf {
    paths.state().join("upgrade-rollback-journal.json")
}

fn read(paths: &Paths) -> anyhow::Result<Option<RollbackJournal>> {
    journal::read_json(
        &file(paths),
        "an interrupted upgrade rollback",
        |j: &RollbackJournal| j.id.as_str(),
    )
}

fn write(paths: &Paths, journal: &RollbackJournal) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(journal)?;
    crate::fsutil::write_atomic(&file(paths), text.as_bytes(), 0o600)
}

pub(crate) fn refuse_if_pending(paths: &Paths, command: &str) -> anyhow::Result<()> {
    if let Some(journal) = read(paths)? {
        bail!(
            "a rollback of the upgrade to PostgreSQL {} (id {}) is unfinished (step {:?}); `{command}` waits for it: run `cargo xtask up`, which finishes it or puts PostgreSQL {} back",
            journal.upgrade.to, journal.id, journal.step, journal.upgrade.to
        );
    }
    Ok(())
}

/// What `--rollback` without `--yes` prints (after the same validation).
pub fn plan(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<String> {
    let checked = validate(stack, progress)?;
    let done = &checked.done;
    Ok(format!(
        "`cargo xtask upgrade --rollback --yes` would put stack `{}` back on PostgreSQL {} with the data as the upgrade \
         of {} found it:\n  \
         1. restore backup set {} (taken by the upgrade before it stopped PostgreSQL {}) into a staging directory \
         with PostgreSQL {}'s pgBackRest (the server keeps running)\n  \
         2. stop PostgreSQL {} (downtime starts) and {}\n  \
         3. set the PostgreSQL {} cluster aside as pgdata.pre-rollback-<id> (kept; `cargo xtask old-clusters`) and move the restored one in\n  \
         4. set PG_MAJOR={} in .env, start it (it replays the WAL and takes the backup repository's stanza back)\n\
         Everything written on PostgreSQL {} since the upgrade is NOT carried back (it stays in the set-aside copy).\n\
         A failure before the old server is promoted puts PostgreSQL {} back as it is now.",
        stack.config.project(),
        done.from,
        done.started,
        done.backup_set,
        done.from,
        done.from,
        done.to,
        if checked.local_wal {
            format!("copy the WAL the old cluster left in {}", done.aside_wal())
        } else {
            format!("(the old cluster's WAL directory {} is gone: only the archived WAL is replayed, so commits after the last archived segment are missing)", done.aside_wal())
        },
        done.to,
        done.from,
        done.to,
        done.to,
    ))
}

struct Validated {
    done: Journal,
    old: Config,
    local_wal: bool,
}

fn validate(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Validated> {
    refuse_if_pending(&stack.paths, "upgrade --rollback")?;
    journal::refuse_if_pending(&stack.paths, "upgrade --rollback")?;
    if let Some(pending) = crate::backup::restore::pending_journal(&stack.paths)? {
        bail!(
            "a restore (`{}`) is unfinished; run `cargo xtask up` first; nothing was changed",
            pending.id
        );
    }
    let Some(done) = journal::read_done(&stack.paths)? else {
        bail!(
            "no completed upgrade is recorded in `{}`, so there is nothing to roll back; nothing was changed. \
             (To bring back any backup set, `cargo xtask restore --set LABEL --yes`.)",
            journal::done_file(&stack.paths)
        );
    };
    if stack.config.pg_major() != done.to {
        bail!(
            "the stack runs PostgreSQL {} but the recorded upgrade went from {} to {}; nothing was changed",
            stack.config.pg_major(),
            done.from,
            done.to
        );
    }
    let before = Config::parse(stack.paths.env_file().as_str(), &done.env_before)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let old = stack
        .config
        .with_major(done.from)
        .and_then(|config| config.with_value("POSTGRES_IMAGE", before.image()))
        .map_err(|err| anyhow::anyhow!("PostgreSQL {} cannot be brought back: {err}", done.from))?;
    crate::image::build::ensure(&stack.docker, &stack.paths, &old, false, progress)?;
    let old_stack = Stack::new(stack.paths.clone(), old.clone())?;
    let ws = Workspace::start(&old_stack)?;
    let sets = crate::backup::restore::repository_sets(&ws).with_context(|| {
        format!(
            "PostgreSQL {}'s pgBackRest must read the repository to restore the pre-upgrade backup; nothing was changed",
            done.from
        )
    })?;
    physical::find_set(&sets, &done.backup_set).with_context(|| {
        format!(
            "the upgrade's pre-upgrade backup set is not in the repository (expired?), so PostgreSQL {} cannot be brought back this way; nothing was changed",
            done.from
        )
    })?;
    let local_wal = ws.present(&done.aside_wal())?;
    Ok(Validated {
        done,
        old,
        local_wal,
    })
}

/// Rolls a completed upgrade back (see the module's steps).
pub fn rollback(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<RollbackReport> {
    let _in_progress = InProgress::enter();
    let started = Instant::now();
    let checked = validate(stack, progress)?;
    let old_stack = Stack::new(stack.paths.clone(), checked.old.clone())?;
    let env_new = std::fs::read_to_string(stack.paths.env_file())
        .with_context(|| format!("failed to read `{}`", stack.paths.env_file()))?;
    let mut journal = RollbackJournal {
        id: crate::clock::utc_stamp(std::time::SystemTime::now()),
        upgrade: checked.done.clone(),
        env_new,
        step: Step::Staging,
    };
    write(&stack.paths, &journal)?;
    let ws = Workspace::start(&old_stack)?;
    if let Err(err) = stage(&ws, &journal, checked.local_wal, progress) {
        let cleanup =
            remove_staging(&ws, &journal).and_then(|()| journal::remove_file(&file(&stack.paths)));
        return Err(match cleanup {
            Ok(()) => err.context(format!(
                "the rollback failed while restoring the backup; nothing was changed and PostgreSQL {} still runs",
                journal.upgrade.to
            )),
            Err(cleanup_err) => err.context(format!(
                "the rollback failed while restoring the backup (PostgreSQL {} still runs), and removing its staging \
                 directories failed too ({cleanup_err:#}); `cargo xtask up` finishes that",
                journal.upgrade.to
            )),
        });
    }
    // PgBouncer's clients wait instead of failing while the server is away.
    match crate::addons::pgbouncer::pause::pause(stack, std::time::Duration::from_secs(30)) {
        Ok(true) => progress.status(
            "Paused",
            "PgBouncer's clients (they wait; none is disconnected)",
        ),
        Ok(false) => {}
        Err(err) => {
            remove_staging(&ws, &journal)?;
            journal::remove_file(&file(&stack.paths))?;
            return Err(err.context(format!(
                "the rollback did not start; nothing was changed and PostgreSQL {} still runs",
                journal.upgrade.to
            )));
        }
    }
    let down = Instant::now();
    let result = switch_over(
        stack,
        &old_stack,
        &ws,
        &mut journal,
        checked.local_wal,
        progress,
    );
    drop(ws);
    match result {
        Ok(()) => {}
        Err(err) if journal.step == Step::Promoted => {
            super::run::resume_clients(&old_stack, progress);
            return Err(err.context(format!(
                "PostgreSQL {} is back and promoted, but a later step failed; `cargo xtask up` finishes it",
                journal.upgrade.from
            )));
        }
        Err(err)
            if journal.step == Step::Starting
                && promoted_after_stop(stack, &old_stack, &journal)? =>
        {
            // It promoted before the error (a connection failed after, say): it may have
            // taken writes and archived a new timeline, so it goes forward, as after a kill:
            // the finish below (`up`, which starts the stopped server again).
            progress.status(
                "Finishing",
                &format!("the old server had promoted: {err:#}"),
            );
        }
        Err(err) => {
            progress.status("Putting back", &format!("the rollback failed: {err:#}"));
            let back = fail_back(stack, &journal, progress);
            super::run::resume_clients(stack, progress);
            return Err(match back {
                Ok(()) => err.context(format!(
                    "the rollback failed; PostgreSQL {} was put back as it was and serves the data",
                    journal.upgrade.to
                )),
                Err(back) => err.context(format!(
                    "the rollback failed and so did putting PostgreSQL {} back ({back:#}); the journal `{}` records where it stopped: run `cargo xtask up`",
                    journal.upgrade.to,
                    file(&stack.paths)
                )),
            });
        }
    }
    let downtime = down.elapsed().as_secs_f64();
    super::run::resume_clients(&old_stack, progress);
    finish_forward(&stack.paths, &old_stack, &journal, progress)?;
    Ok(RollbackReport {
        from: journal.upgrade.to,
        to: journal.upgrade.from,
        backup_set: journal.upgrade.backup_set.clone(),
        replayed_local_wal: checked.local_wal,
        downtime_seconds: downtime,
        seconds: started.elapsed().as_secs_f64(),
        aside: vec![journal.aside_data(), journal.aside_wal()],
    })
}

/// pgBackRest (the old major's) into the staging directories: recovery replays
/// to the end of the WAL it finds (archive, then the staging `pg_wal`).
fn stage(
    ws: &Workspace<'_>,
    journal: &RollbackJournal,
    local_wal: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    progress.status(
        "Restoring",
        &format!(
            "backup set {} (PostgreSQL {}) into a staging directory",
            journal.upgrade.backup_set, journal.upgrade.from
        ),
    );
    let staging_data = journal.staging_data();
    ws.run(&["install", "-d", "-m", "0700", &staging_data])?;
    let mut args = crate::backup::restore::pgbackrest_restore_args(
        &staging_data,
        &journal.staging_wal(),
        &journal.upgrade.backup_set,
    );
    match (local_wal, &journal.upgrade.old_checkpoint) {
        // Exactly to the old cluster's clean shutdown: WAL missing on the way (an expired
        // archive segment, a damaged set-aside directory) stops the server instead of
        // promoting it short, and the rollback puts the new major back.
        (true, Some(lsn)) => args.extend([
            "--type=lsn".to_owned(),
            format!("--target={lsn}"),
            "--target-action=promote".to_owned(),
        ]),
        // Without the set-aside WAL (or a record of where it ended): to the end of the archive.
        _ => args.push("--type=default".to_owned()),
    }
    args.push("restore".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ws.run(&args)
        .context("pgBackRest could not restore the pre-upgrade backup set")?;
    fault::point("upgrade-rollback:after-restore")?;
    if !ws.exists(&format!("{staging_data}/recovery.signal"))? {
        bail!("pgBackRest did not write `recovery.signal` into the staging directory; refusing to continue");
    }
    ws.run(&[
        "ln",
        "-sfn",
        "--no-target-directory",
        PGWAL,
        &format!("{staging_data}/pg_wal"),
    ])?;
    ws.sync()
}

fn step(paths: &Paths, journal: &mut RollbackJournal, step: Step) -> anyhow::Result<()> {
    journal.step = step;
    write(paths, journal)
}

fn switch_over(
    stack: &Stack,
    old_stack: &Stack,
    ws: &Workspace<'_>,
    journal: &mut RollbackJournal,
    local_wal: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    step(&stack.paths, journal, Step::Stopping)?;
    progress.status("Stopping", &format!("PostgreSQL {}", journal.upgrade.to));
    stack
        .compose()
        .all_profiles()
        .run(&["stop", "logical_backup", "dashboard", "postgres"])?;

    step(&stack.paths, journal, Step::CopyingWal)?;
    if local_wal {
        progress.status(
            "Copying",
            &format!(
                "the WAL PostgreSQL {} left in {}",
                journal.upgrade.from,
                journal.upgrade.aside_wal()
            ),
        );
        ws.copy_wal_files(&journal.upgrade.aside_wal(), &journal.staging_wal())?;
    }

    step(&stack.paths, journal, Step::Swapping)?;
    progress.status(
        "Swapping",
        &format!(
            "PostgreSQL {} aside as {}",
            journal.upgrade.to,
            journal.aside_data()
        ),
    );
    ws.rename(PGDATA, &journal.aside_data())?;
    ws.rename(PGWAL, &journal.aside_wal())?;
    ws.relink(
        &format!("{}/pg_wal", journal.aside_data()),
        &journal.aside_wal(),
    )?;
    ws.rename(&journal.staging_wal(), PGWAL)?;
    ws.rename(&journal.staging_data(), PGDATA)?;
    ws.write_file(STANZA_MARKER, b"")?;
    ws.sync()?;
    fault::point("upgrade-rollback:after-swap")?;

    step(&stack.paths, journal, Step::Starting)?;
    set_env(&stack.paths, &journal.env_new, old_stack)?;
    progress.status(
        "Starting",
        &format!(
            "PostgreSQL {}: replaying WAL, then promoting",
            journal.upgrade.from
        ),
    );
    // The old major's configuration (its preload libraries, its settings) before it starts.
    crate::render::plan(&old_stack.paths, &old_stack.config)?.install(&old_stack.paths)?;
    old_stack.compose().run(&["up", "--detach", "postgres"])?;
    old_stack.wait_healthy(Duration::from_secs(1800), progress)?;
    fault::point("upgrade-rollback:before-promotion")?;
    crate::wait::poll_until(
        "the restored PostgreSQL server (see `cargo xtask logs`)",
        Duration::from_secs(1800),
        Duration::from_millis(300),
        || crate::pg::bootstrap::promoted(&mut old_stack.connect("postgres")?),
    )?;
    step(&stack.paths, journal, Step::Promoted)?;
    Ok(())
}

/// `.env` as `env_new` with the old major's PG_MAJOR, suite and image.
fn set_env(paths: &Paths, env_new: &str, old_stack: &Stack) -> anyhow::Result<()> {
    let major = old_stack.config.pg_major().to_string();
    let text = crate::config::envfile::set_keys(
        env_new,
        &[
            ("PG_MAJOR", &major),
            ("DEBIAN_SUITE", "auto"),
            ("POSTGRES_IMAGE", old_stack.config.image()),
        ],
    );
    crate::fsutil::write_atomic(&paths.env_file(), text.as_bytes(), 0o600)
}

fn finish_forward(
    paths: &Paths,
    old_stack: &Stack,
    journal: &RollbackJournal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    old_stack.up(progress).context(
        "the old major's server is promoted but `up` did not finish; fix what is said above and run `cargo xtask up`",
    )?;
    journal::remove_file(&journal::done_file(paths))?;
    journal::remove_file(&file(paths))?;
    progress.status(
        "Advice",
        "take a full backup now (`cargo xtask backup take --type full`): the repository's stanza changed \
         hands, and pgBackRest wants a full backup after a stanza-upgrade",
    );
    progress.status(
        "Rolled back",
        &format!(
            "PostgreSQL {} serves the data as the upgrade found it; PostgreSQL {}'s cluster is kept as {}",
            journal.upgrade.from,
            journal.upgrade.to,
            journal.aside_data()
        ),
    );
    Ok(())
}

fn remove_staging(ws: &Workspace<'_>, journal: &RollbackJournal) -> anyhow::Result<()> {
    for dir in [journal.staging_data(), journal.staging_wal()] {
        if ws.present(&dir)? {
            ws.remove(&dir)?;
        }
    }
    Ok(())
}

/// Puts the new major's directories and `.env` back and starts it. Safe to
/// repeat: each directory is put back on its own, after a look at what is where.
fn fail_back(
    stack: &Stack,
    journal: &RollbackJournal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let paths = &stack.paths;
    crate::fsutil::write_atomic(&paths.env_file(), journal.env_new.as_bytes(), 0o600)?;
    let config = Config::load(paths).map_err(|err| anyhow::anyhow!("{err}"))?;
    let new_stack = Stack::new(paths.clone(), config)?;
    new_stack
        .compose()
        .all_profiles()
        .run(&["stop", "logical_backup", "dashboard", "postgres"])?;
    {
        let ws = Workspace::start(&new_stack)?;
        super::run::put_back(
            &ws,
            [
                (PGDATA, journal.aside_data(), journal.staging_data()),
                (PGWAL, journal.aside_wal(), journal.staging_wal()),
            ],
            journal.upgrade.to,
        )?;
        ws.relink(&format!("{PGDATA}/pg_wal"), PGWAL)?;
        remove_staging(&ws, journal)?;
        // The old entrypoint may have taken the stanza: the new one takes it again.
        ws.write_file(STANZA_MARKER, b"")?;
        ws.sync()?;
    }
    journal::remove_file(&file(paths))?;
    new_stack.up(progress).context(format!(
        "PostgreSQL {} is back in place (and `.env` names it) but did not start; see `cargo xtask logs`, then `cargo xtask up`",
        journal.upgrade.to
    ))?;
    Ok(())
}

/// The server stopped, then `promoted` read from the volumes.
fn promoted_after_stop(
    stack: &Stack,
    old_stack: &Stack,
    journal: &RollbackJournal,
) -> anyhow::Result<bool> {
    stack
        .compose()
        .all_profiles()
        .run(&["stop", "logical_backup", "dashboard", "postgres"])?;
    let ws = Workspace::start(old_stack)?;
    promoted(&ws, journal)
}

/// Whether the restored old cluster is in place and left recovery.
fn promoted(ws: &Workspace<'_>, journal: &RollbackJournal) -> anyhow::Result<bool> {
    let version = ws.read_file(&format!("{PGDATA}/PG_VERSION"))?;
    if version.as_deref().map(str::trim) != Some(journal.upgrade.from.to_string().as_str())
        || !ws.present(&journal.aside_data())?
        || ws.exists(&format!("{PGDATA}/recovery.signal"))?
    {
        return Ok(false);
    }
    let control = ws.run(&["pg_controldata", PGDATA])?;
    Ok(crate::backup::restore::left_recovery(&control))
}

/// Finishes or undoes a rollback a kill interrupted; `up` calls it (through
/// `upgrade::recover_pending`) before it loads `.env`.
pub(crate) fn recover_pending(
    paths: &Paths,
    progress: &dyn Progress,
) -> anyhow::Result<Option<String>> {
    let Some(journal) = read(paths)? else {
        return Ok(None);
    };
    let said = recover(paths, journal, progress);
    // Whatever the recovery came to, PgBouncer's clients are not left paused.
    super::run::resume_after(paths, progress);
    said.map(Some)
}

fn recover(
    paths: &Paths,
    journal: RollbackJournal,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    let _in_progress = InProgress::enter();
    let new = Config::parse(paths.env_file().as_str(), &journal.env_new)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let before = Config::parse(paths.env_file().as_str(), &journal.upgrade.env_before)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let old = new
        .with_major(journal.upgrade.from)
        .and_then(|config| config.with_value("POSTGRES_IMAGE", before.image()))
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let old_stack = Stack::new(paths.clone(), old)?;
    let new_stack = Stack::new(paths.clone(), new)?;
    if journal.step == Step::Staging {
        let ws = Workspace::start(&old_stack)?;
        remove_staging(&ws, &journal)?;
        journal::remove_file(&file(paths))?;
        return Ok(format!(
            "an interrupted upgrade rollback had not stopped PostgreSQL {}; its staging directories were removed",
            journal.upgrade.to
        ));
    }
    // Promoted: forward. Starting: forward only if the restored server promoted (looked
    // at stopped). Before: back (`fail_back` stops the server itself).
    let forward = journal.step == Step::Promoted
        || (journal.step == Step::Starting
            && promoted_after_stop(&new_stack, &old_stack, &journal)?);
    if forward {
        set_env(paths, &journal.env_new, &old_stack)?;
        finish_forward(paths, &old_stack, &journal, progress)?;
        return Ok(format!(
            "an interrupted upgrade rollback was finished: PostgreSQL {} serves the data",
            journal.upgrade.from
        ));
    }
    fail_back(&new_stack, &journal, progress)?;
    Ok(format!(
        "an interrupted upgrade rollback was undone: PostgreSQL {} serves the data as before it",
        journal.upgrade.to
    ))
}
