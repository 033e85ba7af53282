//! Backups: logical dumps (`logical` re-exports `dump`, `restore_dump` and
//! `sidecar`, the `logical_backup` service's status) and physical
//! backups with pgBackRest (`physical`: backup, info, check, expire; `verify`:
//! restore into a throw-away container and check; `restore`: replace the live
//! cluster; `qa`: clones for QA; `old_clusters`: the copies restores and
//! upgrades set aside). `oneshot` runs confined containers on the stack's volumes.

pub mod archiver;
pub mod counts;
pub mod db_props;
pub mod dump;
pub mod dump_file;
pub mod leftovers;
pub mod logical;
pub mod old_clusters;
pub mod oneshot;
pub mod physical;
pub mod qa;
pub mod restore;
pub mod restore_dump;
pub mod sidecar;
pub mod verify;
