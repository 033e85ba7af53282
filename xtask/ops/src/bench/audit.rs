//! `bench audit`: `audit all` on a scratch stack with many databases and one
//! database of many tables, next to the server time of the very statements the
//! audits ran (from pg_stat_statements, top-level statements of
//! `core_data_auditor` only): the floor a client could not go below. Each run
//! opens its own connections, as one CLI call does (so the difference is
//! connection setup, round trips and the client's own work). Run at 1, half
//! and all of the databases to show how it grows.

use std::time::Instant;

use anyhow::Context;

use crate::audit::{self, Audit, Thresholds};
use crate::bench::{prepare_image, Samples};
use crate::pg::admin;
use crate::progress::{Progress, Quiet};
use crate::secrets::AUDITOR_ROLE;
use crate::stack::Stack;

/// One scope's figures.
pub struct ScopeFigures {
    pub databases: usize,
    /// Wall time of `audit all`, seconds.
    pub wall: Samples,
    /// Server execution time of the audits' statements per run, seconds.
    pub server: Samples,
    /// Statements per run.
    pub statements: i64,
}

pub struct AuditFigures {
    pub databases: u32,
    pub tables: u32,
    pub scopes: Vec<ScopeFigures>,
}

/// Calls and total execution time (ms) of the auditor's top-level statements so far.
fn auditor_totals(client: &mut postgres::Client) -> anyhow::Result<(i64, f64)> {
    let row = client.query_one(
        "SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8 \
         FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid \
         WHERE r.rolname = $1 AND s.toplevel",
        &[&AUDITOR_ROLE],
    )?;
    Ok((row.get(0), row.get(1)))
}

/// Creates `count` databases (`bench_01` …) owned by the stack's first
/// application owner, with the bundle, and `tables` tables (a key, a text
/// column, a secondary index, a few rows) in the first.
fn populate(stack: &Stack, count: u32, tables: u32, progress: &dyn Progress) -> anyhow::Result<()> {
    let owner = stack
        .config
        .databases()
        .first()
        .map(|db| db.owner.clone())
        .context("the scratch stack has no application database owner")?;
    let mut admin_client = stack.connect("postgres")?;
    for n in 1..=count {
        let name = format!("bench_{n:02}");
        progress.status("Creating", &format!("database `{name}` with the bundle"));
        admin::create_db(&mut admin_client, &stack.config, &name, &owner, &|db| {
            stack.connect(db)
        })?;
    }
    progress.status("Creating", &format!("{tables} tables in `bench_01`"));
    let mut client = stack.connect("bench_01")?;
    client.batch_execute(&format!(
        "DO $$ BEGIN FOR i IN 1..{tables} LOOP \
           EXECUTE format('CREATE TABLE public.t_%s (id int PRIMARY KEY, v text)', i); \
           EXECUTE format('CREATE INDEX ON public.t_%s (v)', i); \
           EXECUTE format('INSERT INTO public.t_%s SELECT g, md5(g::text) FROM generate_series(1, 20) g', i); \
         END LOOP; END $$"
    ))?;
    client.batch_execute("ANALYZE")?;
    Ok(())
}

pub fn audit(
    databases: u32,
    tables: u32,
    runs: u32,
    progress: &dyn Progress,
) -> anyhow::Result<AuditFigures> {
    let scratch = prepare_image(progress)?;
    progress.status("Starting", "a scratch stack");
    scratch.stack.up(&Quiet)?;
    let stack = &scratch.stack;
    populate(stack, databases, tables, progress)?;
    let mut observer = stack.connect("postgres")?;
    let all: Vec<String> = (1..=databases).map(|n| format!("bench_{n:02}")).collect();
    let mut sizes = vec![1, (databases as usize).div_ceil(2), databases as usize];
    sizes.dedup();
    let mut scopes = Vec::new();
    for size in sizes {
        let scope = &all[..size];
        // Each run opens its own connections, as one `cargo xtask audit all` does.
        let open = || Audit::open(stack, Thresholds::from_config(&stack.config)?, scope);
        // One warm-up run: the first connection to each database loads its catalog caches.
        audit::run_all(&open()?)?;
        let mut wall = Samples::default();
        let mut server = Samples::default();
        let mut statements = 0;
        for run in 1..=runs {
            progress.status(
                "Measuring",
                &format!("audit all on {size} database(s), run {run}/{runs}"),
            );
            let (calls_before, ms_before) = auditor_totals(&mut observer)?;
            let started = Instant::now();
            audit::run_all(&open()?)?;
            wall.0.push(started.elapsed().as_secs_f64());
            let (calls_after, ms_after) = auditor_totals(&mut observer)?;
            server.0.push((ms_after - ms_before) / 1000.0);
            statements = calls_after - calls_before;
        }
        scopes.push(ScopeFigures {
            databases: size,
            wall,
            server,
            statements,
        });
    }
    Ok(AuditFigures {
        databases,
        tables,
        scopes,
    })
}
