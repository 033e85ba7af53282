//! The logical backup sidecar's `status.json` under `backups_dir/logical`,
//! read with the sidecar's own types and health rule.

use anyhow::Context;
use camino::Utf8Path;
use core_data_sidecar::status::Status;

/// The status and, when unhealthy, why.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Logical {
    pub(crate) status: Status,
    pub(crate) problem: Option<String>,
}

/// Reads `backups_dir/logical/status.json`.
pub(crate) fn read(backups_dir: &Utf8Path) -> anyhow::Result<Logical> {
    let path = backups_dir.join("logical/status.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("failed to read `{path}`: the logical backup sidecar has not written it yet")
    })?;
    let status = Status::from_json(&text).map_err(|error| anyhow::anyhow!("`{path}`: {error}"))?;
    let problem = status.problem(jiff::Timestamp::now().as_second());
    Ok(Logical { status, problem })
}
