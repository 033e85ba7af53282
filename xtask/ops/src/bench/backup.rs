//! `bench backup`: a full pgBackRest backup of a generated database next to
//! two floors read from the same data directory in the same container: the
//! same work without pgBackRest (`tar | <compressor>` with pgBackRest's
//! algorithm, level and process count, to /dev/zero) and a plain read (`tar`
//! to /dev/zero); then `backup --verify` of that set next to the backup, at
//! both depths (thorough, and `--quick`), with each step's wall and CPU time.
//! Several sizes show how each grows.

use std::time::Instant;

use anyhow::bail;

use super::generated_stack;
use crate::backup::{physical, verify};
use crate::progress::Progress;
use crate::stack::Stack;

const PGDATA: &str = "/var/lib/postgresql/data/pgdata";

pub struct SizeFigures {
    pub database_mb: f64,
    pub backup_seconds: f64,
    /// CPU time the postgres container used during the backup (pgBackRest
    /// and the server processes serving it, all cores).
    pub backup_cpu_seconds: Option<f64>,
    /// `tar | compressor` with pgBackRest's settings; `None` for a type
    /// without a same-work floor (gz, bz2).
    pub compress_floor_seconds: Option<f64>,
    pub compress_floor: String,
    /// `tar` reading the directory.
    pub read_floor_seconds: f64,
    /// `backup --verify` at each depth, thorough first: its report and seconds.
    pub verifies: Vec<(verify::VerifyReport, f64)>,
}

pub struct Figures {
    /// pgBackRest compression, level and process count used.
    pub settings: String,
    pub sizes: Vec<SizeFigures>,
}

/// pgBackRest's default `compress-level` of each type (its documentation).
fn default_level(compress_type: &str) -> u32 {
    match compress_type {
        "zst" => 3,
        "lz4" => 1,
        "gz" => 6,
        "bz2" => 9,
        _ => 0,
    }
}

/// The compressor of the floor, as tar's `--use-compress-program` (tar runs
/// it with its output going to the archive): same algorithm, level and threads.
fn compressor(compress_type: &str, level: u32, processes: &str) -> Option<String> {
    match compress_type {
        "zst" => Some(format!("zstd -q -{level} -T{processes}")),
        "lz4" => Some(format!("lz4 -q -{level} -T{processes}")),
        _ => None,
    }
}

pub fn run(sizes_mb: &[u32], progress: &dyn Progress) -> anyhow::Result<Figures> {
    let mut out = Vec::new();
    let mut settings = String::new();
    for &size_mb in sizes_mb {
        let (scratch, database_mb) = generated_stack(size_mb, progress)?;
        let stack = &scratch.stack;
        let compress_type = stack.config.get("PGBACKREST_COMPRESS_TYPE").to_owned();
        let processes = stack.config.get("PGBACKREST_PROCESS_MAX").to_owned();
        let level = default_level(&compress_type);
        settings = format!("compress-type {compress_type}, level {level}, process-max {processes}");

        progress.status("Measuring", "floor: tar of the data directory");
        let read_floor_seconds = timed_tar(stack, None)?;
        let compress_floor = compressor(&compress_type, level, &processes);
        let compress_floor_seconds = match &compress_floor {
            Some(command) => {
                progress.status("Measuring", &format!("floor: tar | {command}"));
                Some(timed_tar(stack, Some(command))?)
            }
            None => None,
        };

        let cpu_before = stack.docker.cpu_seconds(&stack.container()).ok();
        let started = Instant::now();
        let set = physical::backup(stack, Some(physical::Kind::Full), progress)?;
        let backup_seconds = started.elapsed().as_secs_f64();
        let backup_cpu_seconds = stack
            .docker
            .cpu_seconds(&stack.container())
            .ok()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        let mut verifies = Vec::new();
        for depth in [verify::Depth::Thorough, verify::Depth::Quick] {
            let started = Instant::now();
            let report = verify::verify(stack, Some(&set.label), None, depth, progress)?;
            verifies.push((report, started.elapsed().as_secs_f64()));
        }
        out.push(SizeFigures {
            database_mb,
            backup_seconds,
            backup_cpu_seconds,
            compress_floor_seconds,
            compress_floor: compress_floor.unwrap_or_else(|| format!("none for {compress_type}")),
            read_floor_seconds,
            verifies,
        });
    }
    Ok(Figures {
        settings,
        sizes: out,
    })
}

/// `tar` of the data directory in the postgres container, through
/// `compressor` when given, into /dev/zero (GNU tar skips reading file
/// contents when the archive is /dev/null; /dev/zero discards as well but is
/// read honestly); its seconds. Exit 1 is a file that changed while read.
fn timed_tar(stack: &Stack, compressor: Option<&str>) -> anyhow::Result<f64> {
    let directory = format!("--directory={PGDATA}");
    let program = compressor.map(|c| format!("--use-compress-program={c}"));
    let mut argv = vec![
        "tar",
        "--create",
        "--file=/dev/zero",
        "--warning=no-file-changed",
        directory.as_str(),
    ];
    argv.extend(program.as_deref());
    argv.push(".");
    let started = Instant::now();
    let output = stack.docker.exec(&stack.container(), &argv, None)?;
    let seconds = started.elapsed().as_secs_f64();
    if output.exit_code > 1 {
        bail!("`{}` failed: {}", argv.join(" "), output.stderr.trim_end());
    }
    Ok(seconds)
}
