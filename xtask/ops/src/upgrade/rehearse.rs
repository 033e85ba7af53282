//! `upgrade --rehearse`: the upgrade, timed, on a clone; the live cluster is
//! not touched.
//!
//! The checks run first, as for the real upgrade, and stop the rehearsal the
//! same way. The clone is the newest backup set restored by pgBackRest from the
//! stack's repository (mounted read-only) into two volumes of its own
//! (`<project>_rehearsal_pgdata` / `_pgwal`), recovered to the end of the
//! archived WAL by the old major's server in the upgrade container (archiving
//! off) and left running, as the live server is before an upgrade. Then the
//! upgrade's own steps, timed as the real one times them: stop, initdb,
//! `pg_upgrade --link` (the same command line), the swap, the start of the new
//! server; then statistics (`vacuumdb --analyze-in-stages`). The clone's
//! volumes are removed at the end, whatever happened.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::check::{self, HBA_OPTIONS, SCRATCH_PORT};
use super::run::{self, Dirs};
use super::workspace::{Workspace, PGDATA, PGWAL};
use crate::progress::Progress;
use crate::stack::Stack;

/// Where the clone's servers put their sockets (the workspace's private /tmp).
const SOCKETS: &str = "/tmp/rehearsal-sockets";

#[derive(Debug, Clone)]
pub struct Rehearsal {
    pub from: u32,
    pub to: u32,
    /// The backup set the clone was made from.
    pub backup_set: String,
    /// stop + initdb + pg_upgrade + swap + start, as the real upgrade counts it.
    pub downtime_seconds: f64,
    pub steps: Vec<(String, f64)>,
    /// Making the clone (restore and recovery; not part of the downtime).
    pub clone_seconds: f64,
}

/// The clone's volume names.
fn volumes(stack: &Stack) -> [String; 2] {
    let project = stack.config.project();
    [
        format!("{project}_rehearsal_pgdata"),
        format!("{project}_rehearsal_pgwal"),
    ]
}

pub fn rehearse(stack: &Stack, to: u32, progress: &dyn Progress) -> anyhow::Result<Rehearsal> {
    let (target, upgrade_stack, report) =
        run::prepare_checked(stack, to, ", so neither can its rehearsal", progress)?;
    let sets = crate::backup::physical::info(stack)?;
    let Some(set) = sets.last().cloned() else {
        bail!("the rehearsal clones the newest backup set and the repository has none; take one with `cargo xtask backup`");
    };
    let volumes = volumes(&upgrade_stack);
    // A killed rehearsal's clone: its container first (a volume in use is not removed),
    // then its volumes, which only ever hold a copy made from the repository.
    super::workspace::sweep_clone(&upgrade_stack)?;
    remove_volumes(&upgrade_stack, &volumes)?;
    let result = (|| {
        let ws = super::workspace::start_clone(&upgrade_stack, &volumes)?;
        let outcome = rehearse_in(&ws, stack, &target, report.from, &set.label, progress);
        // The clone's servers stop with the container; nothing of them is kept.
        drop(ws);
        outcome
    })();
    let removed = remove_volumes(&upgrade_stack, &volumes);
    let rehearsal = result?;
    removed.context("the rehearsal finished but its clone's volumes could not be removed")?;
    Ok(rehearsal)
}

fn remove_volumes(stack: &Stack, volumes: &[String; 2]) -> anyhow::Result<()> {
    for volume in volumes {
        if stack.docker.volume_exists(volume)? {
            stack.docker.remove_volume(volume)?;
        }
    }
    Ok(())
}

fn rehearse_in(
    ws: &Workspace<'_>,
    stack: &Stack,
    target: &crate::config::Config,
    from: u32,
    set: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Rehearsal> {
    let to = target.pg_major();
    let superuser = stack.config.superuser();
    let cloning = Instant::now();
    progress.status(
        "Cloning",
        &format!(
            "backup set {set} into the rehearsal's own volumes (the live cluster is not touched)"
        ),
    );
    ws.run(&["install", "-d", "-m", "0700", PGDATA])?;
    let mut args = crate::backup::restore::pgbackrest_restore_args(PGDATA, PGWAL, set);
    args.extend([
        "--type=default".to_owned(),
        // The clone never archives into the live stack's repository.
        "--archive-mode=off".to_owned(),
        "restore".to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ws.run(&args)
        .context("pgBackRest could not restore the newest backup set into the rehearsal's clone")?;
    ws.run(&["install", "-d", "-m", "0700", SOCKETS])?;
    let from_bin = format!("/usr/lib/postgresql/{from}/bin");
    pg_ctl_start(ws, &from_bin, HBA_OPTIONS)?;
    wait_promoted(ws, &from_bin, superuser)?;
    let clone_seconds = cloning.elapsed().as_secs_f64();

    let mut steps = Vec::new();
    let down = Instant::now();
    progress.status("Stopping", &format!("the clone's PostgreSQL {from}"));
    run::timed(&mut steps, "stop", || pg_ctl_stop(ws, &from_bin))?;
    let id = crate::clock::utc_stamp(std::time::SystemTime::now());
    let dirs = Dirs {
        new_data: format!("{PGDATA}.upgrade-{id}"),
        new_wal: format!("{PGWAL}.upgrade-{id}"),
        aside_data: format!("{PGDATA}.pre-upgrade-{id}"),
        aside_wal: format!("{PGWAL}.pre-upgrade-{id}"),
    };
    let preload = crate::render::preload_libraries(target);
    run::link_upgrade(
        ws,
        (from, to),
        &dirs,
        superuser,
        &preload,
        &mut steps,
        progress,
    )?;
    progress.status("Swapping", "the clone's directories");
    run::timed(&mut steps, "swap", || {
        run::swap(ws, &dirs)?;
        ws.sync()
    })?;
    progress.status("Starting", &format!("the clone's PostgreSQL {to}"));
    let to_bin = format!("/usr/lib/postgresql/{to}/bin");
    run::timed(&mut steps, "start", || {
        pg_ctl_start(ws, &to_bin, &check::new_server_options(&preload))
    })?;
    let downtime_seconds = down.elapsed().as_secs_f64();
    progress.status(
        "Analyzing",
        "the clone in stages (vacuumdb --analyze-in-stages)",
    );
    run::timed(&mut steps, "analyze in stages", || {
        ws.run(&[
            &format!("{to_bin}/vacuumdb"),
            "--all",
            "--analyze-in-stages",
            &format!("--host={SOCKETS}"),
            &format!("--port={SCRATCH_PORT}"),
            &format!("--username={superuser}"),
        ])
        .map(drop)
    })?;
    pg_ctl_stop(ws, &to_bin)?;
    Ok(Rehearsal {
        from,
        to,
        backup_set: set.to_owned(),
        downtime_seconds,
        steps,
        clone_seconds,
    })
}

/// Starts the clone's server at PGDATA with `options`, private to the workspace
/// (no TCP, no archiving: the repository is the live stack's).
fn pg_ctl_start(ws: &Workspace<'_>, bin: &str, options: &str) -> anyhow::Result<()> {
    let options = format!(
        "{options} -c listen_addresses= -c port={SCRATCH_PORT} -c unix_socket_directories={SOCKETS} -c archive_mode=off"
    );
    ws.run(&[
        &format!("{bin}/pg_ctl"),
        &format!("--pgdata={PGDATA}"),
        "--wait",
        "--timeout=1800",
        "--silent",
        "-o",
        &options,
        "start",
    ])
    .map(drop)
}

fn pg_ctl_stop(ws: &Workspace<'_>, bin: &str) -> anyhow::Result<()> {
    ws.run(&[
        &format!("{bin}/pg_ctl"),
        &format!("--pgdata={PGDATA}"),
        "--mode=fast",
        "--wait",
        "--timeout=600",
        "--silent",
        "stop",
    ])
    .map(drop)
}

/// Waits until the clone has replayed the archive and left recovery.
fn wait_promoted(ws: &Workspace<'_>, bin: &str, superuser: &str) -> anyhow::Result<()> {
    crate::wait::poll_until(
        "the rehearsal's clone to finish recovery",
        Duration::from_secs(1800),
        Duration::from_millis(300),
        || {
            let out = ws.try_run(&[
                &format!("{bin}/psql"),
                "--no-psqlrc",
                "--tuples-only",
                "--no-align",
                &format!("--host={SOCKETS}"),
                &format!("--port={SCRATCH_PORT}"),
                &format!("--username={superuser}"),
                "--dbname=postgres",
                "--command=SELECT pg_is_in_recovery()",
            ])?;
            Ok(if out.ok && out.text.trim() == "f" {
                crate::wait::Poll::Ready(())
            } else {
                crate::wait::Poll::Pending(out.text)
            })
        },
    )
}
