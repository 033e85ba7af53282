//! What the service knows of backups, all read-only: pgBackRest's sets
//! (`pgbackrest`), the logical sidecar's `status.json` (`logical`) and the
//! daily maintenance bundles (`daily`).

pub(crate) mod daily;
pub(crate) mod logical;
pub(crate) mod pgbackrest;
