//! The nightly pg_cron jobs of every database. pg_cron lives in `postgres`
//! and schedules into the others with `cron.schedule_in_database`; every job
//! runs as `core_data_maintenance`, a login role whose password is random and
//! never stored (so nobody can log in as it; pg_cron's background workers
//! need no password), member of `pg_maintain` only, with
//! `statement_timeout = 0` and `lock_timeout = MAINTENANCE_LOCK_TIMEOUT` set
//! on the role: maintenance is never cancelled by the server-wide
//! statement_timeout and never queues behind a lock for longer than that.
//! What needs more than `pg_maintain` (pg_squeeze's table, pg_partman,
//! VACUUM of a computed list of tables) goes through the `SECURITY DEFINER`
//! functions of `functions.sql`, in schema `core_data_maintenance` of each
//! database.
//!
//! Jobs, named `core_data_<kind>:<database>` (schedules from `.env`, `off`
//! leaves a job out): `analyze` (`ANALYZE (SKIP_LOCKED)`), `vacuum`
//! (`VACUUM (ANALYZE, SKIP_LOCKED)` of the tables past the audits' dead-tuple
//! thresholds), `squeeze` (pg_squeeze target refresh), `partman`
//! (`run_maintenance`), and in `postgres` only `core_data_pgstat_reset` (off
//! by default: a reset breaks `diff-pgstat` across it), and for each job queue
//! of `async-queue install` `core_data_queue_purge:<database>:<schema>` (its
//! `purge_finished` with `MAINTENANCE_QUEUE_RETENTION`). `sync` makes a
//! database's jobs what the configuration says and changes nothing when they
//! already are; `drop` removes them before `drop-db`.

use anyhow::Context;
use serde::Serialize;

mod apply;
mod functions;
mod role;

pub use apply::{apply, Change};
pub use functions::install_functions;
pub use role::ensure_role;

use crate::config::Config;
use crate::sql::{quote_ident, quote_literal};

/// The role every nightly job runs as.
pub const MAINTENANCE_ROLE: &str = "core_data_maintenance";

/// One job as pg_cron stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub name: String,
    pub schedule: String,
    pub command: String,
    pub database: String,
}

/// The partman job's command (also what `partman maintenance` runs now):
/// pg_partman's `run_maintenance` function (not the procedure, whose COMMITs
/// fail in a background worker) through the jobs' `SECURITY DEFINER` wrapper.
pub const PARTMAN_MAINTENANCE: &str = "SELECT core_data_maintenance.run_partman()";

/// Which of the optional extensions a database has (a job that needs a
/// missing one is not scheduled there).
#[derive(Debug, Clone, Default)]
pub struct Available {
    pub dblink: bool,
    pub squeeze: bool,
    pub partman: bool,
    pub pg_stat_statements: bool,
    /// Schemas holding a job queue of `async-queue install` (version 2 or later:
    /// they have `purge_finished`).
    pub queues: Vec<String>,
}

/// The job name of `kind` for `what` (a database, or a database and queue
/// schema). pg_cron stores names as `name` (63 bytes) and they must be unique
/// per role across databases, so a name that would not fit ends in a hash of
/// `what` instead of being cut short.
pub fn job_name(kind: &str, what: &str) -> String {
    let name = format!("core_data_{kind}:{what}");
    if name.len() <= 63 {
        return name;
    }
    let hash = &core_data_sidecar::names::sha256_hex(what.as_bytes())[..16];
    let mut head = format!("core_data_{kind}:");
    for c in what.chars() {
        if head.len() + c.len_utf8() + 1 + hash.len() > 63 {
            break;
        }
        head.push(c);
    }
    format!("{head}~{hash}")
}

/// The retention job of the queue in `schema` of `database`: both names
/// quoted, so no two pairs share a job name.
pub fn queue_job_name(database: &str, schema: &str) -> String {
    job_name(
        "queue_purge",
        &format!("{}.{}", quote_ident(database), quote_ident(schema)),
    )
}

/// The jobs `config` asks for in `database`, given what it has installed.
pub fn wanted(config: &Config, database: &str, available: &Available) -> Vec<Job> {
    let vacuum = format!(
        "SELECT core_data_maintenance.vacuum_dead_tables({}, {})",
        config.get("AUDIT_DEAD_TUPLES_MIN"),
        config.get("AUDIT_DEAD_TUPLE_RATIO")
    );
    let candidates = [
        (
            "analyze",
            "MAINTENANCE_ANALYZE_SCHEDULE",
            "ANALYZE (SKIP_LOCKED)".to_owned(),
            true,
        ),
        (
            "vacuum",
            "MAINTENANCE_VACUUM_SCHEDULE",
            vacuum,
            available.dblink,
        ),
        (
            "squeeze",
            "MAINTENANCE_SQUEEZE_SCHEDULE",
            "SELECT core_data_maintenance.refresh_squeeze_targets()".to_owned(),
            available.squeeze,
        ),
        (
            "partman",
            "MAINTENANCE_PARTMAN_SCHEDULE",
            PARTMAN_MAINTENANCE.to_owned(),
            available.partman,
        ),
    ];
    let mut jobs: Vec<Job> = candidates
        .into_iter()
        .filter(|(_, key, _, possible)| *possible && config.get(key) != "off")
        .map(|(kind, key, command, _)| Job {
            name: job_name(kind, database),
            schedule: config.get(key).to_owned(),
            command,
            database: database.to_owned(),
        })
        .collect();
    let purge = config.get("MAINTENANCE_QUEUE_PURGE_SCHEDULE");
    if purge != "off" {
        for schema in &available.queues {
            jobs.push(Job {
                name: queue_job_name(database, schema),
                schedule: purge.to_owned(),
                command: format!(
                    "SELECT {}.purge_finished({})",
                    quote_ident(schema),
                    quote_literal(config.get("MAINTENANCE_QUEUE_RETENTION"))
                ),
                database: database.to_owned(),
            });
        }
    }
    let reset = config.get("MAINTENANCE_PGSTAT_RESET_SCHEDULE");
    if database == "postgres" && reset != "off" && available.pg_stat_statements {
        jobs.push(Job {
            name: "core_data_pgstat_reset".to_owned(),
            schedule: reset.to_owned(),
            command: "SELECT core_data_maintenance.reset_pg_stat_statements()".to_owned(),
            database: database.to_owned(),
        });
    }
    jobs
}

/// Installs the functions in `database` (through `client`) and makes its jobs
/// what `config` says. `admin` is connected to `postgres`; the role must exist.
pub fn sync(
    admin: &mut postgres::Client,
    client: &mut postgres::Client,
    config: &Config,
    database: &str,
) -> anyhow::Result<Vec<Change>> {
    let available =
        install_functions(client).with_context(|| format!("in database `{database}`"))?;
    apply(admin, database, &wanted(config, database, &available))
}

/// Removes every job of ours that runs in `database` (before it is dropped).
pub fn drop(admin: &mut postgres::Client, database: &str) -> anyhow::Result<Vec<String>> {
    apply(admin, database, &[]).map(|changes| {
        changes
            .into_iter()
            .map(|change| match change {
                Change::Unscheduled(name) => name,
                other => other.to_string(),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(overrides: &[(&str, &str)]) -> Config {
        let map: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_overrides(
            &map,
            crate::config::sizing::Resources {
                memory_mb: 2048,
                cpus: 2,
            },
        )
        .unwrap()
    }

    fn all() -> Available {
        Available {
            dblink: true,
            squeeze: true,
            partman: true,
            pg_stat_statements: true,
            queues: Vec::new(),
        }
    }

    #[test]
    fn every_database_gets_four_jobs_and_postgres_no_reset_by_default() {
        let jobs = wanted(&config(&[]), "shop", &all());
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "core_data_analyze:shop",
                "core_data_vacuum:shop",
                "core_data_squeeze:shop",
                "core_data_partman:shop"
            ]
        );
        assert_eq!(
            jobs[1].command,
            "SELECT core_data_maintenance.vacuum_dead_tables(1000, 0.2)"
        );
        assert_eq!(wanted(&config(&[]), "postgres", &all()).len(), 4);
    }

    #[test]
    fn off_leaves_a_job_out_and_the_reset_is_opt_in() {
        let cfg = config(&[
            ("MAINTENANCE_ANALYZE_SCHEDULE", "off"),
            ("MAINTENANCE_PGSTAT_RESET_SCHEDULE", "0 4 * * *"),
        ]);
        let names: Vec<String> = wanted(&cfg, "postgres", &all())
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert!(!names.contains(&"core_data_analyze:postgres".to_owned()));
        assert!(names.contains(&"core_data_pgstat_reset".to_owned()));
        let shop: Vec<String> = wanted(&cfg, "shop", &all())
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert!(!shop.iter().any(|n| n.contains("pgstat")));
    }

    #[test]
    fn each_queue_gets_a_purge_job_with_its_name_as_a_literal() {
        let mut available = all();
        available.queues = vec!["asyncq".to_owned(), "q'x".to_owned()];
        let jobs = wanted(&config(&[]), "shop", &available);
        let purge: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.name.contains("queue_purge"))
            .collect();
        assert_eq!(purge.len(), 2);
        assert_eq!(purge[1].name, "core_data_queue_purge:\"shop\".\"q'x\"");
        assert_eq!(purge[1].command, "SELECT \"q'x\".purge_finished('7d')");
        let off = config(&[("MAINTENANCE_QUEUE_PURGE_SCHEDULE", "off")]);
        assert!(!wanted(&off, "shop", &available)
            .iter()
            .any(|j| j.name.contains("queue")));
    }

    #[test]
    fn a_missing_extension_leaves_its_job_out() {
        let none = Available::default();
        let names: Vec<String> = wanted(&config(&[]), "x", &none)
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["core_data_analyze:x"]);
    }

    #[test]
    fn long_names_end_in_a_hash_and_never_collide() {
        let long = "d".repeat(63);
        let a = job_name("analyze", &long);
        let b = job_name("analyze", &format!("{}e", "d".repeat(62)));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(
            a.starts_with("core_data_analyze:ddd") && a.contains('~'),
            "{a}"
        );
        assert_eq!(job_name("analyze", "shop"), "core_data_analyze:shop");
        // `shop` + `x.y` and `shop.x` + `y` are different jobs.
        assert_ne!(queue_job_name("shop", "x.y"), queue_job_name("shop.x", "y"));
        let multibyte = job_name("vacuum", &"é".repeat(40));
        assert!(multibyte.len() <= 63, "{multibyte}");
    }
}
