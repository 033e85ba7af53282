//! `bench up`, `tuning`, `backup`, `restore`, `audit` and `queue`: figures,
//! their floor, and the ratio.

use std::process::ExitCode;

use core_data_ops::bench;

use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::{
    BenchAudit, BenchBackup, BenchPgbouncer, BenchQueue, BenchRestore, BenchTuning, BenchUp,
};

pub(crate) fn up(ctx: &Ctx, args: &BenchUp) -> CmdResult {
    if args.runs == 0 {
        fail!("--runs must be at least 1");
    }
    let figures = bench::up(args.runs, &ctx.progress())?;
    let row = |name: &str, samples: &bench::Samples| {
        println!(
            "{name:<44} {:>7.2} s  (min {:.2}, max {:.2}, n={})",
            samples.median(),
            samples.min(),
            samples.max(),
            samples.0.len()
        );
    };
    println!("bench up: median over {} run(s)", args.runs);
    row(
        "up, fresh volumes, to healthy + bootstrapped",
        &figures.cold_up,
    );
    row("up again on the running stack (no-op)", &figures.noop_up);
    row(
        "floor: bare docker run, initdb + pg_isready",
        &figures.floor,
    );
    println!(
        "ratio up / floor: {:.2}x",
        figures.cold_up.median() / figures.floor.median()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn tuning(ctx: &Ctx, args: &BenchTuning) -> CmdResult {
    if args.runs == 0 || args.seconds == 0 || args.clients == 0 || args.scale == 0 {
        fail!("--runs, --seconds, --clients and --scale must be at least 1");
    }
    let figures = bench::tuning(
        args.scale,
        args.seconds,
        args.clients,
        args.runs,
        &ctx.progress(),
    )?;
    println!(
        "bench tuning: pgbench scale {}, {} client(s), {} s x {} run(s); both containers limited to {}",
        args.scale, args.clients, args.seconds, args.runs, figures.limits
    );
    println!(
        "stock settings  {:>9.0} tps (median; min {:.0}, max {:.0})",
        figures.stock_tps.median(),
        figures.stock_tps.min(),
        figures.stock_tps.max()
    );
    println!(
        "core_data       {:>9.0} tps (median; min {:.0}, max {:.0})",
        figures.ours_tps.median(),
        figures.ours_tps.min(),
        figures.ours_tps.max()
    );
    println!(
        "ratio core_data / stock: {:.2}x",
        figures.ours_tps.median() / figures.stock_tps.median()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn backup(ctx: &Ctx, args: &BenchBackup) -> CmdResult {
    if args.size_mb == 0 {
        fail!("--size-mb must be at least 1");
    }
    let figures = bench::backup(args.size_mb, &ctx.progress())?;
    let rate = |seconds: f64| figures.database_mb / seconds;
    println!(
        "bench backup: database {:.0} MB (all databases); pgBackRest {}",
        figures.database_mb, figures.settings
    );
    println!(
        "full backup (pgBackRest)          {:>7.1} s  {:>7.1} MB/s",
        figures.backup_seconds,
        rate(figures.backup_seconds)
    );
    println!(
        "floor: tar of the data directory  {:>7.1} s  {:>7.1} MB/s",
        figures.floor_seconds,
        rate(figures.floor_seconds)
    );
    println!(
        "ratio backup / floor throughput: {:.2}x",
        figures.floor_seconds / figures.backup_seconds
    );
    println!(
        "backup --verify                   {:>7.1} s  (restore {:.1} s, recovery {:.1} s, checks {:.1} s; {})",
        figures.verify_seconds,
        figures.verify.restore_seconds,
        figures.verify.recovery_seconds,
        figures.verify.check_seconds,
        if figures.verify.passed() { "passed" } else { "FAILED" }
    );
    Ok(if figures.verify.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) fn restore(ctx: &Ctx, args: &BenchRestore) -> CmdResult {
    if args.size_mb == 0 {
        fail!("--size-mb must be at least 1");
    }
    let figures = core_data_ops::bench_restore::restore(args.size_mb, &ctx.progress())?;
    println!(
        "bench restore: database {:.0} MB (all databases)",
        figures.database_mb
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

pub(crate) fn audit(ctx: &Ctx, args: &BenchAudit) -> CmdResult {
    if args.runs == 0 || args.databases == 0 {
        fail!("--runs and --databases must be at least 1");
    }
    let figures =
        core_data_ops::bench_audit::audit(args.databases, args.tables, args.runs, &ctx.progress())?;
    println!(
        "bench audit: `audit all` with {} database(s), {} tables in bench_01; median of {} run(s) after a warm-up",
        figures.databases, figures.tables, args.runs
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
    let figures =
        core_data_ops::bench_queue::queue(args.jobs, &args.workers, args.churned, &ctx.progress())?;
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
    let p95 = core_data_ops::bench_queue::percentile;
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
        "bench pgbouncer: pgbench --select-only, {} s per run, scale {}; max_connections {}, PgBouncer default_pool_size {} (transaction pooling); TLS verify-full on both routes",
        args.seconds, args.scale, figures.max_connections, figures.pool_size
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
