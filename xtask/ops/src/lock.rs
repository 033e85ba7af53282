//! One operation at a time: an exclusive lock on the state directory, taken by
//! every command that changes the stack. The lock is a `flock(2)` on
//! `<state>/.core_data.lock` (the kernel releases it when its holder dies, so a
//! crashed holder never blocks anyone); the same file carries a small JSON
//! record of the holder (command, pid, start time) for the messages of whoever
//! waits. A record left by a process that died is reported and taken over.
//!
//! The lock belongs to the process: a second `acquire` in a process that
//! already holds it returns a nested guard at once instead of deadlocking.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::paths::Paths;
use crate::progress::Progress;
use crate::wait::{poll_until, Poll};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = ".core_data.lock";

/// How often a waiting command looks again.
const POLL: Duration = Duration::from_millis(200);

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The command, e.g. `backup` or `create-db`.
    pub command: String,
    pub pid: u32,
    /// When it took the lock, ISO 8601 UTC.
    pub started: String,
}

impl Holder {
    fn me(command: &str) -> Holder {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Holder {
            command: command.to_owned(),
            pid: std::process::id(),
            started: crate::clock::iso_millis(millis),
        }
    }

    /// True when a process with this pid exists (Linux: `/proc/<pid>`).
    pub fn is_alive(&self) -> bool {
        Utf8Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (pid {}, started {})",
            self.command, self.pid, self.started
        )
    }
}

/// Lock files this process holds, with how many guards share each.
static HELD: Mutex<BTreeMap<Utf8PathBuf, usize>> = Mutex::new(BTreeMap::new());

fn held() -> std::sync::MutexGuard<'static, BTreeMap<Utf8PathBuf, usize>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The exclusive lock on a state directory; released on drop.
#[derive(Debug)]
pub struct StateLock {
    path: Utf8PathBuf,
    /// `None` for a nested guard (an outer one in this process holds the file).
    file: Option<File>,
    /// A record left by a holder that died, found when we took the lock.
    stale: Option<Holder>,
}

impl StateLock {
    /// Takes the lock for `command`. When another process holds it: with `wait`,
    /// says who (through `progress`) and waits; without, fails naming the holder.
    pub fn acquire(
        paths: &Paths,
        command: &str,
        wait: bool,
        progress: &dyn Progress,
    ) -> anyhow::Result<StateLock> {
        let path = lock_path(paths)?;
        {
            let mut held = held();
            if let Some(count) = held.get_mut(&path) {
                *count += 1;
                return Ok(StateLock {
                    path,
                    file: None,
                    stale: None,
                });
            }
        }
        let mut file = open(&path)?;
        let started = Instant::now();
        // What the last "Waiting" line said: repeated only when the holder changes.
        let mut announced: Option<Option<Holder>> = None;
        // No limit: a waiting command waits as long as the holder works.
        poll_until("the state lock", Duration::MAX, POLL, || {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(Poll::Ready(())),
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(err)) => {
                    return Err(err).with_context(|| format!("failed to lock `{path}`"));
                }
            }
            let mut holder = read_record(&path);
            // A new holder writes its record right after locking: give it a moment.
            while holder.is_none() && started.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(POLL);
                holder = read_record(&path);
            }
            if !wait {
                bail!(
                    "another command holds the lock on the state directory `{}`: {}; \
                     wait for it to finish, or run again without `--no-wait` to wait for it",
                    paths.state(),
                    describe(holder.as_ref())
                );
            }
            if announced.as_ref() != Some(&holder) {
                progress.status(
                    "Waiting",
                    &format!(
                        "for {} to finish (it holds the lock on `{}`)",
                        describe(holder.as_ref()),
                        paths.state()
                    ),
                );
                announced = Some(holder);
            }
            Ok(Poll::Pending("held by another command".to_owned()))
        })?;
        // Ours now. A record still in the file was left by a holder that died
        // (a clean release empties it); the kernel released its flock.
        let stale = read_record(&path).filter(|old| old.pid != std::process::id());
        if let Some(old) = &stale {
            progress.status(
                "Recovered",
                &format!(
                    "the lock left by {old}, which {}",
                    if old.is_alive() {
                        "no longer holds it"
                    } else {
                        "is no longer running"
                    }
                ),
            );
        }
        let record = serde_json::to_vec(&Holder::me(command))?;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&record))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("failed to write the holder record into `{path}`"))?;
        held().insert(path.clone(), 1);
        Ok(StateLock {
            path,
            file: Some(file),
            stale,
        })
    }

    /// The holder record a dead process had left, if taking the lock found one.
    pub fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }

    /// The lock file.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let mut held = held();
        if let Some(count) = held.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.path);
            }
        }
        if let Some(file) = self.file.take() {
            // An empty file means "released cleanly"; closing it drops the flock.
            let _ = file.set_len(0);
            let _ = fs4::FileExt::unlock(&file);
        }
    }
}

/// The current (or last) holder recorded in `paths`' lock file, if any. Never waits.
pub fn holder(paths: &Paths) -> Option<Holder> {
    read_record(&lock_path(paths).ok()?)
}

fn describe(holder: Option<&Holder>) -> String {
    match holder {
        Some(holder) if holder.is_alive() => holder.to_string(),
        Some(holder) => format!("{holder}, no longer running"),
        None => "a command that has not yet written its record".to_owned(),
    }
}

fn lock_path(paths: &Paths) -> anyhow::Result<Utf8PathBuf> {
    let state = paths.state();
    std::fs::create_dir_all(state)
        .with_context(|| format!("failed to create the state directory `{state}`"))?;
    let state = state
        .canonicalize_utf8()
        .with_context(|| format!("failed to resolve the state directory `{state}`"))?;
    Ok(state.join(LOCK_FILE))
}

/// Opens (creating) the lock file without following a planted symlink.
fn open(path: &Utf8Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!("failed to open the lock file `{path}`; it must be a regular file")
        })
}

fn read_record(path: &Utf8Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
