//! The cluster made and put in place: initdb of the stack's major and
//! `pg_upgrade --link` from the copy (an older major), or the copy's WAL moved
//! out (the same major); then the renames to the live names, the data
//! directory last.

use super::{timed, Changed, Dirs, Inspection, SCRATCH};
use crate::fault;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::upgrade::check;
use crate::upgrade::workspace::{Workspace, PGDATA, PGWAL};

/// initdb of the stack's major and `pg_upgrade --link` from the copy into
/// `dirs.new` / `dirs.new_wal`; the copy is removed afterwards (its files are
/// hard links of the new cluster's; the source is the way back).
pub(super) fn upgrade(
    ws: &Workspace<'_>,
    stack: &Stack,
    inspection: &Inspection,
    dirs: &Dirs,
    install_user: &str,
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let to_bin = format!("/usr/lib/postgresql/{}/bin", inspection.to);
    timed(steps, "initdb", || {
        ws.run(&["install", "-d", "-m", "0700", &dirs.new])?;
        // pg_upgrade needs the same install user and checksum setting in both
        // clusters; the new cluster's own hba file is never used (core_data renders
        // its own), so it rejects everything and needs no password.
        let mut init: Vec<String> =
            check::initdb_args(&to_bin, &dirs.new, install_user, Some(&dirs.new_wal))
                .into_iter()
                .filter(|arg| {
                    !arg.starts_with("--pwfile=")
                        && !arg.starts_with("--auth-")
                        && (inspection.checksums || arg != "--data-checksums")
                })
                .collect();
        init.push("--auth=reject".to_owned());
        let init: Vec<&str> = init.iter().map(String::as_str).collect();
        ws.run(&init).map(drop)
    })?;
    fault::point("adopt:before-pg-upgrade")?;
    let sockets = format!("{SCRATCH}/sockets");
    ws.run(&["install", "-d", "-m", "0700", &sockets])?;
    let preload = crate::render::preload_libraries(&stack.config);
    let hba = format!("-c hba_file={SCRATCH}/pg_hba.conf -c ident_file={SCRATCH}/pg_ident.conf");
    // The old server runs on an empty configuration: the source's postgresql.conf
    // may name libraries or files this image lacks.
    let old_options = format!("-c config_file={SCRATCH}/empty.conf {hba}");
    let new_options = format!("{hba} -c shared_preload_libraries={}", preload.join(","));
    let argv = check::pg_upgrade_argv_with(
        &check::PgUpgrade {
            mode: "--link",
            from: inspection.major,
            to: inspection.to,
            new_data: &dirs.new,
            superuser: install_user,
            old_port: "50431",
            sockets: &sockets,
            preload: &preload,
        },
        &dirs.copy,
        &old_options,
        &new_options,
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    progress.status(
        "Upgrading",
        &format!(
            "the copy from PostgreSQL {} to {} (pg_upgrade --link)",
            inspection.major, inspection.to
        ),
    );
    let output = timed(steps, "pg_upgrade --link", || ws.run(&argv))?;
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        progress.detail(line);
    }
    fault::point("adopt:after-pg-upgrade")?;
    ws.remove(&dirs.copy)
}

/// Of the same major: the copy's `pg_wal` moved to `dirs.copy_wal` in the WAL
/// volume, linked from the copy.
pub(super) fn move_wal(
    ws: &Workspace<'_>,
    dirs: &Dirs,
    steps: &mut Vec<(String, f64)>,
) -> anyhow::Result<()> {
    timed(steps, "move the WAL", || {
        ws.run(&[
            "cp",
            "-a",
            "--no-target-directory",
            &format!("{}/pg_wal", dirs.copy),
            &dirs.copy_wal,
        ])?;
        ws.remove(&format!("{}/pg_wal", dirs.copy))?;
        ws.relink(&format!("{}/pg_wal", dirs.copy), &dirs.copy_wal)
    })?;
    Ok(())
}

/// `cluster` and `cluster_wal` renamed to the live names (an empty live
/// directory removed first), the data directory last, then synced.
pub(super) fn place(
    ws: &Workspace<'_>,
    cluster: &str,
    cluster_wal: &str,
    changed: &mut Changed,
    steps: &mut Vec<(String, f64)>,
) -> anyhow::Result<()> {
    timed(steps, "place", || {
        for live in [PGDATA, PGWAL] {
            // An empty live directory (the inspection allowed only that) goes; rmdir removes nothing else.
            if ws.present(live)? {
                ws.run(&["rmdir", live])?;
            }
        }
        changed.placed = true;
        ws.rename(cluster_wal, PGWAL)?;
        ws.relink(&format!("{cluster}/pg_wal"), PGWAL)?;
        ws.sync()?;
        ws.rename(cluster, PGDATA)
    })?;
    ws.sync()?;
    Ok(())
}
