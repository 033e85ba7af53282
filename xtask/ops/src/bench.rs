//! Benchmarks, measured against a floor: `up` against a bare `docker run` of
//! the same image, and our tuned configuration against stock settings under the
//! same pgbench workload and the same container limits.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::config::sizing::Resources;
use crate::config::value::parse_size_mb;
use crate::docker::{ContainerSpec, Docker, Mount, Running};
use crate::image;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;
use crate::wait::{poll_until, ready_if};

/// Samples of one measurement, in seconds (or TPS).
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

pub struct UpFigures {
    /// `up` on fresh volumes with the image present, to healthy and bootstrapped.
    pub cold_up: Samples,
    /// `up` again on the running stack (nothing to do).
    pub noop_up: Samples,
    /// Bare `docker run` of the same image: initdb, then the server to `pg_isready`.
    pub floor: Samples,
}

/// Makes sure the image exists before anything is timed.
pub(crate) fn prepare_image(progress: &dyn Progress) -> anyhow::Result<Scratch> {
    let scratch = Scratch::create("bench", 250, &[], Resources::from_host())?;
    image::build::ensure(
        &scratch.stack.docker,
        &scratch.stack.paths,
        &scratch.stack.config,
        false,
        progress,
    )?;
    Ok(scratch)
}

pub fn up(runs: u32, progress: &dyn Progress) -> anyhow::Result<UpFigures> {
    let reference = prepare_image(progress)?;
    let image = reference.stack.config.image().to_owned();
    let user = format!(
        "{}:{}",
        reference.stack.config.uid(),
        reference.stack.config.gid()
    );
    drop(reference);
    let docker = Docker::connect()?;
    let mut figures = UpFigures {
        cold_up: Samples::default(),
        noop_up: Samples::default(),
        floor: Samples::default(),
    };
    for run in 1..=runs {
        let scratch = Scratch::create("bench_up", 250, &[], Resources::from_host())?;
        let started = Instant::now();
        scratch.stack.up(&Quiet)?;
        figures.cold_up.0.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let again = scratch.stack.up(&Quiet)?;
        figures.noop_up.0.push(started.elapsed().as_secs_f64());
        if !again.nothing_changed() {
            bail!("the second `up` changed something: {again:?}");
        }
        drop(scratch);
        figures
            .floor
            .0
            .push(bare_run_to_ready(&docker, &image, &user)?);
        progress.status(
            "Measured",
            &format!(
                "run {run}/{runs}: up {:.1}s, no-op up {:.1}s, floor {:.1}s",
                figures.cold_up.0.last().unwrap(),
                figures.noop_up.0.last().unwrap(),
                figures.floor.0.last().unwrap()
            ),
        );
    }
    Ok(figures)
}

/// The floor: a fresh volume, `initdb` in one `docker run`, then the server in
/// another, polled with `pg_isready` until it answers. No TLS, no extensions,
/// no confinement (a bare `docker run` is what it stands for).
fn bare_run_to_ready(docker: &Docker, image: &str, user: &str) -> anyhow::Result<f64> {
    let name = format!("core_data-bench-floor-{}", std::process::id());
    let started = Instant::now();
    let server = BareServer::start(docker, image, user, &name, None)?;
    let seconds = started.elapsed().as_secs_f64();
    drop(server);
    Ok(seconds)
}

/// A server of the image on initdb's stock postgresql.conf, on its own volume
/// (removed with it), listening on its Unix socket only.
struct BareServer<'d> {
    docker: &'d Docker,
    container: Option<Running<'d>>,
    volume: String,
}

impl<'d> BareServer<'d> {
    /// `limits`: the service's shm size and memory (MB) and CPUs, for a fair comparison.
    fn start(
        docker: &'d Docker,
        image: &str,
        user: &str,
        name: &str,
        limits: Option<(Option<u64>, Option<u64>, Option<f64>)>,
    ) -> anyhow::Result<BareServer<'d>> {
        let volume = format!("{name}-data");
        docker.remove_container(name)?;
        docker.remove_volume(&volume)?;
        let mut server = BareServer {
            docker,
            container: None,
            volume: volume.clone(),
        };
        let data = Mount::volume(volume, "/var/lib/postgresql/data", false);
        ContainerSpec::unconfined(image)
            .user(user)
            .mount(data.clone())
            .entrypoint(&["initdb"])
            .cmd(&[
                "--pgdata=/var/lib/postgresql/data",
                "--username=postgres",
                "--auth=trust",
            ])
            .run_ok(docker)?;
        let (shm, memory, cpus) = limits.unwrap_or_default();
        let container = ContainerSpec::unconfined(image)
            .name(name)
            .user(user)
            .mount(data)
            .limits(shm, memory, cpus)
            .entrypoint(&["postgres"])
            .cmd(&[
                "-D",
                "/var/lib/postgresql/data",
                "--listen_addresses=",
                "--unix_socket_directories=/tmp",
            ])
            .start(docker)?;
        let running = container.name().to_owned();
        server.container = Some(container);
        poll_until(
            "the bare server",
            Duration::from_secs(120),
            Duration::from_millis(50),
            || {
                let ready =
                    docker.exec(&running, &["pg_isready", "--quiet", "--host=/tmp"], None)?;
                Ok(ready_if(ready.exit_code == 0, || {
                    "pg_isready says no".to_owned()
                }))
            },
        )?;
        Ok(server)
    }

    fn name(&self) -> &str {
        self.container.as_ref().map_or("", Running::name)
    }
}

impl Drop for BareServer<'_> {
    fn drop(&mut self) {
        drop(self.container.take());
        let _ = self.docker.remove_volume(&self.volume);
    }
}

pub struct TuningFigures {
    pub stock_tps: Samples,
    pub ours_tps: Samples,
    pub limits: String,
}

/// pgbench (TPC-B-like) against stock settings and ours, inside containers with
/// the same CPU, memory and shm limits, over the Unix socket.
pub fn tuning(
    scale: u32,
    seconds: u32,
    clients: u32,
    runs: u32,
    progress: &dyn Progress,
) -> anyhow::Result<TuningFigures> {
    let ours = prepare_image(progress)?;
    progress.status("Starting", "our configuration (a scratch stack)");
    ours.stack.up(&Quiet)?;
    let config = &ours.stack.config;
    let limits = format!(
        "cpus {}, memory {}, shm {}",
        config.get("POSTGRES_CPU_LIMIT"),
        config.get("POSTGRES_MEMORY_LIMIT"),
        config.get("POSTGRES_SHM_SIZE")
    );
    let docker = &ours.stack.docker;
    let stock = BareServer::start(
        docker,
        config.image(),
        &format!("{}:{}", config.uid(), config.gid()),
        &format!("core_data-bench-stock-{}", std::process::id()),
        Some((
            parse_size_mb(config.get("POSTGRES_SHM_SIZE")),
            parse_size_mb(config.get("POSTGRES_MEMORY_LIMIT")),
            config.get("POSTGRES_CPU_LIMIT").parse().ok(),
        )),
    )?;
    let mut figures = TuningFigures {
        stock_tps: Samples::default(),
        ours_tps: Samples::default(),
        limits,
    };
    for (label, container, user) in [
        ("stock", stock.name(), "postgres"),
        ("ours", &ours.stack.container(), config.superuser()),
    ] {
        progress.status("Loading", &format!("{label}: pgbench scale {scale}"));
        pgbench(
            docker,
            container,
            user,
            &["--initialize", "--quiet", &format!("--scale={scale}")],
        )?;
    }
    for run in 1..=runs {
        for (label, container, user) in [
            ("stock", stock.name(), "postgres"),
            ("ours", &ours.stack.container(), config.superuser()),
        ] {
            let output = pgbench(
                docker,
                container,
                user,
                &[
                    &format!("--client={clients}"),
                    "--jobs=2",
                    &format!("--time={seconds}"),
                    "--no-vacuum",
                ],
            )?;
            let tps = parse_tps(&output)
                .with_context(|| format!("no tps line in pgbench output:\n{output}"))?;
            progress.status(
                "Measured",
                &format!("run {run}/{runs} {label}: {tps:.0} tps"),
            );
            if label == "stock" {
                figures.stock_tps.0.push(tps)
            } else {
                figures.ours_tps.0.push(tps)
            }
        }
    }
    Ok(figures)
}

pub(crate) fn pgbench(
    docker: &Docker,
    container: &str,
    user: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let mut argv = vec!["pgbench", "--host=/tmp", "--username", user];
    argv.extend_from_slice(args);
    argv.push("postgres");
    let output = docker.exec(container, &argv, None)?;
    if output.exit_code != 0 {
        bail!(
            "`{}` failed in `{container}`:\n{}",
            argv.join(" "),
            output.stderr.trim_end()
        );
    }
    Ok(format!("{}{}", output.stdout, output.stderr))
}

/// The `tps = N (without initial connection time)` figure.
pub fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

pub struct BackupFigures {
    /// pgBackRest compression and process count used.
    pub settings: String,
    pub database_mb: f64,
    pub backup_seconds: f64,
    pub floor_seconds: f64,
    pub verify: crate::backup::verify::VerifyReport,
    pub verify_seconds: f64,
}

/// A scratch stack, up, holding a pgbench database of about `size_mb`
/// (checkpointed); returns it with the size of all its databases in MB.
pub(crate) fn generated_stack(
    size_mb: u32,
    progress: &dyn Progress,
) -> anyhow::Result<(Scratch, f64)> {
    let scratch = prepare_image(progress)?;
    progress.status("Starting", "a scratch stack");
    scratch.stack.up(&Quiet)?;
    let stack = &scratch.stack;
    // pgbench's scale 1 is about 15 MB on disk.
    let scale = (size_mb / 15).max(1);
    progress.status(
        "Generating",
        &format!("about {size_mb} MB (pgbench scale {scale})"),
    );
    pgbench(
        &stack.docker,
        &stack.container(),
        stack.config.superuser(),
        &["--initialize", "--quiet", &format!("--scale={scale}")],
    )?;
    let mut client = stack.connect("postgres")?;
    client.batch_execute("CHECKPOINT")?;
    let bytes: i64 = client
        .query_one(
            "SELECT sum(pg_database_size(datname))::bigint FROM pg_database",
            &[],
        )?
        .get(0);
    Ok((scratch, bytes as f64 / 1e6))
}

/// A full pgBackRest backup of a generated database of about `size_mb`, next to
/// the floor (reading the same data directory with tar), and `backup --verify`.
pub fn backup(size_mb: u32, progress: &dyn Progress) -> anyhow::Result<BackupFigures> {
    use crate::backup::{physical, verify};
    let (scratch, database_mb) = generated_stack(size_mb, progress)?;
    let stack = &scratch.stack;

    progress.status("Measuring", "floor: tar of the data directory");
    let started = Instant::now();
    // GNU tar skips reading file contents when the archive is /dev/null; /dev/zero discards as well but is read honestly.
    let output = stack.docker.exec(
        &stack.container(),
        &[
            "tar",
            "--create",
            "--file=/dev/zero",
            "--warning=no-file-changed",
            "--directory=/var/lib/postgresql/data/pgdata",
            ".",
        ],
        None,
    )?;
    if output.exit_code > 1 {
        bail!(
            "tar of the data directory failed: {}",
            output.stderr.trim_end()
        );
    }
    let floor_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let set = physical::backup(stack, Some(physical::Kind::Full), progress)?;
    let backup_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let verify = verify::verify(stack, Some(&set.label), None, progress)?;
    let verify_seconds = started.elapsed().as_secs_f64();
    let settings = format!(
        "compress-type {}, process-max {}",
        stack.config.get("PGBACKREST_COMPRESS_TYPE"),
        stack.config.get("PGBACKREST_PROCESS_MAX")
    );
    Ok(BackupFigures {
        settings,
        database_mb,
        backup_seconds,
        floor_seconds,
        verify,
        verify_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_tps_parsing() {
        assert_eq!(Samples(vec![3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Samples(vec![4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        let out = "latency average = 5.1 ms\ntps = 1563.219874 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(1563.219874));
        assert_eq!(parse_tps("nothing"), None);
    }
}
