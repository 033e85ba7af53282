//! The `logical_backup` sidecar as the CLI sees it: its container, its
//! directory under `backups/`, and its `status.json` (layout and health rule
//! from `core_data_sidecar`, the crate of the binary that writes it).

use anyhow::{bail, Context};
use camino::Utf8PathBuf;

use crate::stack::Stack;

/// The compose service of the logical backup sidecar.
pub const SIDECAR_SERVICE: &str = "logical_backup";

pub use core_data_sidecar::{FileEntry, Run, Status};

/// The sidecar's container name.
pub fn sidecar_container(stack: &Stack) -> String {
    stack.config.container_name(SIDECAR_SERVICE)
}

/// Where the sidecar writes its runs on the host.
pub fn sidecar_dir(stack: &Stack) -> Utf8PathBuf {
    stack.paths.backups_dir().join("logical")
}

/// Reads the sidecar's `status.json` from the host's backups directory.
pub fn sidecar_status(stack: &Stack) -> anyhow::Result<Status> {
    let path = sidecar_dir(stack).join("status.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "no sidecar status at `{path}` yet; the `{SIDECAR_SERVICE}` service writes it after its first run \
             (see `docker logs {}`)",
            sidecar_container(stack)
        ),
        Err(err) => return Err(err).with_context(|| format!("failed to read `{path}`")),
    };
    Status::from_json(&String::from_utf8_lossy(&bytes)).map_err(|err| {
        anyhow::anyhow!("`{path}` is not a status file this version understands: {err}")
    })
}
