//! `backup --verify`: restore a backup set into a throw-away container from the
//! same image (fresh volumes, the repository mounted read-only, no network),
//! recover it to consistency, and check it: `pg_amcheck` (heap and every B-tree
//! index, all databases; with [`Depth::Thorough`] every heap tuple is also
//! looked up in every B-tree index, `heapallindexed`), row counts of permanent tables against those
//! recorded at backup time (a difference on a table written to during the
//! backup window is a warning, see `physical`), and `pg_checksums --check` on
//! the cleanly stopped copy. The live cluster is never touched.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::oneshot::{self, Mount, Throwaway};
use super::physical::{self, CountComparison, RowCounts, STANZA};
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::{poll_until, ready_if};

const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// The label role of verify's throw-away containers (swept by `up` when a run was killed).
pub const VERIFY_ROLE: &str = "verify";

/// How far verify checks the B-tree indexes against the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// Also every heap tuple looked up in every B-tree index (`pg_amcheck
    /// --heapallindexed`): catches an index that lacks entries (an index
    /// whose WAL was not replayed, an expression that changed meaning). It is
    /// one serial call per index that reads the whole table: on this project's
    /// reference machine about 10 CPU seconds per GB of table, per index
    /// (measured: 8.9 CPU s for a 0.87 GB table).
    Thorough,
    /// The index structure only (`bt_index_check` without `heapallindexed`);
    /// heap, row counts and page checksums as in `Thorough`.
    Quick,
}

impl Depth {
    fn describe(self) -> &'static str {
        match self {
            Depth::Thorough => "heap and B-tree indexes, every heap tuple looked up in its indexes",
            Depth::Quick => "heap and B-tree index structure (--quick: heap tuples not looked up in the indexes)",
        }
    }
}

/// What verification found. It passed when `failures` is empty.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub label: String,
    pub depth: Depth,
    pub restore_seconds: f64,
    pub recovery_seconds: f64,
    pub check_seconds: f64,
    pub amcheck: String,
    pub counts: Option<CountComparison>,
    pub checksums: String,
    /// Each step's wall time and the CPU time the throw-away container used
    /// in it (all cores): where verify's time goes.
    pub steps: Vec<VerifyStep>,
    pub failures: Vec<String>,
    /// Explained differences that do not fail verification.
    pub warnings: Vec<String>,
}

/// One step of verify: its name, wall seconds and CPU seconds (`None` when
/// the engine's statistics could not be read).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyStep {
    pub name: String,
    pub seconds: f64,
    pub cpu_seconds: Option<f64>,
}

/// Marks the end of each step: the time since the previous mark and the
/// container's CPU time used meanwhile.
struct StepClock<'a> {
    stack: &'a Stack,
    container: &'a str,
    at: Instant,
    cpu: Option<f64>,
}

impl<'a> StepClock<'a> {
    fn start(stack: &'a Stack, container: &'a str) -> StepClock<'a> {
        let cpu = stack.docker.cpu_seconds(container).ok();
        StepClock {
            stack,
            container,
            at: Instant::now(),
            cpu,
        }
    }

    fn mark(&mut self, report: &mut VerifyReport, name: &str) -> f64 {
        let seconds = self.at.elapsed().as_secs_f64();
        let cpu = self.stack.docker.cpu_seconds(self.container).ok();
        let cpu_seconds = cpu.zip(self.cpu).map(|(now, before)| now - before);
        report.steps.push(VerifyStep {
            name: name.to_owned(),
            seconds,
            cpu_seconds,
        });
        self.at = Instant::now();
        self.cpu = cpu;
        seconds
    }
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Verifies `set` (default: the latest). `repo_volume` replaces the stack's
/// repository volume (tests use a corrupted copy).
pub fn verify(
    stack: &Stack,
    set: Option<&str>,
    repo_volume: Option<&str>,
    depth: Depth,
    progress: &dyn Progress,
) -> anyhow::Result<VerifyReport> {
    let chosen = physical::choose_set(stack, set)?;
    let repo = repo_volume.map_or_else(|| oneshot::volume_name(stack, "pgbackrest"), str::to_owned);
    let name = format!("{}-verify-{}", stack.config.project(), std::process::id());
    let mounts = [
        Mount::anonymous("/var/lib/postgresql/data"),
        Mount::anonymous("/var/lib/postgresql/wal"),
        Mount::volume(repo, "/var/lib/pgbackrest", true),
        oneshot::conf_mount(stack),
    ];
    let container = Throwaway::start(stack, &name, VERIFY_ROLE, &mounts)?;
    let mut report = VerifyReport {
        label: chosen.label.clone(),
        depth,
        restore_seconds: 0.0,
        recovery_seconds: 0.0,
        check_seconds: 0.0,
        amcheck: String::new(),
        counts: None,
        checksums: String::new(),
        steps: Vec::new(),
        failures: Vec::new(),
        warnings: Vec::new(),
    };

    progress.status(
        "Restoring",
        &format!("{} into throw-away container `{name}`", chosen.label),
    );
    let mut clock = StepClock::start(stack, container.name());
    container.exec(stack, &["install", "-d", "-m", "0700", PGDATA])?;
    let set_arg = format!("--set={}", chosen.label);
    let restored = container.exec(
        stack,
        &[
            "pgbackrest",
            "--stanza",
            STANZA,
            "--log-level-console=warn",
            &set_arg,
            "--type=immediate",
            "--target-action=promote",
            "restore",
        ],
    );
    report.restore_seconds = clock.mark(&mut report, "restore");
    if let Err(err) = restored {
        report.failures.push(format!("restore failed: {err:#}"));
        return Ok(report);
    }

    progress.status("Recovering", "the restored copy to consistency");
    // Sockets only, TLS off, the log to pg_ctl's file, no synchronous standby: a set
    // of the `ha` topology carries Patroni's postgresql.conf, which includes the
    // stack's (certificates in /run/secrets and a log directory this container
    // lacks) and, in synchronous mode, names standbys a copy never has (every
    // commit of the checks would wait for ever).
    let server_options = format!(
        "-c listen_addresses= -c unix_socket_directories=/tmp -c ssl=off -c logging_collector=off \
         -c synchronous_standby_names= -c archive_mode=off \
         -c hba_file=/etc/core_data/conf/pg_hba.conf -c ident_file=/etc/core_data/conf/pg_ident.conf \
         -c shared_preload_libraries=pgaudit -c pgaudit.log=none \
         -c max_connections={} -c max_worker_processes={}",
        stack.config.get("PG_MAX_CONNECTIONS"),
        stack.config.get("PG_MAX_WORKER_PROCESSES")
    );
    let started_server = container.exec(
        stack,
        &[
            "pg_ctl",
            "--pgdata",
            PGDATA,
            "--wait",
            "--timeout=900",
            "--log=/tmp/verify-server.log",
            "--options",
            &server_options,
            "start",
        ],
    );
    if let Err(err) = started_server.and_then(|_| wait_promoted(stack, &container)) {
        let log = container
            .exec(stack, &["tail", "-n", "30", "/tmp/verify-server.log"])
            .unwrap_or_default();
        report.failures.push(format!(
            "the restored copy did not reach consistency: {err:#}\nserver log:\n{log}"
        ));
        return Ok(report);
    }
    report.recovery_seconds = clock.mark(&mut report, "recovery");

    progress.status(
        "Checking",
        &format!(
            "{} with pg_amcheck ({jobs} jobs) and, meanwhile, row counts against those recorded at backup time",
            depth.describe(),
            jobs = stack.config.cpus()
        ),
    );
    let superuser = stack.config.superuser();
    let jobs = format!("--jobs={}", stack.config.cpus());
    // Both only read the running copy: the counts run while pg_amcheck does.
    let (amcheck, restored) = std::thread::scope(|scope| {
        let counting = scope.spawn(|| restored_counts(stack, &container));
        let mut argv = vec![
            "pg_amcheck",
            "--host=/tmp",
            "--username",
            superuser,
            "--all",
            "--install-missing",
            &jobs,
        ];
        if depth == Depth::Thorough {
            argv.push("--heapallindexed");
        }
        let amcheck = container.exec(stack, &argv);
        let restored = counting
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the row count thread panicked")));
        (amcheck, restored)
    });
    let mut check_seconds = clock.mark(&mut report, "pg_amcheck and row counts");
    match amcheck {
        Ok(_) => {
            report.amcheck = format!(
                "pg_amcheck: no corruption found in any database ({})",
                depth.describe()
            );
        }
        Err(err) => report
            .failures
            .push(format!("pg_amcheck found problems: {err:#}")),
    }
    match (physical::recorded_counts(stack, &chosen.label)?, restored) {
        (Some(recorded), Ok(restored)) => {
            let activity = physical::recorded_activity(stack, &chosen.label)?;
            let comparison = physical::compare_counts(&recorded, &restored, activity.as_ref());
            report
                .failures
                .extend(comparison.mismatches.iter().cloned());
            for warning in &comparison.warnings {
                progress.status("Warning", warning);
            }
            report.warnings.extend(comparison.warnings.iter().cloned());
            report.counts = Some(comparison);
        }
        (None, Ok(_)) => progress.status(
            "Skipped",
            &format!(
                "row counts: none were recorded for `{}` (taken outside `cargo xtask backup`)",
                chosen.label
            ),
        ),
        (_, Err(err)) => report.failures.push(format!(
            "could not count rows in the restored copy: {err:#}"
        )),
    }

    progress.status(
        "Checking",
        "page checksums with pg_checksums on the stopped copy",
    );
    container.exec(
        stack,
        &[
            "pg_ctl",
            "--pgdata",
            PGDATA,
            "--mode=fast",
            "--wait",
            "stop",
        ],
    )?;
    check_seconds += clock.mark(&mut report, "stop");
    match container.exec(stack, &["pg_checksums", "--check", "--pgdata", PGDATA]) {
        Ok(output) => {
            report.checksums = output
                .lines()
                .filter(|line| line.contains("Bad checksums") || line.contains("Blocks scanned"))
                .collect::<Vec<_>>()
                .join("; ");
        }
        Err(err) => report
            .failures
            .push(format!("pg_checksums failed: {err:#}")),
    }
    check_seconds += clock.mark(&mut report, "pg_checksums");
    report.check_seconds = check_seconds;
    Ok(report)
}

/// Waits until recovery has ended (promotion after reaching consistency).
fn wait_promoted(stack: &Stack, container: &Throwaway<'_>) -> anyhow::Result<()> {
    let superuser = stack.config.superuser();
    poll_until(
        "the restored copy",
        Duration::from_secs(900),
        Duration::from_millis(100),
        || {
            let state = container.exec(
                stack,
                &[
                    "psql",
                    "--no-psqlrc",
                    "-XAtq",
                    "--host=/tmp",
                    "--username",
                    superuser,
                    "--dbname=postgres",
                    "--command=SELECT pg_is_in_recovery()",
                ],
            );
            Ok(ready_if(
                state.as_ref().is_ok_and(|out| out.trim() == "f"),
                || format!("{state:?}"),
            ))
        },
    )
}

fn restored_counts(stack: &Stack, container: &Throwaway<'_>) -> anyhow::Result<RowCounts> {
    let superuser = stack.config.superuser();
    let psql = |database: &str, sql: &str| -> anyhow::Result<String> {
        let command = format!("--command={sql}");
        // A conninfo string: a name containing `=` would otherwise be parsed as options.
        let dbname = format!("--dbname={}", super::logical::conninfo_dbname(database));
        container.exec(
            stack,
            &[
                "psql",
                "--no-psqlrc",
                "-XAtq",
                "--field-separator=\t",
                "--host=/tmp",
                "--username",
                superuser,
                &dbname,
                &command,
            ],
        )
    };
    let mut counts = RowCounts::new();
    for database in psql("postgres", crate::pg::bootstrap::DATABASES_SQL)?
        .lines()
        .filter(|l| !l.is_empty())
    {
        let mut tables = BTreeMap::new();
        for line in psql(database, physical::ROW_COUNT_SQL)?.lines() {
            if let Some((table, count)) = line.split_once('\t') {
                tables.insert(table.to_owned(), count.trim().parse()?);
            }
        }
        counts.insert(database.to_owned(), tables);
    }
    Ok(counts)
}
