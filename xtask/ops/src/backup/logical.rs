//! Logical backups, as callers see them: on-demand dumps (`dump`), restoring
//! one (`restore_dump`, with `db_props`, `dump_file` and `leftovers` behind
//! it) and the `logical_backup` sidecar (`sidecar`). Only re-exports live here.

pub use super::dump::{conninfo_dbname, dump, dump_all, dump_sql, human_bytes, Dumped, DumpedAll};
pub use super::dump_file::{check_plain_complete, detect_format, file_stem, DumpFormat};
pub use super::leftovers::TEMP_PREFIX;
pub use super::restore_dump::{restore_dump, RestoreOptions, Restored};
pub use super::sidecar::{
    sidecar_container, sidecar_dir, sidecar_status, FileEntry, Run, Status, SIDECAR_SERVICE,
};
pub use crate::clock::utc_stamp;
