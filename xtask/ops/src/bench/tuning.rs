//! `bench tuning`: the same pgbench workload on three scratch stacks with the
//! same image, container limits, preload libraries, archiving and data
//! checksums, differing only in what is measured:
//! - **stock tuning**: our stack with every tuning setting at the server's
//!   built-in default (`pg_settings.boot_val`, set with `ALTER SYSTEM`): the
//!   sizing keys of `config::sizing::TUNED_KEYS` and WAL compression;
//! - **ours**: the stack as `up` makes it;
//! - **ours without hardening**: ours with archiving, pgaudit's logging,
//!   pg_stat_statements and auto_explain off, for the cost of those features.
//!
//! Read-write (TPC-B-like) and read-only (`--select-only`) runs alternate
//! between the stacks, the order rotating each run; each run records TPS, the
//! checkpoints it contained and the WAL it wrote.

use std::fmt::Write as _;

use anyhow::{bail, Context};

use super::{parse_tps, pgbench, prepare_image, Samples};
use crate::config::sizing::{Resources, TUNED_KEYS};
use crate::progress::{Progress, Quiet};
use crate::render;
use crate::scratch::Scratch;
use crate::sql::{quote_ident, quote_literal};
use crate::stack::Stack;

/// Settings of the template that are tuning choices besides the sizing keys.
const OTHER_TUNING: &[&str] = &["wal_compression"];

/// Preloaded libraries that are hardening and observability, not tuning, and
/// can be left out. pgaudit stays loaded with `pgaudit.log = none`: its event
/// triggers are in every database and refuse DDL when the library is missing.
const HARDENING_LIBRARIES: &[&str] = &["pg_stat_statements", "auto_explain"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Stock,
    Ours,
    OursWithoutHardening,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Stock, Variant::Ours, Variant::OursWithoutHardening];

    pub fn label(self) -> &'static str {
        match self {
            Variant::Stock => "stock tuning",
            Variant::Ours => "core_data",
            Variant::OursWithoutHardening => "core_data without hardening",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::ReadWrite, Mode::ReadOnly];

    pub fn label(self) -> &'static str {
        match self {
            Mode::ReadWrite => "read-write (TPC-B-like)",
            Mode::ReadOnly => "read-only (--select-only)",
        }
    }
}

/// One variant in one mode over the runs.
#[derive(Debug, Default)]
pub struct Series {
    pub tps: Samples,
    /// Checkpoints that ran during each run (timed and requested).
    pub checkpoints: Vec<i64>,
    /// WAL written during each run, MB.
    pub wal_mb: Samples,
}

pub struct Figures {
    pub scale: u32,
    pub data_mb: f64,
    pub limits: String,
    /// `shared_buffers`, `max_wal_size` and `wal_compression` of each variant, as the server reports them.
    pub settings: Vec<(Variant, String)>,
    /// Per mode, per variant (in `Variant::ALL` order).
    pub series: Vec<(Mode, Vec<Series>)>,
    /// Runs that failed (each with its error); the figures leave them out.
    pub failures: Vec<String>,
}

impl Figures {
    pub fn series(&self, mode: Mode, variant: Variant) -> &Series {
        let index = Variant::ALL.iter().position(|v| *v == variant).unwrap_or(0);
        &self
            .series
            .iter()
            .find(|(m, _)| *m == mode)
            .expect("every mode is measured")
            .1[index]
    }

    /// Median TPS of `a` over median TPS of `b`.
    pub fn ratio(&self, mode: Mode, a: Variant, b: Variant) -> f64 {
        self.series(mode, a).tps.median() / self.series(mode, b).tps.median()
    }
}

pub struct Options {
    /// `None`: two thirds of our shared_buffers worth of data.
    pub scale: Option<u32>,
    pub seconds: u32,
    pub clients: u32,
    pub runs: u32,
}

pub fn run(options: &Options, progress: &dyn Progress) -> anyhow::Result<Figures> {
    let ours = prepare_image(progress)?;
    let stock = Scratch::create("bench_stock", 246, &[], Resources::from_host())?;
    let bare = Scratch::create("bench_bare", 245, &[], Resources::from_host())?;
    let stacks = [&stock.stack, &ours.stack, &bare.stack];
    for (variant, stack) in Variant::ALL.iter().zip(stacks) {
        progress.status(
            "Starting",
            &format!("{} (a scratch stack)", variant.label()),
        );
        stack.up(&Quiet)?;
        // The sidecar's dumps would land in the middle of a run.
        stack.compose().run(&["stop", "logical_backup"])?;
        let changes = variant_settings(stack, *variant)?;
        if !changes.is_empty() {
            apply_and_restart(stack, &changes)?;
        }
    }
    let config = &ours.stack.config;
    let limits = format!(
        "cpus {}, memory {}, shm {}",
        config.get("POSTGRES_CPU_LIMIT"),
        config.get("POSTGRES_MEMORY_LIMIT"),
        config.get("POSTGRES_SHM_SIZE")
    );
    let ours_buffers_mb = setting_mb(&ours.stack, "shared_buffers")?;
    let stock_buffers_mb = setting_mb(&stock.stack, "shared_buffers")?;
    // pgbench's scale 1 is about 15 MB on disk.
    let scale = options
        .scale
        .unwrap_or(((ours_buffers_mb * 2.0 / 3.0) / 15.0).round().max(1.0) as u32);
    let mut settings = Vec::new();
    for (variant, stack) in Variant::ALL.iter().zip(stacks) {
        settings.push((*variant, describe_settings(stack)?));
        progress.status(
            "Loading",
            &format!("{}: pgbench scale {scale}", variant.label()),
        );
        super::load(stack, scale)?;
    }
    let data_mb = database_mb(&ours.stack)?;
    if data_mb <= stock_buffers_mb || data_mb >= ours_buffers_mb {
        progress.status(
            "Warning",
            &format!(
                "the data ({data_mb:.0} MB) is not between stock shared_buffers ({stock_buffers_mb:.0} MB) \
                 and ours ({ours_buffers_mb:.0} MB): the workload does not show the difference it is meant to"
            ),
        );
    }
    let warm_up = (options.seconds / 3).max(5).to_string();
    for (variant, stack) in Variant::ALL.iter().zip(stacks) {
        progress.status(
            "Warming",
            &format!("{}: {warm_up}s read-only", variant.label()),
        );
        run_pgbench(stack, Mode::ReadOnly, options.clients, &warm_up)?;
    }
    let mut series: Vec<(Mode, Vec<Series>)> = Mode::ALL
        .iter()
        .map(|mode| {
            (
                *mode,
                Variant::ALL.iter().map(|_| Series::default()).collect(),
            )
        })
        .collect();
    let seconds = options.seconds.to_string();
    let mut failures = Vec::new();
    for run in 0..options.runs {
        for (mode, per_variant) in &mut series {
            for offset in 0..Variant::ALL.len() {
                let index = (offset + run as usize) % Variant::ALL.len();
                let (variant, stack) = (Variant::ALL[index], stacks[index]);
                // A run that fails (a server that crashed, say) is reported and the others go on.
                let measured = wal_and_checkpoints(stack).and_then(|before| {
                    let tps = run_pgbench(stack, *mode, options.clients, &seconds)?;
                    Ok((before, tps, wal_and_checkpoints(stack)?))
                });
                let what = format!(
                    "run {}/{} {} {}",
                    run + 1,
                    options.runs,
                    mode.label(),
                    variant.label()
                );
                let (before, tps, after) = match measured {
                    Ok(measured) => measured,
                    Err(err) => {
                        progress.status("Failed", &format!("{what}: {err:#}"));
                        failures.push(format!("{what}: {err:#}"));
                        stack.wait_healthy(std::time::Duration::from_secs(300), &Quiet)?;
                        continue;
                    }
                };
                let entry = &mut per_variant[index];
                entry.tps.0.push(tps);
                entry.checkpoints.push(after.1 - before.1);
                entry.wal_mb.0.push((after.0 - before.0) / 1e6);
                progress.status(
                    "Measured",
                    &format!(
                        "{what}: {tps:.0} tps, {} checkpoint(s), {:.0} MB WAL",
                        after.1 - before.1,
                        (after.0 - before.0) / 1e6
                    ),
                );
            }
        }
    }
    Ok(Figures {
        scale,
        data_mb,
        limits,
        settings,
        series,
        failures,
    })
}

/// `ALTER SYSTEM` assignments that turn our stack into `variant`.
fn variant_settings(stack: &Stack, variant: Variant) -> anyhow::Result<Vec<(String, String)>> {
    match variant {
        Variant::Ours => Ok(Vec::new()),
        Variant::Stock => {
            let tuned: Vec<String> = render::setting_keys(&stack.paths)?
                .into_iter()
                .filter(|(_, key)| TUNED_KEYS.contains(key))
                .map(|(name, _)| name)
                .chain(OTHER_TUNING.iter().map(|name| (*name).to_owned()))
                .collect();
            if tuned.len() != TUNED_KEYS.len() + OTHER_TUNING.len() {
                bail!("the template does not use every tuning key: {tuned:?}");
            }
            let mut client = stack.connect("postgres")?;
            let mut out = Vec::new();
            for name in tuned {
                let row = client
                    .query_one("SELECT boot_val FROM pg_settings WHERE name = $1", &[&name])
                    .with_context(|| format!("no setting `{name}`"))?;
                out.push((name, row.get::<_, String>(0)));
            }
            Ok(out)
        }
        Variant::OursWithoutHardening => {
            let libraries: Vec<&str> = render::PRELOAD_LIBRARIES
                .iter()
                .copied()
                .filter(|library| !HARDENING_LIBRARIES.contains(library))
                .collect();
            Ok(vec![
                ("archive_mode".to_owned(), "off".to_owned()),
                ("pgaudit.log".to_owned(), "none".to_owned()),
                ("shared_preload_libraries".to_owned(), libraries.join(",")),
            ])
        }
    }
}

/// Writes `changes` with `ALTER SYSTEM` (values quoted by `quote_literal`),
/// restarts the server, waits for health and checks that every value took.
fn apply_and_restart(stack: &Stack, changes: &[(String, String)]) -> anyhow::Result<()> {
    let mut client = stack.connect("postgres")?;
    for (name, value) in changes {
        // A list setting takes one literal per element.
        let values: Vec<String> = if name == "shared_preload_libraries" {
            value.split(',').map(quote_literal).collect()
        } else {
            vec![quote_literal(value)]
        };
        client.batch_execute(&format!(
            "ALTER SYSTEM SET {} = {}",
            quote_ident(name),
            values.join(", ")
        ))?;
    }
    drop(client);
    stack.compose().run(&["restart", "postgres"])?;
    stack.wait_healthy(std::time::Duration::from_secs(300), &Quiet)?;
    let mut client = stack.connect("postgres")?;
    for (name, value) in changes {
        let row = client.query_one(
            "SELECT setting, coalesce(unit, '') FROM pg_settings WHERE name = $1",
            &[name],
        )?;
        let (setting, unit): (String, String) = (row.get(0), row.get(1));
        // wal_buffers' -1 is reported as the size it chose.
        let same = setting.replace(' ', "") == value.replace(' ', "");
        if !(same || (name == "wal_buffers" && value == "-1")) {
            bail!("`{name}` is {setting}{unit} after the restart, not {value}");
        }
    }
    Ok(())
}

fn setting_mb(stack: &Stack, name: &str) -> anyhow::Result<f64> {
    let bytes: i64 = stack
        .connect("postgres")?
        .query_one("SELECT pg_size_bytes(current_setting($1))", &[&name])?
        .get(0);
    Ok(bytes as f64 / 1048576.0)
}

fn describe_settings(stack: &Stack) -> anyhow::Result<String> {
    let mut client = stack.connect("postgres")?;
    let mut out = String::new();
    for name in [
        "shared_buffers",
        "max_wal_size",
        "wal_compression",
        "wal_buffers",
        "shared_preload_libraries",
        "archive_mode",
        "pgaudit.log",
    ] {
        let value: String = client
            .query_one("SELECT current_setting($1)", &[&name])?
            .get(0);
        let _ = write!(
            out,
            "{}{name}={value}",
            if out.is_empty() { "" } else { ", " }
        );
    }
    Ok(out)
}

fn database_mb(stack: &Stack) -> anyhow::Result<f64> {
    let bytes: i64 = stack
        .connect("postgres")?
        .query_one("SELECT pg_database_size('postgres')", &[])?
        .get(0);
    Ok(bytes as f64 / 1e6)
}

/// (WAL position in bytes, checkpoints so far).
fn wal_and_checkpoints(stack: &Stack) -> anyhow::Result<(f64, i64)> {
    let row = stack.connect("postgres")?.query_one(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, \
                (num_timed + num_requested)::bigint FROM pg_stat_checkpointer",
        &[],
    )?;
    Ok((row.get(0), row.get(1)))
}

fn run_pgbench(stack: &Stack, mode: Mode, clients: u32, seconds: &str) -> anyhow::Result<f64> {
    let clients = format!("--client={clients}");
    let time = format!("--time={seconds}");
    let mut args = vec![clients.as_str(), "--jobs=2", time.as_str(), "--no-vacuum"];
    if mode == Mode::ReadOnly {
        args.push("--select-only");
    }
    let output = pgbench(
        &stack.docker,
        &stack.container(),
        stack.config.superuser(),
        &args,
    )?;
    parse_tps(&output).with_context(|| format!("no tps line in pgbench output:\n{output}"))
}
