//! Where things live: the repository (templates, compose files, profiles) and
//! the state directory (`.env`, `secrets/`, `rendered/`, `backups/`).
//!
//! The state directory is the repository root unless `--state DIR` (or
//! `CORE_DATA_STATE`) says otherwise; tests give each stack its own.

use camino::{Utf8Path, Utf8PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    repo: Utf8PathBuf,
    state: Utf8PathBuf,
}

impl Paths {
    pub fn new(repo: impl Into<Utf8PathBuf>, state: impl Into<Utf8PathBuf>) -> Paths {
        Paths {
            repo: repo.into(),
            state: state.into(),
        }
    }

    /// The repository this library was built from, with `state` (default: the repository).
    pub fn from_repo(state: Option<Utf8PathBuf>) -> Paths {
        let repo = repo_root();
        let state = state.unwrap_or_else(|| repo.clone());
        Paths { repo, state }
    }

    pub fn repo(&self) -> &Utf8Path {
        &self.repo
    }

    pub fn state(&self) -> &Utf8Path {
        &self.state
    }

    pub fn env_file(&self) -> Utf8PathBuf {
        self.state.join(".env")
    }

    pub fn secrets_dir(&self) -> Utf8PathBuf {
        self.state.join("secrets")
    }

    pub fn rendered_dir(&self) -> Utf8PathBuf {
        self.state.join("rendered")
    }

    pub fn backups_dir(&self) -> Utf8PathBuf {
        self.state.join("backups")
    }

    pub fn compose_file(&self) -> Utf8PathBuf {
        self.repo.join("compose/compose.yaml")
    }

    /// The `ha` topology's compose file (Patroni nodes, etcd, HAProxy).
    pub fn ha_compose_file(&self) -> Utf8PathBuf {
        self.repo.join("compose/ha.yaml")
    }

    pub fn postgres_dir(&self) -> Utf8PathBuf {
        self.repo.join("postgres")
    }

    pub fn seccomp_dir(&self) -> Utf8PathBuf {
        self.repo.join("seccomp")
    }
}

/// The repository root: two levels above this crate (`xtask/ops`).
pub fn repo_root() -> Utf8PathBuf {
    let manifest = Utf8Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Utf8Path::parent)
        .expect("xtask/ops sits two levels below the root")
        .to_owned()
}
