//! `core-data-dashboard`: the dashboard service of the stack (`serve`, the
//! default) and its own health probe (`health`, the compose health check).
//! Settings come from one JSON file the CLI renders
//! (`core_data_ops::dashboard::Settings`).

mod app;
mod auth;
mod backups;
mod chart;
mod checks;
mod db;
mod error;
mod headers;
mod health;
mod history;
mod pages;
mod render;
mod server;
mod state;
mod statement;
mod suggest;
#[cfg(test)]
mod tests;
mod tls;

use std::process::ExitCode;

use anyhow::Context;
use camino::Utf8PathBuf;
use core_data_ops::dashboard::settings::{Settings, SETTINGS_PATH};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "serve".to_owned());
    let settings_path = match (args.next().as_deref(), args.next()) {
        (Some("--settings"), Some(path)) => Utf8PathBuf::from(path),
        (None, _) => Utf8PathBuf::from(SETTINGS_PATH),
        _ => return usage(),
    };
    let result = load(&settings_path).and_then(|settings| match command.as_str() {
        "serve" => server::serve(settings),
        "health" => health::probe(&settings),
        _ => Err(anyhow::anyhow!("unknown command `{command}`")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("core-data-dashboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: core-data-dashboard [serve|health] [--settings PATH]");
    ExitCode::from(2)
}

fn load(path: &Utf8PathBuf) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the settings file `{path}`"))?;
    serde_json::from_str(&text).with_context(|| format!("`{path}` is not valid settings"))
}
