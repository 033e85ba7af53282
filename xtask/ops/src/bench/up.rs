//! `bench up`: `up` on fresh volumes (image present) to healthy and
//! bootstrapped, next to a bare `docker run` of the same image (initdb, then
//! the server to `pg_isready`), each with where the time went. Ours is split
//! by `up`'s own status lines and the postgres container's log (the
//! entrypoint's step lines and the server's "ready" line, timed by the
//! engine), so the breakdown needs no instrumentation in the product.

use std::time::Instant;

use anyhow::bail;

use super::bare::BareServer;
use super::{prepare_image, Samples, Timeline};
use crate::config::sizing::Resources;
use crate::docker::Docker;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;
use crate::stack::Stack;

/// Samples of each phase, in the order they happen.
#[derive(Debug, Default)]
pub struct Phases(pub Vec<(String, Samples)>);

impl Phases {
    fn add(&mut self, phases: Vec<(String, f64)>) {
        for (name, seconds) in phases {
            match self.0.iter_mut().find(|(known, _)| *known == name) {
                Some((_, samples)) => samples.0.push(seconds),
                None => self.0.push((name, Samples(vec![seconds]))),
            }
        }
    }
}

pub struct Configured {
    /// Application databases in `APP_DATABASES`.
    pub databases: u32,
    /// `up` on fresh volumes with the image present, to healthy and bootstrapped.
    pub cold_up: Samples,
    pub phases: Phases,
    /// `up` again on the running stack (nothing to do).
    pub noop_up: Samples,
}

pub struct Figures {
    pub configs: Vec<Configured>,
    /// Bare `docker run` of the same image: initdb, then the server to `pg_isready`.
    pub floor: Samples,
    pub floor_phases: Phases,
}

/// `APP_DATABASES` with `n` databases, each owned by its own role.
fn app_databases(n: u32) -> String {
    (1..=n)
        .map(|i| format!("app{i:02}:app{i:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn run(runs: u32, databases: &[u32], progress: &dyn Progress) -> anyhow::Result<Figures> {
    let reference = prepare_image(progress)?;
    let image = reference.stack.config.image().to_owned();
    let user = format!(
        "{}:{}",
        reference.stack.config.uid(),
        reference.stack.config.gid()
    );
    drop(reference);
    let docker = Docker::connect()?;
    let mut figures = Figures {
        configs: databases
            .iter()
            .map(|&databases| Configured {
                databases,
                cold_up: Samples::default(),
                phases: Phases::default(),
                noop_up: Samples::default(),
            })
            .collect(),
        floor: Samples::default(),
        floor_phases: Phases::default(),
    };
    // Alternating: every configuration and the floor once per run.
    for run in 1..=runs {
        for configured in &mut figures.configs {
            let list = app_databases(configured.databases);
            let scratch = Scratch::create(
                "bench_up",
                250,
                &[("APP_DATABASES", &list)],
                Resources::from_host(),
            )?;
            let timeline = Timeline::new(&Quiet);
            scratch.stack.up(&timeline)?;
            let seconds = timeline.elapsed();
            configured.cold_up.0.push(seconds);
            configured
                .phases
                .add(phases_of_up(&scratch.stack, &timeline, seconds)?);
            let started = Instant::now();
            let again = scratch.stack.up(&Quiet)?;
            configured.noop_up.0.push(started.elapsed().as_secs_f64());
            if !again.nothing_changed() {
                bail!("the second `up` changed something: {again:?}");
            }
            drop(scratch);
            progress.status(
                "Measured",
                &format!(
                    "run {run}/{runs}, {} database(s): up {seconds:.2}s, no-op up {:.2}s",
                    configured.databases,
                    configured.noop_up.0.last().unwrap_or(&f64::NAN)
                ),
            );
        }
        let name = format!("core_data-bench-floor-{}", std::process::id());
        let started = Instant::now();
        let server = BareServer::start(&docker, &image, &user, &name)?;
        let seconds = started.elapsed().as_secs_f64();
        figures.floor.0.push(seconds);
        figures.floor_phases.add(
            server
                .phases
                .iter()
                .map(|(name, s)| ((*name).to_owned(), *s))
                .collect(),
        );
        drop(server);
        progress.status(
            "Measured",
            &format!("run {run}/{runs}: floor {seconds:.2}s"),
        );
    }
    Ok(figures)
}

/// The time of the server's last "ready to accept connections" line in its log
/// file (the collector's, `log_line_prefix` starting with `%m` in the
/// configured `TZ`), when it is at or after `from`.
fn ready_in_log_file(
    stack: &Stack,
    from: jiff::Timestamp,
) -> anyhow::Result<Option<jiff::Timestamp>> {
    let Some((_, lines)) = crate::server_log::tail(stack, 500)? else {
        return Ok(None);
    };
    let zone = jiff::tz::TimeZone::get(stack.config.get("TZ"))?;
    let at = lines
        .iter()
        .rev()
        .find(|line| line.contains("ready to accept connections"))
        .and_then(|line| line.get(..23))
        .map(|stamp| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", stamp))
        .transpose()?
        .map(|civil| zone.to_timestamp(civil))
        .transpose()?;
    Ok(at.filter(|at| *at >= from))
}

/// Where the time of one `up` went: the points in time, in order, at which
/// each phase starts, from the timeline and the container's log; a point not
/// found (an older entrypoint) merges its phase into the one before.
fn phases_of_up(
    stack: &Stack,
    timeline: &Timeline<'_>,
    total: f64,
) -> anyhow::Result<Vec<(String, f64)>> {
    let (started, log) = stack.docker.logs_timed(&stack.container())?;
    let line = |needle: &str| {
        log.iter()
            .find(|(_, text)| text.contains(needle))
            .map(|(at, _)| *at)
    };
    let serving = line("core_data-entrypoint: starting PostgreSQL");
    // The server's own "ready" line after the entrypoint handed over to it
    // (first boot runs a private server that logs one too). The logging
    // collector writes it into the server's log file, not Docker's log.
    let ready = match serving {
        Some(from) => log
            .iter()
            .find(|(at, text)| *at >= from && text.contains("ready to accept connections"))
            .map(|(at, _)| *at)
            .map_or_else(|| ready_in_log_file(stack, from), |at| Ok(Some(at)))?,
        None => None,
    };
    let end = timeline
        .started_at
        .checked_add(jiff::SignedDuration::from_secs_f64(total))?;
    let points: Vec<(&str, Option<jiff::Timestamp>)> = vec![
        (
            "before compose: checks, image, render, configuration check",
            Some(timeline.started_at),
        ),
        (
            "compose up until the container runs",
            timeline.first("Starting stack"),
        ),
        ("entrypoint checks", Some(started)),
        ("initdb", line("core_data-entrypoint: initialising")),
        (
            "first-boot SQL (extension bundle)",
            line("core_data-entrypoint: running first-boot SQL"),
        ),
        (
            "pgBackRest stanza",
            line("core_data-entrypoint: first boot complete"),
        ),
        ("server start until ready", serving),
        ("ready until healthy", ready),
        (
            "after healthy: passwords, other services",
            timeline
                .first_matching(|line| line.starts_with("Health") && line.ends_with(": healthy")),
        ),
        (
            "bootstrap: roles, databases, extensions, jobs",
            timeline.first("Bootstrap"),
        ),
        ("end", Some(end)),
    ];
    let present: Vec<(&str, jiff::Timestamp)> = points
        .into_iter()
        .filter_map(|(name, at)| at.map(|at| (name, at)))
        .collect();
    let mut ordered = Vec::new();
    for pair in present.windows(2) {
        let seconds = pair[1].1.duration_since(pair[0].1).as_secs_f64();
        if seconds < 0.0 {
            bail!(
                "phase `{}` ends before it starts ({seconds:.3}s): clocks out of step?",
                pair[0].0
            );
        }
        ordered.push((pair[0].0.to_owned(), seconds));
    }
    Ok(ordered)
}
