//! Maintenance log files: `backups/maintenance/<UTC stamp>-<what>.log`, in a
//! 0700 directory, created exclusively (never replacing or following a link;
//! a second run in the same second gets `-2`, `-3`, …), each line stamped
//! and written as it happens, so an interrupted run still leaves its record.

use std::io::Write;

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::clock::{iso_seconds, utc_stamp};
use crate::paths::Paths;

/// Where the maintenance logs go.
pub fn dir(paths: &Paths) -> Utf8PathBuf {
    paths.backups_dir().join("maintenance")
}

/// An open log file.
pub struct Log {
    pub path: Utf8PathBuf,
    file: std::fs::File,
}

impl Log {
    /// Creates a new log named `<stamp>-<what>.log`.
    pub fn create(paths: &Paths, what: &str) -> anyhow::Result<Log> {
        let dir = dir(paths);
        crate::fsutil::ensure_real_dir(&paths.backups_dir(), 0o700)?;
        crate::fsutil::ensure_real_dir(&dir, 0o700)?;
        let stamp = utc_stamp(std::time::SystemTime::now());
        for attempt in 1..100 {
            let suffix = if attempt == 1 {
                String::new()
            } else {
                format!("-{attempt}")
            };
            let path = dir.join(format!("{stamp}-{what}{suffix}.log"));
            if std::fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            let file = crate::fsutil::create_new(&path, 0o600)?;
            return Ok(Log { path, file });
        }
        anyhow::bail!("could not find a free log file name in `{dir}` for `{stamp}-{what}`")
    }

    /// Appends `text` (each of its lines stamped) and flushes it to disk.
    pub fn line(&mut self, text: &str) -> anyhow::Result<()> {
        let now = iso_seconds(std::time::SystemTime::now());
        let mut out = String::new();
        for line in text.lines() {
            out.push_str(&format!("{now} {line}\n"));
        }
        self.file
            .write_all(out.as_bytes())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("failed to write the maintenance log `{}`", self.path))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn logs_are_new_private_files_that_never_collide() {
        let root = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("core_data_maint_log_{}", std::process::id()));
        let paths = Paths::new(root.clone(), root.clone());
        let mut first = Log::create(&paths, "compact-level1").unwrap();
        let second = Log::create(&paths, "compact-level1").unwrap();
        assert_ne!(first.path, second.path);
        assert!(first.path.as_str().ends_with("Z-compact-level1.log"));
        first.line("one\ntwo").unwrap();
        let text = std::fs::read_to_string(&first.path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text
            .lines()
            .all(|l| l.ends_with(" one") || l.ends_with(" two")));
        let mode = std::fs::metadata(dir(&paths)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
