//! `bench up`, `tuning`, `backup`, `restore`, `audit` and `queue`: figures,
//! their floor, and the ratio.

use std::process::ExitCode;

use anyhow::Context;
use core_data_ops::backup::verify;
use core_data_ops::bench;

use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::{
    BenchAudit, BenchBackup, BenchPgbouncer, BenchQueue, BenchRestore, BenchTuning, BenchUp,
    BenchUpgrade,
};

/// Figures are for optimised code: a debug build (what `cargo xtask` runs) hands a
/// `bench` command to the release build of the same sources (`cargo run --release`,
/// built on first use) and exits with its code. `CORE_DATA_BENCH_DEBUG_BUILD=1`
/// measures the debug build instead (its figures say so).
pub(crate) fn hand_to_release_build() -> anyhow::Result<Option<ExitCode>> {
    if !cfg!(debug_assertions) || std::env::var_os("CORE_DATA_BENCH_DEBUG_BUILD").is_some() {
        return Ok(None);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the xtask package has no parent directory")?;
    eprintln!(
        "bench: measuring the release (optimised) build: `cargo run --release --package xtask` \
         (built on first use; CORE_DATA_BENCH_DEBUG_BUILD=1 measures this debug build)"
    );
    let mut argv: Vec<std::ffi::OsString> = [
        "run",
        "--release",
        "--quiet",
        "--package",
        "xtask",
        "--bin",
        "xtask",
        "--",
    ]
    .iter()
    .map(Into::into)
    .collect();
    argv.extend(std::env::args_os().skip(1));
    let status = duct::cmd(cargo, argv)
        .dir(workspace)
        .unchecked()
        .run()
        .context("failed to run the release build of xtask")?
        .status;
    Ok(Some(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    )))
}

pub(crate) fn up(ctx: &Ctx, args: &BenchUp) -> CmdResult {
    if args.runs == 0 || args.databases.is_empty() || args.databases.contains(&0) {
        fail!("--runs and every --databases count must be at least 1");
    }
    let figures = bench::up::run(args.runs, &args.databases, &ctx.progress())?;
    let row = |name: &str, samples: &bench::Samples| {
        println!(
            "{name:<52} {:>7.2} s  (min {:.2}, max {:.2}, n={})",
            samples.median(),
            samples.min(),
            samples.max(),
            samples.0.len()
        );
    };
    let phases = |phases: &bench::up::Phases| {
        for (name, samples) in &phases.0 {
            println!("    {:>6.2} s  {name}", samples.median());
        }
    };
    println!(
        "bench up: median over {} run(s); {} build",
        args.runs,
        bench::BUILD
    );
    for configured in &figures.configs {
        row(
            &format!(
                "up, {} app database(s), fresh volumes, to bootstrapped",
                configured.databases
            ),
            &configured.cold_up,
        );
        phases(&configured.phases);
        row(
            "  up again on the running stack (no-op)",
            &configured.noop_up,
        );
    }
    row(
        "floor: bare docker run, initdb + pg_isready",
        &figures.floor,
    );
    phases(&figures.floor_phases);
    for configured in &figures.configs {
        println!(
            "ratio up ({} app database(s)) / floor: {:.2}x",
            configured.databases,
            configured.cold_up.median() / figures.floor.median()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn tuning(ctx: &Ctx, args: &BenchTuning) -> CmdResult {
    use bench::tuning::{Mode, Variant};
    if args.runs == 0 || args.seconds == 0 || args.clients == 0 || args.scale == Some(0) {
        fail!("--runs, --seconds, --clients and --scale must be at least 1");
    }
    let options = bench::tuning::Options {
        scale: args.scale,
        seconds: args.seconds,
        clients: args.clients,
        runs: args.runs,
    };
    let figures = bench::tuning::run(&options, &ctx.progress())?;
    println!(
        "bench tuning: pgbench scale {} ({:.0} MB), {} client(s), {} s x {} run(s) per mode; {} build; \
         each container limited to {}",
        figures.scale,
        figures.data_mb,
        args.clients,
        args.seconds,
        args.runs,
        bench::BUILD,
        figures.limits
    );
    for (variant, settings) in &figures.settings {
        println!("  {:<28} {settings}", variant.label());
    }
    for mode in Mode::ALL {
        println!("{}:", mode.label());
        for variant in Variant::ALL {
            let series = figures.series(mode, variant);
            println!(
                "  {:<28} {:>8.0} tps median (spread {:>4.1}%; runs {}), checkpoints per run {:?}, WAL {:.0} MB per run",
                variant.label(),
                series.tps.median(),
                series.tps.spread_percent(),
                series
                    .tps
                    .0
                    .iter()
                    .map(|tps| format!("{tps:.0}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                series.checkpoints,
                series.wal_mb.median()
            );
        }
    }
    for mode in Mode::ALL {
        println!(
            "ratio core_data / stock tuning, {}: {:.2}x",
            mode.label(),
            figures.ratio(mode, Variant::Ours, Variant::Stock)
        );
    }
    for mode in Mode::ALL {
        println!(
            "hardening cost, {}: core_data runs at {:.2}x of core_data without hardening",
            mode.label(),
            figures.ratio(mode, Variant::Ours, Variant::OursWithoutHardening)
        );
    }
    for failure in &figures.failures {
        println!("FAILED {failure}");
    }
    Ok(if figures.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) fn backup(ctx: &Ctx, args: &BenchBackup) -> CmdResult {
    if args.size_mb.is_empty() || args.size_mb.contains(&0) {
        fail!("every --size-mb must be at least 1");
    }
    let figures = bench::backup::run(&args.size_mb, &ctx.progress())?;
    println!(
        "bench backup: pgBackRest {}; {} build",
        figures.settings,
        bench::BUILD
    );
    let mut passed = true;
    for size in &figures.sizes {
        let rate = |seconds: f64| size.database_mb / seconds;
        println!("database {:.0} MB (all databases):", size.database_mb);
        println!(
            "  full backup (pgBackRest)              {:>7.1} s  {:>7.1} MB/s{}",
            size.backup_seconds,
            rate(size.backup_seconds),
            cpu_note(size.backup_cpu_seconds, size.backup_seconds)
        );
        if let Some(seconds) = size.compress_floor_seconds {
            println!(
                "  floor: tar | {:<24} {:>7.1} s  {:>7.1} MB/s",
                size.compress_floor,
                seconds,
                rate(seconds)
            );
        } else {
            println!("  floor with the same compression: {}", size.compress_floor);
        }
        println!(
            "  floor: tar read of the data directory {:>7.1} s  {:>7.1} MB/s",
            size.read_floor_seconds,
            rate(size.read_floor_seconds)
        );
        if let Some(seconds) = size.compress_floor_seconds {
            println!(
                "  ratio backup / same-work floor throughput: {:.2}x",
                seconds / size.backup_seconds
            );
        }
        println!(
            "  ratio backup / read floor throughput:      {:.2}x",
            size.read_floor_seconds / size.backup_seconds
        );
        for (report, seconds) in &size.verifies {
            let spelling = match report.depth {
                verify::Depth::Thorough => "backup --verify        ",
                verify::Depth::Quick => "backup --verify --quick",
            };
            println!(
                "  {spelling}               {seconds:>7.1} s  ({})",
                if report.passed() { "passed" } else { "FAILED" }
            );
            for step in &report.steps {
                println!(
                    "      {:>7.1} s  {:<32}{}",
                    step.seconds,
                    step.name,
                    cpu_note(step.cpu_seconds, step.seconds)
                );
            }
            println!(
                "  ratio {}/ backup time:      {:.2}x",
                spelling.trim_start_matches("backup "),
                seconds / size.backup_seconds
            );
            let verify_cpu: Option<f64> = report.steps.iter().map(|s| s.cpu_seconds).sum();
            if let Some((verify_cpu, backup_cpu)) = verify_cpu.zip(size.backup_cpu_seconds) {
                println!(
                    "  ratio {}/ backup CPU time:  {:.2}x  ({verify_cpu:.1} / {backup_cpu:.1} CPU s)",
                    spelling.trim_start_matches("backup "),
                    verify_cpu / backup_cpu
                );
            }
            passed &= report.passed();
        }
    }
    if let [first, .., last] = figures.sizes.as_slice() {
        let per = |s: &bench::backup::SizeFigures, seconds: f64| seconds / s.database_mb * 1000.0;
        println!(
            "growth: backup {:.2} -> {:.2} s per GB, verify {:.2} -> {:.2} s per GB ({:.0} MB -> {:.0} MB; constant is linear)",
            per(first, first.backup_seconds),
            per(last, last.backup_seconds),
            per(first, first.verifies[0].1),
            per(last, last.verifies[0].1),
            first.database_mb,
            last.database_mb
        );
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `  (3.1 CPU s, 1.6 cores)`: the work a phase did and how many cores it kept busy.
fn cpu_note(cpu_seconds: Option<f64>, seconds: f64) -> String {
    cpu_seconds.map_or_else(String::new, |cpu| {
        format!("  ({cpu:.1} CPU s, {:.1} cores)", cpu / seconds.max(0.001))
    })
}

pub(crate) fn restore(ctx: &Ctx, args: &BenchRestore) -> CmdResult {
    if args.size_mb == 0 {
        fail!("--size-mb must be at least 1");
    }
    let figures = bench::restore::restore(args.size_mb, &ctx.progress())?;
    println!(
        "bench restore: database {:.0} MB (all databases); {} build",
        figures.database_mb,
        bench::BUILD
    );
    println!(
        "restore to the latest point        {:>7.1} s",
        figures.restore_seconds
    );
    for (step, seconds) in &figures.restore_steps {
        println!("  {seconds:>6.1} s  {step}");
    }
    println!(
        "rollback after a late failure      {:>7.1} s",
        figures.rollback_seconds
    );
    for (step, seconds) in &figures.rollback_steps {
        println!("  {seconds:>6.1} s  {step}");
    }
    println!(
        "floor: restart of the server       {:>7.1} s",
        figures.restart_seconds
    );
    println!(
        "ratio rollback / restart: {:.2}x; rollback / restore: {:.2}x",
        figures.rollback_seconds / figures.restart_seconds,
        figures.rollback_seconds / figures.restore_seconds
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn upgrade(ctx: &Ctx, args: &BenchUpgrade) -> CmdResult {
    if args.size_mb.is_empty() || args.size_mb.contains(&0) {
        fail!("--size-mb takes sizes of at least 1 MB");
    }
    let to = args.to.unwrap_or_else(|| {
        *core_data_ops::image::suites::majors()
            .last()
            .expect("suites.txt lists a major")
    });
    let mut all = Vec::new();
    for &size in &args.size_mb {
        all.push(bench::upgrade::upgrade(size, to, &ctx.progress())?);
    }
    println!("bench upgrade: `upgrade --yes` (pg_upgrade --link) next to initdb + pg_upgrade --link by hand; {} build", bench::BUILD);
    for figures in &all {
        println!(
            "PostgreSQL {} -> {}, databases {:.0} MB",
            figures.from, figures.to, figures.database_mb
        );
        println!(
            "  upgrade downtime (stop to healthy)  {:>7.1} s",
            figures.downtime_seconds
        );
        for (step, seconds) in &figures.steps {
            println!("    {seconds:>6.1} s  {step}");
        }
        println!(
            "  floor: by hand                      {:>7.1} s",
            figures.floor_seconds
        );
        for (step, seconds) in &figures.floor_steps {
            println!("    {seconds:>6.1} s  {step}");
        }
        println!(
            "  ratio downtime / floor: {:.2}x",
            figures.downtime_seconds / figures.floor_seconds
        );
    }
    if let [first, .., last] = all.as_slice() {
        println!(
            "growth from {:.0} MB to {:.0} MB ({:.1}x the data): downtime {:.2}x, floor {:.2}x",
            first.database_mb,
            last.database_mb,
            last.database_mb / first.database_mb,
            last.downtime_seconds / first.downtime_seconds,
            last.floor_seconds / first.floor_seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit(ctx: &Ctx, args: &BenchAudit) -> CmdResult {
    if args.runs == 0 || args.databases == 0 {
        fail!("--runs and --databases must be at least 1");
    }
    let figures = bench::audit::audit(args.databases, args.tables, args.runs, &ctx.progress())?;
    println!(
        "bench audit: `audit all` with {} database(s), {} tables in bench_01; median of {} run(s) after a warm-up; {} build",
        figures.databases, figures.tables, args.runs, bench::BUILD
    );
    println!(
        "{:<12} {:>12} {:>12} {:>22} {:>8}",
        "databases", "audit all", "statements", "their server time", "ratio"
    );
    for scope in &figures.scopes {
        println!(
            "{:<12} {:>10.3} s {:>12} {:>20.3} s {:>7.2}x",
            scope.databases,
            scope.wall.median(),
            scope.statements,
            scope.server.median(),
            scope.wall.median() / scope.server.median()
        );
    }
    if let (Some(first), Some(last)) = (figures.scopes.first(), figures.scopes.last()) {
        if last.databases > first.databases {
            let per_db = (last.wall.median() - first.wall.median())
                / (last.databases - first.databases) as f64;
            println!(
                "growth: {per_db:.3} s per additional database (wall); {:.3} s for the first",
                first.wall.median()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn queue(ctx: &Ctx, args: &BenchQueue) -> CmdResult {
    if args.jobs == 0 || args.workers.is_empty() || args.workers.contains(&0) {
        fail!("--jobs and every --workers count must be at least 1");
    }
    if args.workers.iter().any(|&w| w > 64) {
        fail!("--workers counts are capped at 64 (each is a connection)");
    }
    let figures = bench::queue::queue(args.jobs, &args.workers, args.churned, &ctx.progress())?;
    println!(
        "bench queue: {} empty jobs per run; {} build of the clients",
        figures.jobs, figures.build
    );
    println!(
        "enqueue (one statement): {:.0} jobs/s; floor INSERT of as many rows: {:.0} rows/s",
        figures.enqueue_jobs_per_second, figures.floor_insert_rows_per_second
    );
    println!(
        "{:<8} {:>16} {:>26} {:>8}",
        "workers", "queue jobs/s", "floor INSERT+DELETE jobs/s", "ratio"
    );
    for row in &figures.throughput {
        println!(
            "{:<8} {:>16.0} {:>26.0} {:>7.2}x",
            row.workers,
            row.queue_jobs_per_second,
            row.floor_jobs_per_second,
            row.queue_jobs_per_second / row.floor_jobs_per_second
        );
    }
    let p95 = bench::queue::percentile;
    let empty = &figures.latency_empty_ms;
    let churned = &figures.latency_churned_ms;
    println!(
        "dequeue latency ({} build), jobs table vacuumed:                 median {:.3} ms, p95 {:.3} ms (n={})",
        figures.build,
        empty.median(),
        p95(empty, 95.0),
        empty.0.len()
    );
    println!(
        "dequeue latency ({} build), after {:>9} jobs, not vacuumed: median {:.3} ms, p95 {:.3} ms (n={})",
        figures.build,
        figures.churned,
        churned.median(),
        p95(churned, 95.0),
        churned.0.len()
    );
    println!(
        "ratio not vacuumed / vacuumed: median {:.2}x, p95 {:.2}x",
        churned.median() / empty.median(),
        p95(churned, 95.0) / p95(empty, 95.0)
    );
    let retained = &figures.latency_retained_ms;
    println!(
        "dequeue latency ({} build), {:>9} finished jobs retained, vacuumed: median {:.3} ms, p95 {:.3} ms (n={})",
        figures.build,
        figures.churned,
        retained.median(),
        p95(retained, 95.0),
        retained.0.len()
    );
    println!(
        "ratio retained / no history: median {:.2}x, p95 {:.2}x",
        retained.median() / empty.median(),
        p95(retained, 95.0) / p95(empty, 95.0)
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pgbouncer(ctx: &Ctx, args: &BenchPgbouncer) -> CmdResult {
    if args.clients.is_empty() || args.clients.contains(&0) || args.seconds == 0 || args.scale == 0
    {
        fail!("--clients counts, --seconds and --scale must each be at least 1");
    }
    if args.clients.iter().any(|&c| c > 5000) {
        fail!("--clients counts are capped at 5000");
    }
    let figures = core_data_ops::addons::pgbouncer::bench::run(
        &args.clients,
        args.seconds,
        args.scale,
        &ctx.progress(),
    )?;
    println!(
        "bench pgbouncer: pgbench --select-only, {} s per run, scale {}; max_connections {}, PgBouncer default_pool_size {} (transaction pooling); TLS verify-full on both routes; {} build",
        args.seconds, args.scale, figures.max_connections, figures.pool_size, bench::BUILD
    );
    println!(
        "{:<8} {:<28} {:>12} {:>16} {:>8}",
        "clients", "connections", "direct tps", "pgbouncer tps", "ratio"
    );
    for pair in &figures.pairs {
        println!(
            "{:<8} {:<28} {:>12.0} {:>16.0} {:>7.2}x",
            pair.clients,
            if pair.connect_per_transaction {
                "new per transaction (-C)"
            } else {
                "steady"
            },
            pair.direct_tps,
            pair.pooled_tps,
            pair.ratio()
        );
    }
    println!("ratio: through PgBouncer / straight at postgres (above 1: PgBouncer faster)");
    for warning in &figures.warnings {
        println!("WARNING {warning}");
    }
    Ok(if figures.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
