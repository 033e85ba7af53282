//! The operator's maintenance tools: the nightly pg_cron jobs of every
//! database, `compact`, partition management, the job queue and the test
//! dataset. Each runs as the superuser over the stack's TLS connection, binds
//! every value and quotes every name with `sql::quote_ident`.

pub mod compact;
pub mod cron_list;
pub mod dataset;
pub mod jobs;
pub mod log;
pub mod partman;
pub mod queue;
pub mod session;
pub mod tables;
