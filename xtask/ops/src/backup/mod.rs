//! Backups: logical dumps (`logical`, plus the sidecar's status) and physical
//! backups with pgBackRest (`physical`: backup, info, check, expire, verify,
//! restore, QA clones).

pub mod logical;
pub mod physical;
