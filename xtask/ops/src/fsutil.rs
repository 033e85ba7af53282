//! File writes that never leave a half-written file behind, with explicit modes.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::Context;
use camino::Utf8Path;

/// Writes `bytes` to a temporary file beside `path` with `mode`, then renames it over `path`.
/// The temporary name is created exclusively (`O_EXCL`): whatever stood there
/// before, a planted symlink included, is removed rather than followed, and a
/// link planted in between makes the write fail instead of landing elsewhere.
pub fn write_atomic(path: &Utf8Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create `{dir}`"))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().unwrap_or("file")));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("failed to remove stale `{tmp}`")),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
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
        // lchown: a symlink planted in a directory the container can write is not followed.
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .with_context(|| format!("failed to hand `{path}` to {uid}:{gid}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let victim = root.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, root.join(".report.json.tmp")).unwrap();

        write_atomic(&root.join("report.json"), b"{}", 0o640).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(root.join("report.json")).unwrap(),
            "{}"
        );
        let mode = std::fs::metadata(root.join("report.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }
}
