//! `psql` inside the postgres container over its Unix socket, as the superuser
//! by peer authentication (no password crosses argv, env or network), with the
//! terminal's stdio. One of the three places that run the `docker` CLI
//! (with `docker build` and compose): bollard's exec cannot hand over a terminal.

use anyhow::Context;

use crate::config::Config;

/// Runs psql interactively in the postgres container on `database` (default:
/// the first application database) with `args` passed through; `tty` asks for a
/// terminal (stdin and stdout are terminals). Returns psql's exit code.
pub fn interactive(
    config: &Config,
    database: Option<&str>,
    args: &[String],
    tty: bool,
) -> anyhow::Result<i32> {
    let container = config.container_name("postgres");
    let database = database.map_or_else(|| config.primary_database(), str::to_owned);
    let mut argv: Vec<String> = vec!["exec".into(), "--interactive".into()];
    if tty {
        argv.push("--tty".into());
    }
    argv.extend([
        container.clone(),
        "psql".into(),
        "--username".into(),
        config.superuser().to_owned(),
        "--dbname".into(),
        database,
    ]);
    argv.extend(args.iter().cloned());
    let output = duct::cmd("docker", &argv)
        .unchecked()
        .run()
        .with_context(|| {
            format!("failed to run psql in `{container}`; is the stack up (`cargo xtask status`)?")
        })?;
    Ok(output.status.code().unwrap_or(1))
}
