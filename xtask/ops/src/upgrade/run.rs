//! `upgrade --yes`: the journaled major upgrade, and its rollback.
//!
//! 1. Check (the same as `--check`, with the server running); nothing changes
//!    unless it passes.
//! 2. A full pgBackRest backup: the rollback point once the new server ran.
//! 3. `Stopping`: the server and the sidecar stop cleanly (downtime starts).
//! 4. `Upgrading`: in the upgrade container, initdb of the new major into
//!    `pgdata.upgrade-<id>` / `pg_wal.upgrade-<id>` in the same volumes, then
//!    `pg_upgrade --link` (hard links: no data is copied; the old files are
//!    not modified until the new server starts).
//! 5. `Swapping`: the old directories set aside as `*.pre-upgrade-<id>` (their
//!    `pg_wal` link re-pointed), the new ones renamed in.
//! 6. `Starting`: `.env` names the new major; `up` starts the new image on the
//!    new cluster (the entrypoint upgrades the pgBackRest stanza), renders the
//!    configuration for it and waits for health.
//! 7. `Started`: extensions updated in every database, statistics rebuilt
//!    (`vacuumdb --analyze-in-stages`); the journal goes; the old cluster is
//!    kept (`old-clusters` lists and removes it).
//!
//! A failure or a kill before `Started` is rolled back (`roll_back`): the new
//! directories removed (only those named with the journal's id), the old ones
//! back, `pg_control.old` renamed back (PostgreSQL's documented revert of a
//! link-mode upgrade whose new server never ran), `.env` as it was, and the
//! old major started.

use std::time::Instant;

use anyhow::{bail, Context};

use super::check;
use super::journal::{self, Journal, Step};
use super::workspace::{PGDATA, PGWAL};
use crate::addons::pgbouncer::pause as pgbouncer;
use crate::backup::physical::{self, Kind};
use crate::config::Config;
use crate::fault;
use crate::progress::Progress;
use crate::stack::Stack;

/// The entrypoint's marker that lets it take the repository's stanza over
/// (`stanza-upgrade`) for a cluster of another system identifier or major.
pub(crate) const STANZA_MARKER: &str = "/var/lib/postgresql/data/core_data.allow-new-cluster";
/// The entrypoint's first-boot sentinel: the new cluster carries the old one's
/// extensions already; `up`'s bootstrap adds what the new image has beyond them.
const FIRST_BOOT_SENTINEL: &str = "core_data.first_boot_done";

#[derive(Debug, Clone)]
pub struct Report {
    pub from: u32,
    pub to: u32,
    pub backup_set: String,
    /// From the stop of the old server to the new one healthy.
    pub downtime_seconds: f64,
    /// Each step's name and seconds.
    pub steps: Vec<(String, f64)>,
    /// `database: extension old -> new`.
    pub extensions_updated: Vec<String>,
    /// Extensions whose update failed (the upgrade itself stands).
    pub extension_errors: Vec<String>,
    pub aside: Vec<String>,
}

/// The configuration of the target major and its upgrade stack (the upgrade
/// image as its image); builds the images when due.
pub(crate) fn prepare(
    stack: &Stack,
    to: u32,
    progress: &dyn Progress,
) -> anyhow::Result<(Config, Stack, String)> {
    let target = stack
        .config
        .with_major(to)
        .map_err(|err| anyhow::anyhow!("PostgreSQL {to} cannot be the target: {err}"))?;
    let upgrade_image = super::image::ensure(
        &stack.docker,
        &stack.paths,
        &stack.config,
        &target,
        progress,
    )?;
    let upgrade_config = target
        .with_value("POSTGRES_IMAGE", &upgrade_image)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let upgrade_stack = Stack::new(stack.paths.clone(), upgrade_config)?;
    Ok((target, upgrade_stack, upgrade_image))
}

/// `prepare`, then the checks of `--check`; refuses when they block (`and_what`
/// names what else cannot go ahead, as ", so neither can its rehearsal").
pub(crate) fn prepare_checked(
    stack: &Stack,
    to: u32,
    and_what: &str,
    progress: &dyn Progress,
) -> anyhow::Result<(Config, Stack, super::CheckReport)> {
    let (target, upgrade_stack, upgrade_image) = prepare(stack, to, progress)?;
    progress.status("Checking", &format!("the upgrade to PostgreSQL {to}"));
    let report = super::check_prepared(stack, &target, &upgrade_stack, &upgrade_image)?;
    if !report.ok() {
        bail!(
            "the upgrade cannot go ahead{and_what}; nothing was changed:\n  - {}",
            report.blocking.join("\n  - ")
        );
    }
    Ok((target, upgrade_stack, report))
}

/// Set while this process runs an upgrade: the `up` it calls must not take
/// the upgrade's own journal for an interrupted one.
static IN_PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) struct InProgress;

impl InProgress {
    pub(crate) fn enter() -> InProgress {
        IN_PROGRESS.store(true, std::sync::atomic::Ordering::SeqCst);
        InProgress
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        IN_PROGRESS.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn upgrade(stack: &Stack, to: u32, progress: &dyn Progress) -> anyhow::Result<Report> {
    let _in_progress = InProgress::enter();
    if let Some(pending) = journal::read(&stack.paths)? {
        bail!(
            "an upgrade from {} to {} (id {}) was interrupted at step {:?}; run `cargo xtask up` to roll it back or finish it first",
            pending.from, pending.to, pending.id, pending.step
        );
    }
    let (target, upgrade_stack, report) = prepare_checked(stack, to, "", progress)?;
    let env_before = std::fs::read_to_string(stack.paths.env_file())
        .with_context(|| format!("failed to read `{}`", stack.paths.env_file()))?;

    let set = physical::backup(stack, Some(Kind::Full), progress)
        .context("the full backup before the upgrade failed; nothing was changed")?;
    progress.status(
        "Backed up",
        &format!("set {} (the rollback point)", set.label),
    );

    let mut journal = Journal {
        id: crate::clock::utc_stamp(std::time::SystemTime::now()),
        from: report.from,
        to,
        started: jiff::Timestamp::now().to_string(),
        backup_set: set.label.clone(),
        env_before,
        step: Step::Stopping,
        old_checkpoint: None,
    };
    // The journal first: a kill once clients are paused leaves it, and the next `up`
    // (its recovery) resumes them.
    journal::write(&stack.paths, &journal)?;
    // PgBouncer's clients wait instead of failing while the server is away.
    match pgbouncer::pause(stack, PAUSE_LIMIT) {
        Ok(true) => progress.status(
            "Paused",
            "PgBouncer's clients (they wait; none is disconnected)",
        ),
        Ok(false) => {}
        Err(err) => {
            journal::remove(&stack.paths)?;
            return Err(err.context("the upgrade did not start; nothing was changed"));
        }
    }
    let mut steps = Vec::new();
    let down = Instant::now();
    let result = forward(
        stack,
        &upgrade_stack,
        &target,
        &mut journal,
        &mut steps,
        progress,
    );
    if let Err(err) = result {
        if journal.step == Step::Starting {
            resume_clients(stack, progress);
            // The new server may have run on the linked files: the old cluster is no
            // longer safe to start (PostgreSQL's pg_upgrade docs), so this goes forward.
            return Err(err.context(format!(
                "the upgrade to PostgreSQL {to} failed while the new server started; it may have \
                 written to files the old cluster shares (link mode), so the old cluster is not put \
                 back. The new cluster is in place and `.env` names PostgreSQL {to}: fix what is \
                 said above and run `cargo xtask up`, which finishes the upgrade. Backup set {} \
                 holds the data as it was before",
                journal.backup_set
            )));
        }
        progress.status("Rolling back", &format!("the upgrade failed: {err:#}"));
        let back = roll_back(stack, &journal, progress);
        resume_clients(stack, progress);
        back.with_context(|| {
            format!("the upgrade failed ({err:#}) and so did its rollback; the journal `{}` records where it stopped", journal::file(&stack.paths))
        })?;
        return Err(err.context(format!(
            "the upgrade to PostgreSQL {to} failed and was rolled back: PostgreSQL {} serves the data as before",
            journal.from
        )));
    }
    let downtime = down.elapsed().as_secs_f64();
    resume_clients(stack, progress);
    journal.step = Step::Started;
    journal::write(&stack.paths, &journal)?;

    let new_stack = Stack::new(stack.paths.clone(), target)?;
    let (updated, errors) = timed(&mut steps, "extensions", || {
        super::extensions::update_all(&new_stack, progress)
    })?;
    timed(&mut steps, "analyze in stages", || {
        analyze(&new_stack, progress)
    })?;
    journal::complete(&stack.paths, &journal)?;
    Ok(Report {
        from: journal.from,
        to,
        backup_set: journal.backup_set.clone(),
        downtime_seconds: downtime,
        steps,
        extensions_updated: updated,
        extension_errors: errors,
        aside: vec![journal.aside_data(), journal.aside_wal()],
    })
}

pub(crate) fn timed<T>(
    steps: &mut Vec<(String, f64)>,
    name: &str,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let value = work()?;
    steps.push((name.to_owned(), started.elapsed().as_secs_f64()));
    Ok(value)
}

/// How long `PAUSE` may wait for PgBouncer's clients to finish their transactions.
const PAUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `RESUME` on PgBouncer, when its profile is on; a failure is said, not fatal
/// (`cargo xtask pgbouncer resume` is not needed: the next `up` resumes too).
pub(crate) fn resume_clients(stack: &Stack, progress: &dyn Progress) {
    if !crate::addons::pgbouncer::enabled(&stack.config) {
        return;
    }
    match pgbouncer::resume(stack) {
        Ok(()) => progress.status("Resumed", "PgBouncer's clients"),
        Err(err) => progress.status(
            "Warning",
            &format!(
                "PgBouncer's clients could not be resumed ({err:#}); `cargo xtask up` resumes them"
            ),
        ),
    }
}

fn forward(
    stack: &Stack,
    upgrade_stack: &Stack,
    target: &Config,
    journal: &mut Journal,
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    progress.status("Stopping", "the server and the sidecar");
    timed(steps, "stop", || {
        stack
            .compose()
            .all_profiles()
            .run(&["stop", "logical_backup", "dashboard", "postgres"])
            .map(drop)
    })?;
    journal.step = Step::Upgrading;
    journal::write(&stack.paths, journal)?;
    {
        let ws = super::workspace::start(upgrade_stack, true)?;
        // Where the old cluster stopped: the rollback recovers exactly to it.
        let control = ws.run(&[
            &format!("/usr/lib/postgresql/{}/bin/pg_controldata", journal.from),
            PGDATA,
        ])?;
        journal.old_checkpoint = journal::clean_checkpoint(&control);
        journal::write(&stack.paths, journal)?;
        let dirs = Dirs {
            new_data: journal.new_data(),
            new_wal: journal.new_wal(),
            aside_data: journal.aside_data(),
            aside_wal: journal.aside_wal(),
        };
        let preload = crate::render::preload_libraries(target);
        link_upgrade(
            &ws,
            (journal.from, journal.to),
            &dirs,
            stack.config.superuser(),
            &preload,
            steps,
            progress,
        )?;
        fault::point("upgrade:after-pg-upgrade")?;

        journal.step = Step::Swapping;
        journal::write(&stack.paths, journal)?;
        progress.status(
            "Swapping",
            &format!("the old cluster aside as {}", journal.aside_data()),
        );
        timed(steps, "swap", || {
            swap(&ws, &dirs)?;
            ws.write_file(&format!("{PGDATA}/{FIRST_BOOT_SENTINEL}"), b"")?;
            ws.write_file(STANZA_MARKER, b"")?;
            ws.sync()
        })?;
        fault::point("upgrade:after-swap")?;
    }
    journal.step = Step::Starting;
    journal::write(&stack.paths, journal)?;
    set_env_major(stack, target)?;
    let new_stack = Stack::new(stack.paths.clone(), target.clone())?;
    progress.status("Starting", &format!("PostgreSQL {}", journal.to));
    timed(steps, "start", || new_stack.up(progress).map(drop))?;
    fault::point("upgrade:after-start")?;
    Ok(())
}

/// The directories of one upgrade in the volumes: the new cluster's, and the
/// names the old one is set aside under.
pub(crate) struct Dirs {
    pub new_data: String,
    pub new_wal: String,
    pub aside_data: String,
    pub aside_wal: String,
}

/// initdb of the new major into `dirs.new_*`, then `pg_upgrade --link` from the
/// cluster at PGDATA (stopped), each step timed. The upgrade and its rehearsal share it.
pub(crate) fn link_upgrade(
    ws: &super::workspace::Workspace<'_>,
    (from, to): (u32, u32),
    dirs: &Dirs,
    superuser: &str,
    preload: &[&str],
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let to_bin = format!("/usr/lib/postgresql/{to}/bin");
    progress.status(
        "Upgrading",
        &format!("PostgreSQL {from} to {to} (pg_upgrade --link)"),
    );
    timed(steps, "initdb", || {
        ws.run(&["install", "-d", "-m", "0700", &dirs.new_data])?;
        let init = check::initdb_args(&to_bin, &dirs.new_data, superuser, Some(&dirs.new_wal));
        let init: Vec<&str> = init.iter().map(String::as_str).collect();
        ws.run(&init).map(drop)
    })?;
    fault::point("upgrade:before-pg-upgrade")?;
    let sockets = "/tmp/upgrade-sockets";
    ws.run(&["install", "-d", "-m", "0700", sockets])?;
    let argv = check::pg_upgrade_argv(&check::PgUpgrade {
        mode: "--link",
        from,
        to,
        new_data: &dirs.new_data,
        superuser,
        old_port: "50431",
        sockets,
        preload,
    });
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let output = timed(steps, "pg_upgrade --link", || ws.run(&argv))?;
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        progress.detail(line);
    }
    Ok(())
}

/// The old directories aside (their `pg_wal` link re-pointed), the new ones in.
pub(crate) fn swap(ws: &super::workspace::Workspace<'_>, dirs: &Dirs) -> anyhow::Result<()> {
    ws.rename(PGDATA, &dirs.aside_data)?;
    ws.rename(PGWAL, &dirs.aside_wal)?;
    ws.relink(&format!("{}/pg_wal", dirs.aside_data), &dirs.aside_wal)?;
    ws.rename(&dirs.new_data, PGDATA)?;
    ws.rename(&dirs.new_wal, PGWAL)?;
    ws.relink(&format!("{PGDATA}/pg_wal"), PGWAL)
}

/// Puts each set-aside directory back at its live name, what stands there
/// renamed to its id-named `parking` name first (the caller removes those);
/// each pair on its own, so an interrupted run is finished by the next. Then
/// checks that PGDATA holds a cluster of `major`. The upgrade's and its
/// rollback's undo share it.
pub(crate) fn put_back(
    ws: &super::workspace::Workspace<'_>,
    moves: [(&str, String, String); 2],
    major: u32,
) -> anyhow::Result<()> {
    for (live, aside, parking) in moves {
        if ws.present(&aside)? {
            if ws.present(live)? {
                ws.rename(live, &parking)?;
            }
            ws.rename(&aside, live)?;
        }
    }
    let version = ws.read_file(&format!("{PGDATA}/PG_VERSION"))?;
    if version.as_deref().map(str::trim) != Some(major.to_string().as_str()) {
        bail!(
            "the data directory does not hold the PostgreSQL {major} cluster (PG_VERSION: {version:?}) and no \
             set-aside copy of it was found; nothing more was changed: inspect the volumes (`cargo xtask old-clusters`)"
        );
    }
    Ok(())
}

/// Undoes a `pg_upgrade --link` whose new server never started, with the old
/// cluster at PGDATA: `global/pg_control.old` renamed back (PostgreSQL's
/// documented revert) and the new cluster's directories, named by the caller's id, removed.
pub(crate) fn revert_link(ws: &super::workspace::Workspace<'_>, dirs: &Dirs) -> anyhow::Result<()> {
    let control = format!("{PGDATA}/global/pg_control");
    let control_old = format!("{control}.old");
    if !ws.exists(&control)? && ws.exists(&control_old)? {
        ws.rename(&control_old, &control)?;
    }
    for dir in [&dirs.new_data, &dirs.new_wal] {
        if ws.present(dir)? {
            ws.remove(dir)?;
        }
    }
    Ok(())
}

/// `.env` with the target's PG_MAJOR, suite and image (every other line kept).
pub(crate) fn set_env_major(stack: &Stack, target: &Config) -> anyhow::Result<()> {
    let path = stack.paths.env_file();
    let text = std::fs::read_to_string(&path)?;
    let major = target.pg_major().to_string();
    let changed = crate::config::envfile::set_keys(
        &text,
        &[
            ("PG_MAJOR", &major),
            ("DEBIAN_SUITE", "auto"),
            ("POSTGRES_IMAGE", target.image()),
        ],
    );
    crate::fsutil::write_atomic(&path, changed.as_bytes(), 0o600)
}

/// What follows a started upgrade, again: extensions brought to the image's
/// versions and statistics rebuilt (`upgrade --finish`; safe to repeat).
pub fn finish(
    stack: &Stack,
    progress: &dyn Progress,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let done = super::extensions::update_all(stack, progress)?;
    analyze(stack, progress)?;
    Ok(done)
}

/// `vacuumdb --all --analyze-in-stages` in the server's container.
fn analyze(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<()> {
    progress.status(
        "Analyzing",
        "every database in stages (vacuumdb --analyze-in-stages)",
    );
    let output = stack.docker.exec(
        &stack.container(),
        &[
            "vacuumdb",
            "--all",
            "--analyze-in-stages",
            "--host=/tmp",
            &format!("--username={}", stack.config.superuser()),
        ],
        None,
    )?;
    if output.exit_code != 0 {
        bail!(
            "vacuumdb --analyze-in-stages failed: {}",
            output.stderr.trim_end()
        );
    }
    Ok(())
}

/// Puts the old cluster back and starts it, from a step before `Starting`
/// (the new server never ran). Runs in the restore workspace of `stack` (the
/// old major's configuration and image: nothing is built), and is safe to run
/// again when it was itself interrupted: each of the data and WAL directories
/// is put back on its own.
pub(crate) fn roll_back(
    stack: &Stack,
    journal: &Journal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    if journal.step == Step::Starting || journal.step == Step::Started {
        bail!("an upgrade whose new server started is not rolled back by moving directories");
    }
    stack
        .compose()
        .all_profiles()
        .run(&["stop", "logical_backup", "dashboard", "postgres"])?;
    {
        let ws = crate::backup::restore::workspace::Workspace::start(stack)?;
        put_back(
            &ws,
            [
                (PGDATA, journal.aside_data(), journal.new_data()),
                (PGWAL, journal.aside_wal(), journal.new_wal()),
            ],
            journal.from,
        )
        .with_context(|| format!("backup set {} holds the data", journal.backup_set))?;
        ws.relink(&format!("{PGDATA}/pg_wal"), PGWAL)?;
        revert_link(
            &ws,
            &Dirs {
                new_data: journal.new_data(),
                new_wal: journal.new_wal(),
                aside_data: journal.aside_data(),
                aside_wal: journal.aside_wal(),
            },
        )?;
        if ws.exists(STANZA_MARKER)? {
            ws.remove(STANZA_MARKER)?;
        }
        ws.sync()?;
    }
    crate::fsutil::write_atomic(
        &stack.paths.env_file(),
        journal.env_before.as_bytes(),
        0o600,
    )?;
    // The old cluster is in place and `.env` names it: from here a plain `up` is the way on.
    journal::remove(&stack.paths)?;
    let config = Config::load(&stack.paths).map_err(|err| anyhow::anyhow!("{err}"))?;
    let old = Stack::new(stack.paths.clone(), config)?;
    old.up(progress).context(
        "the old cluster is back in place (and `.env` names it) but did not start; see `cargo xtask logs`, then `cargo xtask up`",
    )?;
    progress.status(
        "Rolled back",
        &format!(
            "PostgreSQL {} serves the data as before the upgrade",
            journal.from
        ),
    );
    Ok(())
}

/// Finishes or rolls back an upgrade a killed run left. `up` and `upgrade`
/// call it before they load `.env` (a kill may have left it naming either major).
pub fn recover_pending(
    paths: &crate::paths::Paths,
    progress: &dyn Progress,
) -> anyhow::Result<Option<String>> {
    if IN_PROGRESS.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(None);
    }
    if let Some(said) = super::rollback::recover_pending(paths, progress)? {
        return Ok(Some(said));
    }
    let Some(journal) = journal::read(paths)? else {
        return Ok(None);
    };
    let _in_progress = InProgress::enter();
    let said = recover_journal(paths, journal, progress);
    // A killed upgrade may have left PgBouncer's clients paused: resumed whatever the
    // recovery came to (its journal may be gone even when its last `up` failed).
    resume_after(paths, progress);
    Ok(Some(said?))
}

/// `resume_clients` for the stack `.env` names now (a recovery's last word on PgBouncer).
pub(crate) fn resume_after(paths: &crate::paths::Paths, progress: &dyn Progress) {
    match Config::load(paths)
        .map_err(|err| anyhow::anyhow!("{err}"))
        .and_then(|config| Stack::new(paths.clone(), config))
    {
        Ok(stack) => resume_clients(&stack, progress),
        Err(err) => progress.status(
            "Warning",
            &format!("PgBouncer's clients may still be paused ({err:#})"),
        ),
    }
}

fn recover_journal(
    paths: &crate::paths::Paths,
    journal: Journal,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    let before = Config::parse(paths.env_file().as_str(), &journal.env_before)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    match journal.step {
        Step::Started => {
            // The new server ran healthy: only the follow-up work was cut short.
            journal::complete(paths, &journal)?;
            Ok(format!(
                "an upgrade to PostgreSQL {} had started its new server; `cargo xtask upgrade --finish` updates extensions and statistics",
                journal.to
            ))
        }
        Step::Starting => {
            // The new server may have run: forward only.
            let target = before
                .with_major(journal.to)
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            let old_stack = Stack::new(paths.clone(), before)?;
            set_env_major(&old_stack, &target)?;
            let new_stack = Stack::new(paths.clone(), target)?;
            new_stack.up(progress).context(
                "an interrupted upgrade's new server did not start; fix what is said above and run `cargo xtask up` again",
            )?;
            let mut journal = journal;
            journal.step = Step::Started;
            journal::write(paths, &journal)?;
            let (_, errors) = finish(&new_stack, progress)?;
            journal::complete(paths, &journal)?;
            let mut said = format!(
                "an interrupted upgrade to PostgreSQL {} was finished",
                journal.to
            );
            if !errors.is_empty() {
                said.push_str(&format!(
                    " (extensions not updated: {}; `cargo xtask upgrade --finish` tries again)",
                    errors.join("; ")
                ));
            }
            Ok(said)
        }
        Step::Stopping | Step::Upgrading | Step::Swapping => {
            let old_stack = Stack::new(paths.clone(), before)?;
            roll_back(&old_stack, &journal, progress)?;
            Ok(format!(
                "an interrupted upgrade to PostgreSQL {} was rolled back; PostgreSQL {} serves the data",
                journal.to, journal.from
            ))
        }
    }
}
