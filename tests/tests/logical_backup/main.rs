//! Logical backups end to end on one stack: the `logical_backup` sidecar
//! (dumps within its interval, pruning, status file, health through a forced
//! failure and back, prompt graceful stop), then `dump` → `restore-dump`
//! preserving a content hash over plain rows, PostGIS geometries, pgvector
//! vectors and an AGE graph (into a new name, and over the original), and
//! garbage, truncated and missing files that fail clearly while the target
//! database stays exactly as it was and no temporary database is left behind;
//! files without a matching `.sha256` manifest need `--trust`; database-level
//! grants, settings, comment and connection limit survive a replacement; psql
//! meta-commands in a plain file never run; databases whose names clean to the
//! same file name get separate files from `dump`, `dump --all` and the sidecar;
//! no write follows a symlink; postgres sees `backups/` read-only and the
//! sidecar only `backups/logical`.

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::backup::db_props;
use core_data_ops::backup::dump_file;
use core_data_ops::backup::logical::{self, RestoreOptions, Status, TEMP_PREFIX};
use core_data_ops::progress::Quiet;
use core_data_ops::secrets::BACKUP_ROLE;
use core_data_tests::{docker_available, TestStack};

mod dumps;
mod names;
mod sidecar;
use dumps::*;
use names::*;
use sidecar::*;

#[test]
fn logical_backup_full_workflow() {
    if !docker_available("logical_backup_full_workflow") {
        return;
    }
    let mut t = TestStack::new("logical", 204);
    t.set("LOGICAL_BACKUP_INTERVAL_SECONDS", "5");
    t.set("LOGICAL_BACKUP_RETENTION_SECONDS", "20");
    let report = t.up();
    let up_done = epoch_now();
    assert_eq!(
        report.bootstrap.service_roles,
        vec![
            core_data_ops::maintenance::jobs::MAINTENANCE_ROLE.to_owned(),
            BACKUP_ROLE.to_owned(),
            core_data_ops::secrets::READER_ROLE.to_owned(),
            core_data_ops::secrets::RUNBOOK_ROLE.to_owned(),
            core_data_ops::secrets::AUDITOR_ROLE.to_owned()
        ]
    );

    backup_role_is_least_privileged(&t);
    sidecar_dumps_prunes_and_reports(&t, up_done);
    sidecar_health_follows_a_forced_failure(&t);
    mounts_are_confined(&t);
    colliding_names_get_their_own_files(&t);
    sidecar_stops_promptly(&t);

    write_known_data(&t, "app");
    let original = content_hash(&t, "app");
    let dump = dump_restores_into_a_new_name(&t, &original);
    bad_files_fail_and_leave_the_target_alone(&t, &dump, &original);
    restore_over_the_original_with_yes(&t, &dump, &original);
    plain_sql_and_dump_all(&t, &original);
    meta_commands_never_run(&t, &original);
    writes_never_follow_symlinks(&t);
}

fn opts(yes: bool, jobs: Option<u32>, trust: bool) -> RestoreOptions {
    RestoreOptions { yes, jobs, trust }
}
