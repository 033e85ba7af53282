//! `bench upgrade`: the downtime of `upgrade --yes` (link mode) on a
//! generated database, next to its floor: `initdb` and a plain
//! `pg_upgrade --link` of the same cluster run by hand in the upgrade
//! container with the server stopped (then reverted the way PostgreSQL
//! documents for a new cluster that never started: `pg_control.old` renamed
//! back). Link mode copies no data, so both should stay nearly flat as the
//! data grows.

use std::time::{Duration, Instant};

use crate::bench::load;
use crate::config::sizing::Resources;
use crate::image;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;
use crate::upgrade::{self, Dirs};

pub struct UpgradeFigures {
    pub from: u32,
    pub to: u32,
    pub database_mb: f64,
    /// By hand: initdb + `pg_upgrade --link`, the server already stopped.
    pub floor_seconds: f64,
    pub floor_steps: Vec<(String, f64)>,
    /// `upgrade --yes`'s downtime (stop to the new server healthy) and its steps.
    pub downtime_seconds: f64,
    pub steps: Vec<(String, f64)>,
}

/// One generated stack of the oldest major of `suites.txt`, upgraded to `to`.
pub fn upgrade(size_mb: u32, to: u32, progress: &dyn Progress) -> anyhow::Result<UpgradeFigures> {
    let from = *image::suites::majors()
        .first()
        .expect("suites.txt lists a major");
    anyhow::ensure!(
        from < to,
        "suites.txt has no major older than {to} to upgrade from"
    );
    let major = from.to_string();
    let scratch = Scratch::create(
        "bench_upgrade",
        251,
        &[("PG_MAJOR", major.as_str())],
        Resources::from_host(),
    )?;
    let stack = &scratch.stack;
    image::build::ensure(&stack.docker, &stack.paths, &stack.config, false, progress)?;
    // The images the upgrade needs, built before anything is timed.
    let (target, upgrade_stack, _) = upgrade::prepare(stack, to, progress)?;
    progress.status("Starting", &format!("a scratch PostgreSQL {from} stack"));
    stack.up(&Quiet)?;
    let scale = (size_mb / 15).max(1);
    progress.status(
        "Generating",
        &format!("about {size_mb} MB (pgbench scale {scale})"),
    );
    load(stack, scale)?;
    let bytes: i64 = stack
        .connect("postgres")?
        .query_one(
            "SELECT sum(pg_database_size(datname))::bigint FROM pg_database",
            &[],
        )?
        .get(0);

    progress.status("Measuring", "floor: initdb and pg_upgrade --link by hand");
    stack
        .compose()
        .all_profiles()
        .run(&["stop", "logical_backup", "dashboard", "postgres"])?;
    let mut floor_steps = Vec::new();
    {
        let ws = upgrade::workspace(&upgrade_stack, true)?;
        let dirs = Dirs {
            new_data: format!("{}.bench", upgrade::PGDATA),
            new_wal: format!("{}.bench", upgrade::PGWAL),
            aside_data: String::new(),
            aside_wal: String::new(),
        };
        let preload = crate::render::preload_libraries(&target);
        upgrade::link_upgrade(
            &ws,
            (from, to),
            &dirs,
            stack.config.superuser(),
            &preload,
            &mut floor_steps,
            &Quiet,
        )?;
        // The new cluster never started: the old one is put back as PostgreSQL documents.
        upgrade::revert_link(&ws, &dirs)?;
    }
    let floor_seconds = floor_steps.iter().map(|(_, s)| s).sum();
    stack.compose().run(&["up", "--detach", "postgres"])?;
    stack.wait_healthy(Duration::from_secs(600), &Quiet)?;

    progress.status("Measuring", &format!("`upgrade --yes` from {from} to {to}"));
    let started = Instant::now();
    let report = upgrade::upgrade(stack, to, progress)?;
    progress.status(
        "Measured",
        &format!(
            "the upgrade ran {:.1}s in all",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(UpgradeFigures {
        from,
        to,
        database_mb: bytes as f64 / 1e6,
        floor_seconds,
        floor_steps,
        downtime_seconds: report.downtime_seconds,
        steps: report.steps,
    })
}
