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
    let mut mounts = vec![
        Mount::volume(oneshot::volume_name(stack, "pgdata"), DATA_ROOT, !writable),
        Mount::volume(
            oneshot::volume_name(stack, "pgwal"),
            "/var/lib/postgresql/wal",
            !writable,
        ),
        Mount::volume(
            oneshot::volume_name(stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            !writable,
        ),
    ];
    // The configuration (its pg_hba.conf maps the OS user to the superuser by
    // peer) and the password file initdb gives the new superuser; no TLS files.
    mounts.extend(
        oneshot::server_mounts(&stack.paths)
            .into_iter()
            .filter(|mount| !mount.target.ends_with(".crt") && !mount.target.ends_with(".key")),
    );
    Workspace::start_with(stack, ROLE, &mounts, Some("mode=1777,size=2g"))
}
