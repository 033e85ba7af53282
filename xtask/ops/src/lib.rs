//! core_data's library of primitives. The CLI (`xtask`), the Rhai runbook
//! engine (`core_data_runbook`) and the full-workflow tests all call these;
//! only this crate talks to Docker, compose or PostgreSQL.

pub mod addons;
pub mod audit;
pub mod backup;
pub mod bench;
pub mod clock;
pub mod compose;
pub mod config;
pub mod daily;
pub mod dashboard;
pub mod docker;
pub mod fault;
pub mod fsutil;
pub mod guard;
pub mod ha;
pub mod image;
pub mod lock;
pub mod maintenance;
pub mod paths;
pub mod pg;
pub mod process;
pub mod progress;
pub mod psql;
pub mod render;
pub mod report;
pub mod scratch;
pub mod secrets;
pub mod security;
pub mod server_log;
pub mod service_urls;
pub mod setup;
pub mod sql;
pub mod stack;
pub mod tls;
pub mod upgrade;
pub mod wait;
