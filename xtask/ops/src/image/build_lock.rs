//! One build of an image tag at a time on this machine: a `flock(2)` on
//! `<temp>/core-data-image-locks-<uid>/<tag>.lock`, held from the freshness check
//! to the end of the build. Two commands (two state directories, or tests running
//! side by side) that want the same image then build it once: the second waits,
//! finds the image fresh and skips its build. The kernel releases the lock when
//! its holder dies, so a killed build never blocks the next one.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::progress::Progress;

/// Held while an image is checked and built; dropping it releases the lock.
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
}

/// The lock file of `image` (its tag with every character other than an ASCII
/// letter, digit, `-` or `.` replaced by `_`).
pub fn path(image: &str) -> Utf8PathBuf {
    let name: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("core-data-image-locks-{}", own_uid()));
    Utf8PathBuf::from_path_buf(dir.join(format!("{name}.lock")))
        .unwrap_or_else(|dir| Utf8PathBuf::from(dir.to_string_lossy().into_owned()))
}

/// This process's user: the owner of `/proc/self` (0 where that is unreadable,
/// which only shares the directory between users that cannot read `/proc`).
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |meta| meta.uid())
}

/// Takes the build lock of `image`, saying so when another build holds it.
pub fn acquire(image: &str, progress: &dyn Progress) -> anyhow::Result<BuildLock> {
    let path = path(image);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("failed to create `{dir}`"))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("failed to open `{path}`"))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            progress.status(
                "Waiting",
                &format!("for another build of image {image} to finish (lock `{path}`)"),
            );
            fs4::FileExt::lock(&file).with_context(|| format!("failed to lock `{path}`"))?;
        }
        Err(fs4::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("failed to lock `{path}`"));
        }
    }
    Ok(BuildLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_is_named_after_the_tag() {
        let path = path("core-data/postgres:17-trixie");
        assert_eq!(path.file_name(), Some("core-data_postgres_17-trixie.lock"));
        assert!(path
            .parent()
            .unwrap()
            .as_str()
            .contains("core-data-image-locks-"));
    }

    #[test]
    fn a_second_holder_waits_until_the_first_lets_go() {
        let image = format!("core-data/lock-test:{}", std::process::id());
        let first = acquire(&image, &crate::progress::Quiet).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let second = acquire(&image, &crate::progress::Quiet).unwrap();
            tx.send(()).unwrap();
            drop(second);
        });
        // flock is per open file description: the thread's own open blocks.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the waiter took the lock once it was released");
        waiter.join().unwrap();
    }
}
