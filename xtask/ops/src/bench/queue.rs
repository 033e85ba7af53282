//! `bench queue`: the job queue's throughput next to its floor, and its
//! dequeue latency with and without a large history. Throughput: `jobs` empty
//! jobs enqueued in one statement, then 1, 4 and 8 workers (each its own
//! connection and thread) call `dequeue` and `complete` until none is left.
//! The floor is the least a queue can do: a plain table filled the same way and
//! drained by the same workers with one `DELETE … FOR UPDATE SKIP LOCKED …
//! RETURNING` per job. Latency: one worker's `dequeue` calls on a freshly
//! vacuumed `jobs` table (the baseline), then after `churned` jobs passed
//! through `jobs` in bulk (inserted, taken and completed: moved to `done`) with
//! no VACUUM since (autovacuum is off for the table during that case), so the
//! table and its indexes carry their dead tuples, as on a busy queue between
//! two autovacuum runs. (The size of `done` alone would not matter: `dequeue`
//! never reads it.)

use std::sync::Barrier;
use std::time::Instant;

use anyhow::Context;

use crate::bench::Samples;
use crate::config::sizing::Resources;
use crate::image;
use crate::maintenance::queue;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;
use crate::stack::Stack;

const SCHEMA: &str = "asyncq";
const QUEUE: &str = "bench";
/// Dequeue calls timed per latency measurement.
const LATENCY_CALLS: u32 = 2_000;

/// Jobs per second at one worker count.
pub struct WorkerFigures {
    pub workers: u32,
    /// `dequeue` + `complete` per job.
    pub queue_jobs_per_second: f64,
    /// One `DELETE … RETURNING` per row of a plain table.
    pub floor_jobs_per_second: f64,
}

pub struct QueueFigures {
    /// The build that ran the clients (`bench::BUILD`).
    pub build: &'static str,
    pub jobs: u32,
    /// Jobs per second of the one enqueue statement, and of the floor's INSERT.
    pub enqueue_jobs_per_second: f64,
    pub floor_insert_rows_per_second: f64,
    pub throughput: Vec<WorkerFigures>,
    /// Jobs that passed through `jobs` before the second latency measurement.
    pub churned: u32,
    /// Client-observed `dequeue` latency, milliseconds: on a vacuumed `jobs`
    /// table with no history, then with the churned jobs' dead tuples not yet
    /// vacuumed, then vacuumed with the churned jobs retained in `done`.
    pub latency_empty_ms: Samples,
    pub latency_churned_ms: Samples,
    pub latency_retained_ms: Samples,
}

/// The p-th percentile (0..=100) of `samples`.
pub fn percentile(samples: &Samples, p: f64) -> f64 {
    let mut sorted = samples.0.clone();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn queue(
    jobs: u32,
    workers: &[u32],
    churned: u32,
    progress: &dyn Progress,
) -> anyhow::Result<QueueFigures> {
    // Its own subnet, so it can run beside the other benches.
    let scratch = Scratch::create("bench_queue", 247, &[], Resources::from_host())?;
    let stack = &scratch.stack;
    image::build::ensure(&stack.docker, &stack.paths, &stack.config, false, progress)?;
    progress.status("Starting", "a scratch stack");
    stack.up(&Quiet)?;
    let database = stack.config.primary_database();
    let mut admin = stack.connect(&database)?;
    queue::install(&mut admin, SCHEMA)?;
    admin.batch_execute(
        "CREATE TABLE public.bench_floor (id bigserial PRIMARY KEY, payload jsonb NOT NULL)",
    )?;

    let enqueue_sql = format!("SELECT {SCHEMA}.enqueue($1, '{{}}') FROM generate_series(1, $2)");
    let mut enqueue_rate = Samples::default();
    let mut insert_rate = Samples::default();
    let mut throughput = Vec::new();
    for &count in workers {
        progress.status("Measuring", &format!("{jobs} jobs with {count} worker(s)"));
        let started = Instant::now();
        admin.execute(&enqueue_sql, &[&QUEUE, &i32::try_from(jobs)?])?;
        enqueue_rate
            .0
            .push(f64::from(jobs) / started.elapsed().as_secs_f64());
        // Statistics as autovacuum would have them on a queue in use, for both sides.
        admin.batch_execute(&format!("ANALYZE {SCHEMA}.jobs"))?;
        let queue_rate = drain(stack, &database, count, jobs, Work::Queue)?;
        // Separate statements: VACUUM cannot run in the implicit transaction of a batch.
        admin.batch_execute(&format!("TRUNCATE {SCHEMA}.done"))?;
        admin.batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.jobs"))?;

        progress.status(
            "Measuring",
            &format!("the floor: {jobs} rows with {count} worker(s)"),
        );
        let started = Instant::now();
        admin.execute(
            "INSERT INTO public.bench_floor (payload) SELECT '{}' FROM generate_series(1, $1)",
            &[&i32::try_from(jobs)?],
        )?;
        insert_rate
            .0
            .push(f64::from(jobs) / started.elapsed().as_secs_f64());
        admin.batch_execute("ANALYZE public.bench_floor")?;
        let floor_rate = drain(stack, &database, count, jobs, Work::Floor)?;
        admin.batch_execute("VACUUM ANALYZE public.bench_floor")?;
        progress.status(
            "Measured",
            &format!(
                "{count} worker(s): queue {queue_rate:.0} jobs/s, floor {floor_rate:.0} jobs/s"
            ),
        );
        throughput.push(WorkerFigures {
            workers: count,
            queue_jobs_per_second: queue_rate,
            floor_jobs_per_second: floor_rate,
        });
    }

    progress.status("Measuring", "dequeue latency on a vacuumed jobs table");
    admin.batch_execute(&format!("TRUNCATE {SCHEMA}.done"))?;
    admin.batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.jobs"))?;
    let latency_empty_ms = latency(&mut admin, &enqueue_sql)?;
    admin.batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.jobs"))?;

    progress.status(
        "Churning",
        &format!("{churned} jobs through the jobs table (no VACUUM after)"),
    );
    admin.batch_execute(&format!(
        "ALTER TABLE {SCHEMA}.jobs SET (autovacuum_enabled = false)"
    ))?;
    let churned_latency = churn(&mut admin, churned).and_then(|()| {
        progress.status(
            "Measuring",
            &format!("dequeue latency after {churned} jobs, not vacuumed"),
        );
        latency(&mut admin, &enqueue_sql)
    });
    admin.batch_execute(&format!(
        "ALTER TABLE {SCHEMA}.jobs RESET (autovacuum_enabled)"
    ))?;
    let latency_churned_ms = churned_latency?;
    // What autovacuum does next: the dead tuples go, the finished jobs stay in `done`.
    admin.batch_execute(&format!("VACUUM ANALYZE {SCHEMA}.jobs"))?;
    progress.status(
        "Measuring",
        &format!("dequeue latency with {churned} finished jobs retained, jobs vacuumed"),
    );
    let latency_retained_ms = latency(&mut admin, &enqueue_sql)?;

    Ok(QueueFigures {
        build: super::BUILD,
        jobs,
        enqueue_jobs_per_second: enqueue_rate.median(),
        floor_insert_rows_per_second: insert_rate.median(),
        throughput,
        churned,
        latency_empty_ms,
        latency_churned_ms,
        latency_retained_ms,
    })
}

#[derive(Clone, Copy)]
enum Work {
    Queue,
    Floor,
}

/// `workers` threads, each on its own connection, take jobs until none is
/// left; returns jobs per second from the common start to the last finish.
fn drain(
    stack: &Stack,
    database: &str,
    workers: u32,
    jobs: u32,
    work: Work,
) -> anyhow::Result<f64> {
    let mut clients = (0..workers)
        .map(|_| stack.connect(database))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Barrier::new(workers as usize + 1);
    let (done, elapsed) = std::thread::scope(|scope| -> anyhow::Result<(u64, f64)> {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(n, client)| {
                let start = &start;
                scope.spawn(move || -> anyhow::Result<u64> {
                    let worker = format!("bench-{n}");
                    let dequeue = client.prepare(&format!(
                        "SELECT id FROM {SCHEMA}.dequeue($1, $2, interval '5 minutes')"
                    ))?;
                    let complete = client.prepare(&format!("SELECT {SCHEMA}.complete($1, $2)"))?;
                    let take = client.prepare(
                        "DELETE FROM public.bench_floor WHERE id = (SELECT id FROM public.bench_floor \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload",
                    )?;
                    start.wait();
                    let mut done = 0u64;
                    loop {
                        match work {
                            Work::Queue => {
                                let Some(row) = client.query_opt(&dequeue, &[&QUEUE, &worker])?
                                else {
                                    break;
                                };
                                let id: i64 = row.get(0);
                                client.execute(&complete, &[&id, &worker])?;
                            }
                            Work::Floor => {
                                if client.query_opt(&take, &[])?.is_none() {
                                    break;
                                }
                            }
                        }
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let mut done = 0;
        for handle in handles {
            done += handle.join().expect("a bench worker panicked")?;
        }
        Ok((done, started.elapsed().as_secs_f64()))
    })?;
    if done != u64::from(jobs) {
        anyhow::bail!("the workers took {done} jobs of {jobs}");
    }
    Ok(f64::from(jobs) / elapsed)
}

/// `count` jobs through `jobs` the way workers pass them, in bulk: inserted
/// ready, taken (running, as `dequeue` leaves them), then completed (deleted
/// and moved to `done`, as `complete` does). Each step leaves a dead version
/// of every row in the table and entries in its indexes.
fn churn(client: &mut postgres::Client, count: u32) -> anyhow::Result<()> {
    let count = i32::try_from(count)?;
    client.execute(
        &format!(
            "INSERT INTO {SCHEMA}.jobs (queue, payload) SELECT $1, '{{}}' FROM generate_series(1, $2)"
        ),
        &[&QUEUE, &count],
    )?;
    client.execute(
        &format!(
            "UPDATE {SCHEMA}.jobs SET state = 'running', worker = 'churn', attempts = 1, \
             lease_until = now() + interval '5 minutes', started_at = now() \
             WHERE queue = $1 AND state = 'ready'"
        ),
        &[&QUEUE],
    )?;
    let moved = client.execute(
        &format!(
            "WITH gone AS (DELETE FROM {SCHEMA}.jobs j WHERE j.queue = $1 AND j.worker = 'churn' \
                           RETURNING j.*) \
             INSERT INTO {SCHEMA}.done (id, queue, payload, priority, attempts, worker, created_at, started_at) \
             SELECT g.id, g.queue, g.payload, g.priority, g.attempts, g.worker, g.created_at, g.started_at \
             FROM gone g"
        ),
        &[&QUEUE],
    )?;
    if moved != u64::try_from(count)? {
        anyhow::bail!("the churn completed {moved} jobs of {count}");
    }
    Ok(())
}

/// Client-observed latency of `LATENCY_CALLS` dequeues (each job completed
/// untimed) on a queue of as many ready jobs, milliseconds.
fn latency(client: &mut postgres::Client, enqueue_sql: &str) -> anyhow::Result<Samples> {
    client.execute(enqueue_sql, &[&QUEUE, &(LATENCY_CALLS as i32)])?;
    client.batch_execute(&format!("ANALYZE {SCHEMA}.jobs"))?;
    let dequeue = client.prepare(&format!(
        "SELECT id FROM {SCHEMA}.dequeue($1, 'latency', interval '5 minutes')"
    ))?;
    let complete = client.prepare(&format!("SELECT {SCHEMA}.complete($1, 'latency')"))?;
    let mut samples = Samples::default();
    for _ in 0..LATENCY_CALLS {
        let started = Instant::now();
        let row = client
            .query_opt(&dequeue, &[&QUEUE])?
            .context("the latency queue ran dry")?;
        samples.0.push(started.elapsed().as_secs_f64() * 1000.0);
        let id: i64 = row.get(0);
        client.execute(&complete, &[&id])?;
    }
    Ok(samples)
}
