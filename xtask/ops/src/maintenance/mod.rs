//! The operator's maintenance tools: the nightly pg_cron jobs of every
//! database, `compact`, partition management, the job queue and the test
//! dataset. Each runs as the superuser over the stack's TLS connection, binds
//! every value and quotes every name with `sql::quote_ident`.

pub mod queue;
