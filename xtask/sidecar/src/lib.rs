//! The rules of the `logical_backup` sidecar, in one place: how a database
//! name becomes a file name, which databases are restores in progress, the
//! layout of `status.json` and when the sidecar is unhealthy. The binary in the
//! image (`main.rs`) and the CLI (`core_data_ops`, through `backup::logical`)
//! both use them, so the two can never disagree.

pub mod names;
pub mod status;

pub use names::{conninfo_dbname, file_stem, sha256_hex, TEMP_PREFIX};
pub use status::{FileEntry, Run, Status};
