//! The captured history in schema `core_data_dashboard` of database
//! `postgres` (owned by the dashboard's role): the tables (`schema`), the
//! capture loop that fills them every `capture_interval_seconds` and prunes
//! past `history_days` (`capture`), the delta rule across resets (`delta`),
//! and the pages' reads (`read`). pg_stat_statements is only ever read,
//! never reset.

pub(crate) mod capture;
pub(crate) mod containers;
pub(crate) mod delta;
pub(crate) mod read;
pub(crate) mod schema;
