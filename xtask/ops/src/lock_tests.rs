//! Tests of `lock`: the second holder is a real second process (this test
//! binary re-run as `child_holder`), because flock is a process-level lock.

use std::sync::Mutex;
use std::time::Duration;

use camino::Utf8PathBuf;

use super::*;

const CHILD_ENV: &str = "CORE_DATA_LOCK_TEST_CHILD";
const CHILD_COMMAND: &str = "child-backup";

/// Records every status line.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Progress for Recorder {
    fn status(&self, verb: &str, message: &str) {
        self.0.lock().unwrap().push(format!("{verb} {message}"));
    }
    fn detail(&self, _line: &str) {}
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn state() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let state = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, Paths::new(crate::paths::repo_root(), state))
}

/// Not a test on its own: when re-run by `spawn_holder`, takes the lock, writes
/// the file `locked`, and holds it until the file `release` appears in the state directory.
#[test]
fn child_holder() {
    let Ok(state) = std::env::var(CHILD_ENV) else {
        return;
    };
    let paths = Paths::new(crate::paths::repo_root(), Utf8PathBuf::from(state));
    let lock = StateLock::acquire(&paths, CHILD_COMMAND, false, &Recorder::default()).unwrap();
    std::fs::write(paths.state().join("locked"), "").unwrap();
    let release = paths.state().join("release");
    for _ in 0..300 {
        if release.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(lock);
}

/// Starts a second process holding `paths`' lock; returns once it holds it.
fn spawn_holder(paths: &Paths) -> Child {
    let handle = duct::cmd(
        std::env::current_exe().unwrap(),
        ["--exact", "lock::tests::child_holder"],
    )
    .env(CHILD_ENV, paths.state().as_str())
    .stdout_null()
    .stderr_null()
    .unchecked()
    .start()
    .unwrap();
    let locked = paths.state().join("locked");
    for _ in 0..600 {
        if locked.exists() {
            return Child(handle);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the child process never took the lock");
}

/// A child test process.
struct Child(duct::Handle);

impl Child {
    fn id(&self) -> u32 {
        self.0.pids()[0]
    }

    /// SIGKILL: no destructor runs.
    fn kill(&self) {
        self.0.kill().unwrap();
    }

    fn succeeded(&self) -> bool {
        self.0.wait().unwrap().status.success()
    }
}

fn release(paths: &Paths, child: Child) {
    std::fs::write(paths.state().join("release"), "").unwrap();
    assert!(child.succeeded());
}

#[test]
fn the_record_names_the_holder_and_is_cleared_on_release() {
    let (_dir, paths) = state();
    assert_eq!(holder(&paths), None);
    let lock = StateLock::acquire(&paths, "create-db", false, &Recorder::default()).unwrap();
    let record = holder(&paths).expect("a holder record while locked");
    assert_eq!(record.command, "create-db");
    assert_eq!(record.pid, std::process::id());
    assert!(record.is_alive());
    assert!(
        record.started.ends_with('Z') && record.started.len() == 24,
        "{record:?}"
    );
    assert!(lock.stale().is_none());
    assert_eq!(
        lock.path(),
        paths.state().canonicalize_utf8().unwrap().join(LOCK_FILE)
    );
    drop(lock);
    assert_eq!(holder(&paths), None, "a clean release leaves no record");
}

#[test]
fn no_wait_refuses_naming_the_holder_and_succeeds_once_released() {
    let (_dir, paths) = state();
    let child = spawn_holder(&paths);
    let pid = child.id();
    let err = StateLock::acquire(&paths, "create-db", false, &Recorder::default())
        .expect_err("the lock is held by the child");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("`{CHILD_COMMAND}` (pid {pid}, started ")),
        "{message}"
    );
    assert!(message.contains("--no-wait"), "{message}");
    release(&paths, child);
    let lock = StateLock::acquire(&paths, "create-db", false, &Recorder::default()).unwrap();
    assert!(lock.stale().is_none(), "a clean release is not stale");
}

#[test]
fn a_waiting_command_names_the_holder_then_gets_the_lock() {
    let (_dir, paths) = state();
    let child = spawn_holder(&paths);
    let pid = child.id();
    let progress = Recorder::default();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| StateLock::acquire(&paths, "up", true, &progress));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!waiter.is_finished(), "the waiter must not get a held lock");
        release(&paths, child);
        let lock = waiter.join().unwrap().unwrap();
        assert_eq!(holder(&paths).unwrap().command, "up");
        drop(lock);
    });
    let lines = progress.lines();
    assert!(
        lines.iter().any(|line| line.starts_with("Waiting")
            && line.contains(&format!("`{CHILD_COMMAND}` (pid {pid}"))),
        "{lines:?}"
    );
}

#[test]
fn a_dead_holders_record_is_reported_and_taken_over() {
    let (_dir, paths) = state();
    let child = spawn_holder(&paths);
    let pid = child.id();
    child.kill(); // SIGKILL: no destructor runs, the record stays.
    assert!(!child.succeeded());
    let left = holder(&paths).expect("the dead holder's record is still there");
    assert_eq!((left.command.as_str(), left.pid), (CHILD_COMMAND, pid));
    assert!(!left.is_alive());
    let progress = Recorder::default();
    let lock = StateLock::acquire(&paths, "restore", false, &progress).unwrap();
    assert_eq!(lock.stale(), Some(&left));
    let lines = progress.lines();
    assert!(
        lines.iter().any(|line| line.starts_with("Recovered")
            && line.contains(&format!("pid {pid}"))
            && line.contains("no longer running")),
        "{lines:?}"
    );
    assert_eq!(holder(&paths).unwrap().command, "restore");
}

#[test]
fn a_nested_acquire_in_the_same_process_does_not_deadlock() {
    let (_dir, paths) = state();
    let outer = StateLock::acquire(&paths, "restore", false, &Recorder::default()).unwrap();
    let inner = StateLock::acquire(&paths, "inner", false, &Recorder::default()).unwrap();
    drop(inner);
    assert_eq!(
        holder(&paths).unwrap().command,
        "restore",
        "dropping the nested guard keeps the outer lock and its record"
    );
    drop(outer);
    assert_eq!(holder(&paths), None);
}

#[test]
fn a_symlink_in_place_of_the_lock_file_is_not_followed() {
    let (dir, paths) = state();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, paths.state().join(LOCK_FILE)).unwrap();
    let err = StateLock::acquire(&paths, "up", false, &Recorder::default()).unwrap_err();
    assert!(format!("{err:#}").contains("regular file"), "{err:#}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
}
