//! `pgbackrest info` run in the service's own container (the postgres image,
//! the repository volume mounted read-only, `lock-path` on a tmpfs), parsed by
//! the same code as `cargo xtask backup info`.

use std::time::Duration;

use anyhow::{bail, Context};
use core_data_ops::backup::physical::{self, BackupSet};

/// pgBackRest's configuration inside the image.
const CONFIG: &str = "--config=/etc/core_data/postgres/pgbackrest.conf";
/// How long `info` may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The repository's backup sets, oldest first.
pub(crate) fn sets() -> anyhow::Result<Vec<BackupSet>> {
    let handle = duct::cmd(
        "pgbackrest",
        [
            CONFIG,
            "--log-level-console=off",
            "--log-level-file=off",
            "info",
            "--output=json",
        ],
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .start()
    .context("failed to start `pgbackrest` (is this the postgres image?)")?;
    let Some(output) = handle
        .wait_timeout(DEADLINE)
        .context("failed to wait for `pgbackrest info`")?
    else {
        let _ = handle.kill();
        bail!(
            "`pgbackrest info` did not answer in {}s",
            DEADLINE.as_secs()
        );
    };
    if !output.status.success() {
        bail!(
            "`pgbackrest info` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    physical::parse_info(&String::from_utf8_lossy(&output.stdout))
}
