//! The users file, re-read whenever its modification time changes, so
//! `cargo xtask dashboard add-user` and `remove-user` take effect without a
//! restart. Parsing and verifying are `core_data_ops::dashboard::users`.

use std::sync::Mutex;
use std::time::SystemTime;

use camino::Utf8PathBuf;
use core_data_ops::dashboard::users::{self, User};

/// A hash of a random password, verified when the name is unknown so an
/// unknown name costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| users::hash(&super::random_token()).unwrap_or_default())
}

/// The users file and what was last read from it.
pub(crate) struct UsersFile {
    path: Utf8PathBuf,
    cached: Mutex<Option<(SystemTime, Vec<User>)>>,
}

impl UsersFile {
    pub(crate) fn new(path: Utf8PathBuf) -> UsersFile {
        UsersFile {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The current users: the cached list while the file's mtime is
    /// unchanged. A missing or malformed file means no one may log in (said
    /// on stderr), never the previous list.
    pub(crate) fn current(&self) -> Vec<User> {
        let mtime = std::fs::metadata(&self.path).and_then(|meta| meta.modified());
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mtime = match mtime {
            Ok(mtime) => mtime,
            Err(error) => {
                if cached.take().is_some() {
                    eprintln!(
                        "core-data-dashboard: the users file `{}` cannot be read ({error}): no one \
                         can log in; `cargo xtask dashboard add-user NAME` writes it",
                        self.path
                    );
                }
                return Vec::new();
            }
        };
        if let Some((seen, list)) = cached.as_ref() {
            if *seen == mtime {
                return list.clone();
            }
        }
        let list = match std::fs::read_to_string(&self.path)
            .map_err(anyhow::Error::from)
            .and_then(|text| users::parse(&text))
        {
            Ok(list) => list,
            Err(error) => {
                eprintln!(
                    "core-data-dashboard: the users file `{}` is not valid ({error:#}): no one \
                     can log in until it is fixed",
                    self.path
                );
                Vec::new()
            }
        };
        *cached = Some((mtime, list.clone()));
        list
    }

    /// Whether `name` is a user now.
    pub(crate) fn exists(&self, name: &str) -> bool {
        self.current().iter().any(|user| user.name == name)
    }

    /// Whether `name` exists and `password` is theirs (slow: Argon2).
    pub(crate) fn verify(&self, name: &str, password: &str) -> bool {
        match self.current().into_iter().find(|user| user.name == name) {
            Some(user) => users::verify(&user.hash, password),
            None => {
                users::verify(dummy_hash(), password);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_re_read_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("users")).unwrap();
        let file = UsersFile::new(path.clone());
        assert!(file.current().is_empty(), "no file, no users");
        let alice = User {
            name: "alice".into(),
            hash: users::hash("alice's password").unwrap(),
        };
        std::fs::write(&path, users::format(std::slice::from_ref(&alice))).unwrap();
        assert!(file.verify("alice", "alice's password"));
        assert!(!file.verify("alice", "wrong password!"));
        assert!(!file.verify("bob", "alice's password"));
        let bob = User {
            name: "bob".into(),
            hash: users::hash("bob's password!").unwrap(),
        };
        std::fs::write(&path, users::format(&[bob])).unwrap();
        // Make sure the mtime moves even on a coarse clock.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(file.exists("bob") && !file.exists("alice"));
        assert!(file.verify("bob", "bob's password!"));
        std::fs::write(&path, "garbage\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later + std::time::Duration::from_secs(5))
            .unwrap();
        assert!(file.current().is_empty(), "a broken file lets no one in");
    }
}
