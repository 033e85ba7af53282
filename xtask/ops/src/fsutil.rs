//! File writes that never leave a half-written file behind, with explicit modes.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::Context;
use camino::Utf8Path;

/// Writes `bytes` to a temporary file beside `path` with `mode`, then renames it over `path`.
pub fn write_atomic(path: &Utf8Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create `{dir}`"))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().unwrap_or("file")));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("failed to create `{tmp}`"))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to move `{tmp}` to `{path}`"))?;
    Ok(())
}

/// Creates `dir` (and parents) and sets its mode.
pub fn ensure_dir(dir: &Utf8Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create `{dir}`"))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of `{dir}`"))
}

/// Hands `path` to `uid:gid` when this process runs as root (the server's UID
/// must be able to read the files bound into its container); otherwise the
/// files already belong to the invoking user, who is the server's UID.
pub fn hand_over(path: &Utf8Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    if crate::config::sizing::current_ids().0 == 0 {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("failed to hand `{path}` to {uid}:{gid}"))?;
    }
    Ok(())
}
