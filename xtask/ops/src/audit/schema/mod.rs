//! `audit schema`: a JSON snapshot of every database's own objects (schemas,
//! tables with their columns, indexes, constraints, functions, views,
//! sequences, extensions), and the comparison of two snapshots as a
//! [`Report`](super::Report) whose findings are the changes.

pub mod compare;
pub mod snapshot;

pub use compare::compare;
pub use snapshot::{take, Snapshot, VERSION};
