//! `cargo xtask bench runbook`: what a primitive call costs. Times
//! `pg::query("postgres", "SELECT 1", [])` called from Rhai against the same
//! query made from Rust through the same backend (one read-only transaction
//! on a verified-TLS connection as `core_data_reader`, not a superuser), and
//! against a bare `query_typed` on the superuser's connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use core_data_ops::stack::Stack;
use rhai::{CallFnOptions, Dynamic, Scope};

use crate::backend::Backend;
use crate::engine::{sandbox, Captured, Grants, Limits};
use crate::live::Live;

/// Median and 95th percentile of each way of running the query.
#[derive(Debug, Clone)]
pub struct BenchFigures {
    pub calls: usize,
    pub rhai: (Duration, Duration),
    pub rust: (Duration, Duration),
    pub bare: (Duration, Duration),
}

impl BenchFigures {
    /// Rhai's median over Rust's median on the same path.
    pub fn ratio(&self) -> f64 {
        self.rhai.0.as_secs_f64() / self.rust.0.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for BenchFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row =
            |f: &mut std::fmt::Formatter<'_>, what: &str, (median, p95): (Duration, Duration)| {
                writeln!(
                    f,
                    "{what:<48} median {:>9.1} µs   p95 {:>9.1} µs",
                    micros(median),
                    micros(p95)
                )
            };
        writeln!(
            f,
            "pg::query(\"postgres\", \"SELECT 1\", []), {} calls each:",
            self.calls
        )?;
        row(f, "  from Rhai (pg::query)", self.rhai)?;
        row(f, "  from Rust, same backend path", self.rust)?;
        row(
            f,
            "  from Rust, bare query_typed (no READ ONLY tx)",
            self.bare,
        )?;
        writeln!(
            f,
            "  Rhai / Rust: {:.3}x (+{:.1} µs per call)",
            self.ratio(),
            micros(self.rhai.0) - micros(self.rust.0)
        )
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Runs each variant `calls` times (after a warm-up) and returns the figures.
pub fn bench_primitive_overhead(stack: &Stack, calls: usize) -> anyhow::Result<BenchFigures> {
    anyhow::ensure!(calls > 0, "`calls` must be at least 1");
    let limits = Limits {
        timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let live = Arc::new(Live::new(stack, limits.timeout, false)?);
    let sb = sandbox(
        &limits,
        Grants::default(),
        live.clone(),
        Arc::new(Captured::default()),
    );
    let ast = sb
        .engine
        .compile("fn once() { pg::query(\"postgres\", \"SELECT 1\", []) }")?;
    sb.clock.start(limits.timeout);
    let mut scope = Scope::new();
    let rhai_call = |scope: &mut Scope<'_>| {
        let options = CallFnOptions::new().eval_ast(false);
        sb.engine
            .call_fn_with_options::<Dynamic>(options, scope, &ast, "once", ())
            .map(drop)
            .map_err(|err| anyhow::anyhow!("the Rhai call failed: {err}"))
    };
    let mut bare = stack.connect("postgres")?;
    // Warm up: connections, statement paths, caches.
    for _ in 0..calls.min(50) {
        rhai_call(&mut scope)?;
        live.query("postgres", "SELECT 1", &[], 10)
            .map_err(|f| anyhow::anyhow!("{}", f.message))?;
        bare.query_typed("SELECT 1", &[])?;
    }
    let mut rhai = Vec::with_capacity(calls);
    let mut rust = Vec::with_capacity(calls);
    let mut raw = Vec::with_capacity(calls);
    // Interleaved, so drift on the server affects every variant alike.
    for _ in 0..calls {
        let started = Instant::now();
        rhai_call(&mut scope)?;
        rhai.push(started.elapsed());

        let started = Instant::now();
        live.query("postgres", "SELECT 1", &[], 10)
            .map_err(|f| anyhow::anyhow!("{}", f.message))?;
        rust.push(started.elapsed());

        let started = Instant::now();
        bare.query_typed("SELECT 1", &[])
            .context("bare query failed")?;
        raw.push(started.elapsed());
    }
    Ok(BenchFigures {
        calls,
        rhai: percentiles(rhai),
        rust: percentiles(rust),
        bare: percentiles(raw),
    })
}
