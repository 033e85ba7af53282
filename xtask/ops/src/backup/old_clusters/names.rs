//! The names of set-aside copies: `pgdata.pre-restore-<id>` / `pg_wal.pre-restore-<id>`
//! (a restore's) and `pgdata.pre-upgrade-<id>` / `pg_wal.pre-upgrade-<id>` (a major
//! upgrade's), `<id>` being a UTC stamp `YYYYMMDDTHHMMSSZ`. Parsing is exact, so a
//! name that parses can be joined to its volume's root without escaping it, and
//! grouping pairs a data directory with the WAL directory of the same kind and id.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The live directories, never set aside under these names.
pub const LIVE_DATA: &str = "pgdata";
pub const LIVE_WAL: &str = "pg_wal";

/// Which volume a directory lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    /// The data volume (`/var/lib/postgresql/data`).
    Data,
    /// The WAL volume (`/var/lib/postgresql/wal`).
    Wal,
}

impl Half {
    /// The live directory's name in this volume.
    pub fn live(self) -> &'static str {
        match self {
            Half::Data => LIVE_DATA,
            Half::Wal => LIVE_WAL,
        }
    }
}

/// What set the cluster aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Restore,
    Upgrade,
    /// `upgrade --rollback` set the new major's cluster aside.
    Rollback,
}

impl Kind {
    fn infix(self) -> &'static str {
        match self {
            Kind::Restore => "pre-restore",
            Kind::Upgrade => "pre-upgrade",
            Kind::Rollback => "pre-rollback",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Restore => "restore",
            Kind::Upgrade => "upgrade",
            Kind::Rollback => "upgrade rollback",
        })
    }
}

/// One set-aside directory's name, parsed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AsideName {
    pub kind: Kind,
    pub id: String,
    pub half: Half,
}

impl AsideName {
    /// The directory's name in its volume.
    pub fn dir_name(&self) -> String {
        format!("{}.{}-{}", self.half.live(), self.kind.infix(), self.id)
    }

    /// The other half of the same copy.
    pub fn partner(&self) -> AsideName {
        AsideName {
            half: match self.half {
                Half::Data => Half::Wal,
                Half::Wal => Half::Data,
            },
            ..self.clone()
        }
    }
}

/// Why a name is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// `pgdata` or `pg_wal`: the live cluster.
    Live(Half),
    /// Anything else that is not exactly a set-aside name.
    NotSetAside,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Live(Half::Data) => {
                f.write_str("`pgdata` is the live data directory; it is never removed")
            }
            NameError::Live(Half::Wal) => {
                f.write_str("`pg_wal` is the live WAL directory; it is never removed")
            }
            NameError::NotSetAside => f.write_str(
                "not a set-aside copy: names are exactly `pgdata.pre-restore-<id>`, \
                 `pg_wal.pre-restore-<id>`, `pgdata.pre-upgrade-<id>`, `pg_wal.pre-upgrade-<id>`, \
                 `pgdata.pre-rollback-<id>` or `pg_wal.pre-rollback-<id>` \
                 with `<id>` like `20261203T061500Z`; `cargo xtask old-clusters` lists them",
            ),
        }
    }
}

/// Parses a directory name exactly (no paths, no trailing slash, no other ids).
pub fn parse(name: &str) -> Result<AsideName, NameError> {
    for half in [Half::Data, Half::Wal] {
        if name == half.live() {
            return Err(NameError::Live(half));
        }
    }
    for half in [Half::Data, Half::Wal] {
        for kind in [Kind::Restore, Kind::Upgrade, Kind::Rollback] {
            let prefix = format!("{}.{}-", half.live(), kind.infix());
            if let Some(id) = name.strip_prefix(&prefix) {
                if is_id(id) {
                    return Ok(AsideName {
                        kind,
                        id: id.to_owned(),
                        half,
                    });
                }
            }
        }
    }
    Err(NameError::NotSetAside)
}

/// `YYYYMMDDTHHMMSSZ`, as `clock::utc_stamp` writes it.
fn is_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 16
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && bytes[15] == b'Z'
}

/// A data directory and WAL directory of the same kind and id (either may be missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub kind: Kind,
    pub id: String,
    pub data: Option<AsideName>,
    pub wal: Option<AsideName>,
}

impl Pair {
    /// The name the entry is listed under: its data directory's, else its WAL directory's.
    pub fn name(&self) -> String {
        self.data
            .as_ref()
            .or(self.wal.as_ref())
            .map(AsideName::dir_name)
            .unwrap_or_default()
    }
}

/// Groups parsed names into pairs, oldest id first (ids sort as times).
pub fn group(names: impl IntoIterator<Item = AsideName>) -> Vec<Pair> {
    let mut pairs: BTreeMap<(String, Kind), Pair> = BTreeMap::new();
    for name in names {
        let pair = pairs
            .entry((name.id.clone(), name.kind))
            .or_insert_with(|| Pair {
                kind: name.kind,
                id: name.id.clone(),
                data: None,
                wal: None,
            });
        match name.half {
            Half::Data => pair.data = Some(name),
            Half::Wal => pair.wal = Some(name),
        }
    }
    pairs.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "20261203T061500Z";

    fn aside(half: Half, kind: Kind, id: &str) -> AsideName {
        AsideName {
            kind,
            id: id.to_owned(),
            half,
        }
    }

    #[test]
    fn the_six_patterns_parse_and_print_back() {
        for (text, half, kind) in [
            ("pgdata.pre-restore-", Half::Data, Kind::Restore),
            ("pg_wal.pre-restore-", Half::Wal, Kind::Restore),
            ("pgdata.pre-upgrade-", Half::Data, Kind::Upgrade),
            ("pg_wal.pre-upgrade-", Half::Wal, Kind::Upgrade),
            ("pgdata.pre-rollback-", Half::Data, Kind::Rollback),
            ("pg_wal.pre-rollback-", Half::Wal, Kind::Rollback),
        ] {
            let name = format!("{text}{ID}");
            let parsed = parse(&name).unwrap();
            assert_eq!(parsed, aside(half, kind, ID));
            assert_eq!(parsed.dir_name(), name);
            assert_eq!(parsed.partner().partner(), parsed);
            assert_ne!(parsed.partner().half, parsed.half);
        }
    }

    #[test]
    fn the_live_directories_are_refused_by_name() {
        assert_eq!(parse("pgdata"), Err(NameError::Live(Half::Data)));
        assert_eq!(parse("pg_wal"), Err(NameError::Live(Half::Wal)));
    }

    #[test]
    fn anything_not_exactly_a_set_aside_name_is_refused() {
        for name in [
            "",
            "pgdata/",
            "pgdata.",
            "pgdata.restore-20261203T061500Z",
            "pg_wal.restore-20261203T061500Z",
            "pgdata.pre-restore-",
            "pgdata.pre-restore-20261203T061500",
            "pgdata.pre-restore-20261203T061500Z/",
            "pgdata.pre-restore-20261203T061500ZZ",
            "pgdata.pre-restore-20261203t061500z",
            "pgdata.pre-restore-2026120xT061500Z",
            "pgdata.pre-restore-../../etc",
            "pgdata.pre-restore-20261203T061500Z/../../pgdata",
            "/var/lib/postgresql/data/pgdata.pre-restore-20261203T061500Z",
            "./pgdata.pre-restore-20261203T061500Z",
            " pgdata.pre-restore-20261203T061500Z",
            "pgdata.pre-rollforward-20261203T061500Z",
            "pgwal.pre-restore-20261203T061500Z",
            "core_data.restore.json",
            "pgdata.pre-restore-२०२६१२०३T061500Z",
        ] {
            assert_eq!(parse(name), Err(NameError::NotSetAside), "{name:?}");
        }
    }

    #[test]
    fn halves_of_the_same_kind_and_id_pair_up() {
        let other = "20261204T000000Z";
        let pairs = group([
            aside(Half::Wal, Kind::Restore, ID),
            aside(Half::Data, Kind::Upgrade, other),
            aside(Half::Data, Kind::Restore, ID),
            aside(Half::Wal, Kind::Upgrade, ID),
        ]);
        assert_eq!(
            pairs,
            vec![
                Pair {
                    kind: Kind::Restore,
                    id: ID.to_owned(),
                    data: Some(aside(Half::Data, Kind::Restore, ID)),
                    wal: Some(aside(Half::Wal, Kind::Restore, ID)),
                },
                Pair {
                    kind: Kind::Upgrade,
                    id: ID.to_owned(),
                    data: None,
                    wal: Some(aside(Half::Wal, Kind::Upgrade, ID)),
                },
                Pair {
                    kind: Kind::Upgrade,
                    id: other.to_owned(),
                    data: Some(aside(Half::Data, Kind::Upgrade, other)),
                    wal: None,
                },
            ]
        );
        assert_eq!(pairs[0].name(), format!("pgdata.pre-restore-{ID}"));
        assert_eq!(pairs[1].name(), format!("pg_wal.pre-upgrade-{ID}"));
    }
}
