//! Snapshot files (`audit schema`, `snapshot-pgstat`): JSON written to a new
//! file that never replaces an existing one, in a private directory.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write;

use crate::clock::utc_stamp;

/// `<dir>/<prefix><UTC stamp>.json`, creating `dir` with mode 0700.
pub fn default_path(dir: &Utf8Path, prefix: &str) -> anyhow::Result<Utf8PathBuf> {
    crate::fsutil::ensure_real_dir(dir, 0o700)?;
    Ok(dir.join(format!(
        "{prefix}{}.json",
        utc_stamp(std::time::SystemTime::now())
    )))
}

/// Writes `value` as pretty JSON to `path`, which must not exist yet: into
/// `<path>.partial` first, then published under its name without replacing
/// anything, so an interrupted write never leaves half a snapshot there.
pub fn write_new(path: &Utf8Path, value: &impl Serialize) -> anyhow::Result<()> {
    let mut text =
        serde_json::to_string_pretty(value).context("failed to serialize the snapshot")?;
    text.push('\n');
    if path.exists() {
        anyhow::bail!("`{path}` exists; a snapshot never replaces a file (move it away)");
    }
    let partial = Utf8PathBuf::from(format!("{path}.partial"));
    let mut file = crate::fsutil::create_new(&partial, 0o600)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write `{partial}`"))
        .and_then(|()| crate::fsutil::publish_noreplace(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Reads a JSON snapshot.
pub fn read<T: DeserializeOwned>(path: &Utf8Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read `{path}`"))?;
    serde_json::from_str(&text).with_context(|| format!("`{path}` is not a snapshot of this kind"))
}

/// The server's time now, as `2024-05-01T12:00:00.000Z`.
pub fn server_time(client: &mut postgres::Client) -> anyhow::Result<String> {
    Ok(client
        .query_one(&format!("SELECT {}", utc_text("now()")), &[])?
        .try_get(0)?)
}

/// An SQL expression printing the timestamptz expression `expr` in UTC, ISO 8601.
pub fn utc_text(expr: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// Refuses a snapshot file written in another format version than `wanted`.
pub fn check_version(found: u32, wanted: u32) -> anyhow::Result<()> {
    if found != wanted {
        anyhow::bail!(
            "the snapshot has format version {found}; this version of core_data reads version {wanted}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn snapshots_go_to_a_private_directory_and_are_never_replaced() {
        let root = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("core_data_snapshot_file_{}", std::process::id()));
        let dir = root.join("backups/audits");
        let path = default_path(&dir, "schema-").unwrap();
        assert!(path.file_name().unwrap().starts_with("schema-"));
        assert!(path.as_str().ends_with("Z.json"));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        write_new(&path, &vec![1, 2]).unwrap();
        assert!(write_new(&path, &vec![3]).is_err());
        assert!(!Utf8PathBuf::from(format!("{path}.partial")).exists());
        let back: Vec<i32> = read(&path).unwrap();
        assert_eq!(back, [1, 2]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
