//! PostgreSQL primitives: verified-TLS connections, the bootstrap of roles,
//! databases and the extension bundle, role/database administration, and
//! keeping service logins equal to their secret files.

pub mod admin;
pub mod bootstrap;
pub mod client;
pub mod passwords;

pub use client::{connect, server_message, Target};
