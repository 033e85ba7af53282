//! `up --new-cluster --yes`: the one way to start a new, empty cluster when the
//! backup repository already holds another cluster's stanza. It only leaves a
//! marker for the entrypoint, and only when the data and WAL volumes hold no
//! data at all; it never removes anything.

use anyhow::bail;

use super::workspace::{Workspace, DATA_ROOT, WAL_ROOT};
use crate::stack::Stack;

/// Read by the entrypoint (and removed by it once the new cluster owns the stanza).
pub const MARKER: &str = "/var/lib/postgresql/data/core_data.allow-new-cluster";

/// Entries a genuinely empty volume may hold.
const EMPTY_ENTRIES: &[&str] = &[
    "lost+found",
    "pgdata",
    "pg_wal",
    "core_data.allow-new-cluster",
];

/// Leaves the marker after checking that both volumes are empty.
pub fn allow(stack: &Stack) -> anyhow::Result<()> {
    stack.compose().run(&["up", "--no-start"])?;
    let ws = Workspace::start(stack)?;
    for root in [DATA_ROOT, WAL_ROOT] {
        let listing = ws.run(&["find", root, "-mindepth", "1", "-maxdepth", "2"])?;
        let unexpected: Vec<&str> = listing
            .lines()
            .filter(|path| {
                let relative = path.trim_start_matches(root).trim_start_matches('/');
                !EMPTY_ENTRIES.contains(&relative)
            })
            .collect();
        if !unexpected.is_empty() {
            bail!(
                "`--new-cluster` starts a cluster only on empty volumes, but `{root}` holds {}; \
                 nothing was changed. If that is an interrupted restore, `cargo xtask up` finishes it; \
                 to get a backup back, use `cargo xtask restore`",
                unexpected.join(", ")
            );
        }
    }
    ws.write_file(
        MARKER,
        b"requested by `cargo xtask up --new-cluster --yes`\n",
    )
}
