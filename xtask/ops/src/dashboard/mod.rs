//! The `dashboard` service's contract with the CLI: the settings file the CLI
//! renders for it (`settings`) and the users file `dashboard add-user` writes
//! and the service reads (`users`). The service itself is the
//! `core_data_dashboard` crate.

pub mod settings;
pub mod users;

pub use settings::Settings;
