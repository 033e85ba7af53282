//! Physical backups with pgBackRest: backup, info, check, expire, verify by restore, restore, QA clones.
