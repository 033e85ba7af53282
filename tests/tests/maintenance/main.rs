//! Maintenance end to end on one stack: the nightly pg_cron jobs in every
//! database, `compact` at each level, partition management, the job queue
//! under concurrency, the test dataset and workload sizing. Each check builds
//! what it needs (in `shop`, not `postgres`), runs the CLI, and asserts what
//! changed in the real server.

mod compact;
mod partman;
mod queue;
mod queue_guards;

use core_data_tests::{docker_available, xtask, CliOutput, TestStack};

mod dataset;
mod jobs;
mod sizing;

/// The application database checks work in (not `postgres`).
pub(crate) const DB: &str = "shop";

#[test]
fn maintenance_full_workflow() {
    if !docker_available("maintenance_full_workflow") {
        return;
    }
    let mut t = TestStack::new("maint", 211);
    t.up();
    // Checks are added here, one line each, in the order they run.
    jobs::nightly_jobs_in_every_database(&t);
    jobs::job_commands_run_as_the_jobs_role(&t);
    jobs::the_jobs_run_in_the_background(&t);
    jobs::jobs_outlive_the_server_statement_timeout(&t);
    dataset::dataset_installs_and_answers(&t);
    sizing::init_writes_the_workload(&t);
    sizing::a_workload_change_is_previewed_then_applied(&mut t);
    compact::compact_levels(&t);
    partman::partman_sets(&t);
    queue::job_queue(&t);
}

/// Runs SQL as the superuser in `database` (`TestStack::sql`).
pub(crate) fn sql(t: &TestStack, database: &str, statements: &str) {
    t.sql(database, statements);
}

/// The CLI with `argv` on `t`'s state directory.
pub(crate) fn cli(t: &TestStack, argv: &[&str]) -> CliOutput {
    xtask(t.paths().state(), argv)
}
