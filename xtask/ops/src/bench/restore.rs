//! `bench restore`: a whole-cluster restore of a generated database, step by
//! step, and the rollback after a failure injected as late as possible (the
//! restored server healthy, not yet accepted). The floor of a rollback is a
//! plain restart of the server to healthy: it should cost about that.

use std::time::Instant;

use crate::backup::{physical, restore};
use crate::bench::{generated_stack, Timeline};
use crate::progress::{Progress, Quiet};

pub struct RestoreFigures {
    pub database_mb: f64,
    pub restore_seconds: f64,
    pub restore_steps: Vec<(String, f64)>,
    pub rollback_seconds: f64,
    pub rollback_steps: Vec<(String, f64)>,
    /// `compose restart postgres` to healthy.
    pub restart_seconds: f64,
}

pub fn restore(size_mb: u32, progress: &dyn Progress) -> anyhow::Result<RestoreFigures> {
    let (scratch, database_mb) = generated_stack(size_mb, progress)?;
    let stack = &scratch.stack;
    physical::backup(stack, Some(physical::Kind::Full), progress)?;

    progress.status("Measuring", "floor: a restart of the server to healthy");
    let started = Instant::now();
    stack.compose().run(&["restart", "postgres"])?;
    stack.wait_healthy(std::time::Duration::from_secs(600), &Quiet)?;
    let restart_seconds = started.elapsed().as_secs_f64();

    progress.status("Measuring", "a restore to the latest point");
    let timeline = Timeline::new(progress);
    let options = restore::Options {
        discard_old: true,
        ..restore::Options::default()
    };
    restore::restore(stack, &options, &timeline)?;
    let restore_seconds = timeline.elapsed();
    let restore_steps = timeline.steps(restore_seconds);

    progress.status(
        "Measuring",
        "a rollback after a failure once the restored server is healthy",
    );
    let timeline = Timeline::new(progress);
    let options = restore::Options {
        discard_old: true,
        rehearse_rollback: true,
        ..restore::Options::default()
    };
    let failed = restore::restore(stack, &options, &timeline);
    let ended = timeline.elapsed();
    match failed {
        Err(err) if format!("{err:#}").contains("rolled back: your data is as it was") => {}
        Err(err) => return Err(err.context("the rollback rehearsal did not roll back")),
        Ok(_) => {
            anyhow::bail!("the rollback rehearsal completed the restore instead of rolling back")
        }
    }
    let steps = timeline.steps(ended);
    let from = steps
        .iter()
        .position(|(name, _)| name.starts_with("Rolling back"))
        .unwrap_or(0);
    let rollback_steps: Vec<(String, f64)> = steps[from..].to_vec();
    let rollback_seconds = rollback_steps.iter().map(|(_, s)| s).sum();
    Ok(RestoreFigures {
        database_mb,
        restore_seconds,
        restore_steps,
        rollback_seconds,
        rollback_steps,
        restart_seconds,
    })
}
