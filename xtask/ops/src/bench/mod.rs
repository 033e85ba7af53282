//! Benchmarks, each measured next to a floor that does the same work without
//! us: `up` against a bare `docker run` of the same image (`up.rs`), our tuning
//! against stock settings with the same features (`tuning.rs`), a pgBackRest
//! backup against `tar | zstd` of the same directory and `backup --verify`
//! against the backup (`backup.rs`), a restore and its rollback (`restore.rs`),
//! `audit all` (`audit.rs`), the job queue (`queue.rs`) and the `ha`
//! topology's failover, switchover and commit latency (`ha.rs`). Every figure names
//! the build that measured it ([`BUILD`]).

pub mod audit;
pub mod backup;
mod bare;
pub mod ha;
pub mod queue;
pub mod restore;
mod timeline;
pub mod tuning;
pub mod up;
pub mod upgrade;

use anyhow::bail;

use crate::config::sizing::Resources;
use crate::docker::Docker;
use crate::image;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;

pub(crate) use timeline::Timeline;

/// The build whose code was measured: benches print it next to their figures.
pub const BUILD: &str = if cfg!(debug_assertions) {
    "debug (unoptimised)"
} else {
    "release (optimised)"
};

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

    /// (max - min) / median, as a percentage: how far apart the runs were.
    pub fn spread_percent(&self) -> f64 {
        (self.max() - self.min()) / self.median() * 100.0
    }
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

/// pgbench in `container` over its Unix socket, against database `postgres`.
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

/// pgbench's tables at `scale` in database `postgres`, checkpointed.
pub(crate) fn load(stack: &crate::stack::Stack, scale: u32) -> anyhow::Result<()> {
    pgbench(
        &stack.docker,
        &stack.container(),
        stack.config.superuser(),
        &["--initialize", "--quiet", &format!("--scale={scale}")],
    )?;
    stack.connect("postgres")?.batch_execute("CHECKPOINT")?;
    Ok(())
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
    load(stack, scale)?;
    let mut client = stack.connect("postgres")?;
    let bytes: i64 = client
        .query_one(
            "SELECT sum(pg_database_size(datname))::bigint FROM pg_database",
            &[],
        )?
        .get(0);
    Ok((scratch, bytes as f64 / 1e6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_spread_and_tps_parsing() {
        assert_eq!(Samples(vec![3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Samples(vec![4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        assert_eq!(Samples(vec![90.0, 100.0, 110.0]).spread_percent(), 20.0);
        let out = "latency average = 5.1 ms\ntps = 1563.219874 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(1563.219874));
        assert_eq!(parse_tps("nothing"), None);
    }
}
