//! `old-clusters`: the copies of replaced clusters that a restore (and a major
//! upgrade) sets aside inside the stack's data and WAL volumes, listed with their
//! sizes and major version (a data directory and its WAL directory as one entry),
//! and the removal of one: checked first (exactly a set-aside name, no restore or
//! upgrade unfinished, the entry present), then changed, saying exactly what
//! remains when a half could not be removed.

pub mod names;
pub mod pending;
mod volumes;

use anyhow::bail;
use serde::Serialize;

use crate::stack::Stack;
use names::{AsideName, Kind, Pair};
use pending::Pending;
use volumes::Volumes;

/// What `old-clusters` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub project: String,
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// The sum of the entries' `bytes`.
    pub total_bytes: u64,
    /// Unfinished restores or upgrades (nothing can be removed while there is one).
    pub pending: Vec<Pending>,
}

/// One set-aside copy: a data directory, its WAL directory, or both.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The data directory's name, else the WAL directory's; `--remove` takes either.
    pub name: String,
    pub kind: Kind,
    pub id: String,
    /// From the data directory's `PG_VERSION`; `None` without one.
    pub pg_major: Option<u32>,
    /// The halves' sizes added up.
    pub bytes: u64,
    pub data: Option<Dir>,
    pub wal: Option<Dir>,
    /// The unfinished restore or upgrade that still needs this copy.
    pub in_use_by: Option<String>,
}

/// One directory of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct Dir {
    pub name: String,
    /// Its path inside the volume, as mounted in the server's container.
    pub path: String,
    /// Disk usage (`du`) not shared with the live cluster; `None` when it could not be measured.
    pub bytes: Option<u64>,
}

impl Entry {
    /// The directories of this entry, data first.
    pub fn dirs(&self) -> impl Iterator<Item = &Dir> {
        self.data.iter().chain(self.wal.iter())
    }
}

/// Lists every set-aside copy; changes nothing (the volumes are mounted read-only).
pub fn list(stack: &Stack) -> anyhow::Result<Report> {
    let volumes = Volumes::open(stack, false)?;
    let pending = all_pending(stack, &volumes)?;
    let entries = entries(&volumes, &pending)?;
    Ok(Report {
        project: stack.config.project().to_owned(),
        total_bytes: entries.iter().map(|entry| entry.bytes).sum(),
        entries,
        pending,
    })
}

/// What `remove` would remove, after the same checks; changes nothing.
pub fn plan_removal(stack: &Stack, name: &str) -> anyhow::Result<Entry> {
    let aside = check_name(stack, name)?;
    let volumes = Volumes::open(stack, false)?;
    find(stack, &volumes, &aside)
}

/// Removes the entry `name` belongs to (its data and WAL directories) after
/// checking it may be; returns what was removed.
pub fn remove(stack: &Stack, name: &str) -> anyhow::Result<Entry> {
    let aside = check_name(stack, name)?;
    let volumes = Volumes::open(stack, true)?;
    let entry = find(stack, &volumes, &aside)?;
    let halves: Vec<AsideName> = [&entry.data, &entry.wal]
        .into_iter()
        .flatten()
        .map(|dir| names::parse(&dir.name).expect("listed names parse"))
        .collect();
    let failures: Vec<String> = halves
        .iter()
        .filter_map(|half| volumes.remove(half).err().map(|err| format!("{err:#}")))
        .collect();
    if failures.is_empty() {
        return Ok(entry);
    }
    let mut remains = Vec::new();
    let mut removed = Vec::new();
    for half in &halves {
        let path = volumes::path(half);
        match volumes.present(&path) {
            Ok(true) => remains.push(format!("`{path}` (possibly in part)")),
            Ok(false) => removed.push(format!("`{path}`")),
            Err(err) => remains.push(format!("`{path}` (could not check: {err:#})")),
        }
    }
    bail!(
        "failed to remove `{}`: {}\nwhat remains: {}\nremoved: {}\nrun `cargo xtask old-clusters` to see it and `--remove` it again",
        entry.name,
        failures.join("; "),
        if remains.is_empty() { "nothing".to_owned() } else { remains.join(", ") },
        if removed.is_empty() { "nothing".to_owned() } else { removed.join(", ") },
    )
}

/// The name's own checks and the state directory's journals (no container needed).
fn check_name(stack: &Stack, name: &str) -> anyhow::Result<AsideName> {
    let aside =
        names::parse(name).map_err(|err| anyhow::anyhow!("cannot remove `{name}`: {err}"))?;
    refuse_pending(&pending::on_host(&stack.paths)?, &aside)?;
    Ok(aside)
}

/// The entry of `aside` in the volumes, after the volumes' journals are checked.
fn find(stack: &Stack, volumes: &Volumes<'_>, aside: &AsideName) -> anyhow::Result<Entry> {
    let pending = all_pending(stack, volumes)?;
    refuse_pending(&pending, aside)?;
    entries(volumes, &pending)?
        .into_iter()
        .find(|entry| entry.kind == aside.kind && entry.id == aside.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no set-aside copy `{}` in the data or WAL volume of `{}`; \
                 `cargo xtask old-clusters` lists them",
                aside.dir_name(),
                stack.config.project()
            )
        })
}

fn refuse_pending(pending: &[Pending], aside: &AsideName) -> anyhow::Result<()> {
    if let Some(owner) = pending.iter().find(|p| p.refers_to(aside)) {
        bail!(
            "cannot remove `{}`: {} still refers to it; {}",
            aside.dir_name(),
            owner.describe(),
            owner.hint()
        );
    }
    if let Some(other) = pending.first() {
        bail!(
            "cannot remove anything while {} is pending; {}",
            other.describe(),
            other.hint()
        );
    }
    Ok(())
}

/// The journals on the host and in the data volume (one entry per operation and id).
fn all_pending(stack: &Stack, volumes: &Volumes<'_>) -> anyhow::Result<Vec<Pending>> {
    let mut all = pending::on_host(&stack.paths)?;
    for (operation, file) in pending::volume_files() {
        if let Some(text) = volumes.read(file)? {
            let found = pending::parse(operation, file.to_owned(), &text);
            let known = all
                .iter()
                .any(|p| p.operation == found.operation && p.id.is_some() && p.id == found.id);
            if !known {
                all.push(found);
            }
        }
    }
    Ok(all)
}

fn entries(volumes: &Volumes<'_>, pending: &[Pending]) -> anyhow::Result<Vec<Entry>> {
    let pairs = names::group(volumes.set_aside()?);
    let dirs: Vec<AsideName> = pairs
        .iter()
        .flat_map(|pair| pair.data.iter().chain(pair.wal.iter()).cloned())
        .collect();
    let sizes = volumes.sizes(&dirs)?;
    let size_of = |name: &AsideName| {
        dirs.iter()
            .position(|dir| dir == name)
            .and_then(|i| sizes[i])
    };
    let mut entries = Vec::new();
    for pair in pairs {
        let pg_major = match &pair.data {
            Some(data) => volumes.pg_major(data)?,
            None => None,
        };
        let dir = |half: &Option<AsideName>| {
            half.as_ref().map(|name| Dir {
                name: name.dir_name(),
                path: volumes::path(name),
                bytes: size_of(name),
            })
        };
        let (data, wal) = (dir(&pair.data), dir(&pair.wal));
        entries.push(Entry {
            name: pair.name(),
            kind: pair.kind,
            id: pair.id.clone(),
            pg_major,
            bytes: data.iter().chain(wal.iter()).filter_map(|d| d.bytes).sum(),
            data,
            wal,
            in_use_by: in_use_by(&pair, pending),
        });
    }
    Ok(entries)
}

fn in_use_by(pair: &Pair, pending: &[Pending]) -> Option<String> {
    pending
        .iter()
        .find(|p| {
            pair.data
                .iter()
                .chain(pair.wal.iter())
                .any(|name| p.refers_to(name))
        })
        .map(Pending::describe)
}
