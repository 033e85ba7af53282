//! PostgreSQL primitives: verified-TLS connections, the bootstrap of roles,
//! databases and the extension bundle, and role/database administration.

pub mod admin;
pub mod bootstrap;
pub mod client;

pub use client::{connect, Target};
