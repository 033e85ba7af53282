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

/// Like `ensure_dir`, but refuses when `dir` (its final component) is a symlink:
/// a planted link would send our writes somewhere else.
pub fn ensure_real_dir(dir: &Utf8Path, mode: u32) -> anyhow::Result<()> {
    refuse_symlink(dir)?;
    ensure_dir(dir, mode)?;
    refuse_symlink(dir)
}

/// Fails when `path` itself is a symlink (a missing path is fine).
pub fn refuse_symlink(path: &Utf8Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
            "`{path}` is a symbolic link; core_data does not write through links there; \
             replace it with a real directory (move its contents) and try again"
        ),
        _ => Ok(()),
    }
}

/// Creates `path` exclusively (`O_CREAT | O_EXCL`, which never follows a symlink at the
/// final component and never truncates an existing file) with `mode`.
pub fn create_new(path: &Utf8Path, mode: u32) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            format!("failed to create `{path}` (it must not exist yet; move the existing one away)")
        })
}

/// Gives `from` the name `to` without ever replacing an existing `to`: a hard
/// link (which fails when `to` exists, symlink or not), then `from` is removed.
pub fn publish_noreplace(from: &Utf8Path, to: &Utf8Path) -> anyhow::Result<()> {
    std::fs::hard_link(from, to).with_context(|| {
        format!("failed to move `{from}` to `{to}` (a file with that name may already exist; nothing was overwritten)")
    })?;
    std::fs::remove_file(from).with_context(|| format!("failed to remove `{from}`"))
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
    fn exclusive_writes_never_follow_or_replace() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let victim = root.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("link")).unwrap();
        assert!(create_new(&root.join("link"), 0o640).is_err());
        assert!(create_new(&victim, 0o640).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

        std::fs::write(root.join("new"), "fresh").unwrap();
        assert!(publish_noreplace(&root.join("new"), &victim).is_err());
        assert!(publish_noreplace(&root.join("new"), &root.join("link")).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        publish_noreplace(&root.join("new"), &root.join("final")).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("final")).unwrap(),
            "fresh"
        );
        assert!(!root.join("new").exists());

        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("linked")).unwrap();
        let err = ensure_real_dir(&root.join("linked"), 0o750).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        ensure_real_dir(&root.join("real/sub"), 0o750).unwrap();
    }

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
