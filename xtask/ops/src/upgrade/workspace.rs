//! The upgrade's container: the restore workspace's type started from the
//! upgrade image (both majors' binaries) with the stack's data, WAL and
//! repository volumes, the rendered configuration and the superuser's password
//! file, a 2 GB private `/tmp` (initdb's scratch clusters, pg_dumpall's
//! schema), swept by its role label when a run was killed. `--check` mounts
//! the volumes read-only beside the running server.

use crate::backup::oneshot::{self, Mount};
pub(crate) use crate::backup::restore::workspace::{Workspace, PGDATA, PGWAL};
use crate::stack::Stack;

pub(crate) use crate::backup::restore::workspace::DATA_ROOT;
/// The server's first socket directory (postgresql.conf), in the data volume.
pub(crate) const SERVER_SOCKETS: &str = "/var/lib/postgresql/data/core_data.sockets";
const ROLE: &str = "upgrade-workspace";

/// pg_upgrade wants a writable working directory: its commands run in /tmp.
pub(crate) const IN_TMP: [&str; 2] = ["env", "--chdir=/tmp"];

/// Starts the workspace from `upgrade_stack`'s image (the upgrade image) after
/// removing any a killed run left; `writable` mounts the volumes read-write.
pub(crate) fn start(upgrade_stack: &Stack, writable: bool) -> anyhow::Result<Workspace<'_>> {
    let stack = upgrade_stack;
    oneshot::sweep(stack, ROLE)?;
    let volumes = [
        oneshot::volume_name(stack, "pgdata"),
        oneshot::volume_name(stack, "pgwal"),
    ];
    start_on(stack, ROLE, &volumes, writable, !writable)
}

/// The rehearsal's workspace: the clone's data and WAL volumes read-write, the
/// stack's repository read-only (pgBackRest restores and replays from it).
pub(crate) fn start_clone<'a>(
    upgrade_stack: &'a Stack,
    volumes: &[String; 2],
) -> anyhow::Result<Workspace<'a>> {
    oneshot::sweep(upgrade_stack, CLONE_ROLE)?;
    start_on(upgrade_stack, CLONE_ROLE, volumes, true, true)
}

const CLONE_ROLE: &str = "upgrade-rehearsal";

/// Removes a rehearsal container a killed run left.
pub(crate) fn sweep_clone(upgrade_stack: &Stack) -> anyhow::Result<usize> {
    oneshot::sweep(upgrade_stack, CLONE_ROLE)
}

fn start_on<'a>(
    stack: &'a Stack,
    role: &str,
    [data, wal]: &[String; 2],
    writable: bool,
    repo_read_only: bool,
) -> anyhow::Result<Workspace<'a>> {
    let mut mounts = vec![
        Mount::volume(data.clone(), DATA_ROOT, !writable),
        Mount::volume(wal.clone(), "/var/lib/postgresql/wal", !writable),
        Mount::volume(
            oneshot::volume_name(stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            repo_read_only,
        ),
    ];
    // The configuration (its pg_hba.conf maps the OS user to the superuser by
    // peer) and the password file initdb gives the new superuser; no TLS files.
    mounts.extend(
        oneshot::server_mounts(&stack.paths)
            .into_iter()
            .filter(|mount| !mount.target.ends_with(".crt") && !mount.target.ends_with(".key")),
    );
    Workspace::start_with(stack, role, &mounts, Some("mode=1777,size=2g"))
}
