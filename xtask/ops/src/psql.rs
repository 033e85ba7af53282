//! `psql` inside the postgres container (on the `ha` topology, the leader's)
//! over its Unix socket, as the superuser
//! by peer authentication (no password crosses argv, env or network), with the
//! terminal's stdio. One of the three places that run the `docker` CLI
//! (with `docker build` and compose): bollard's exec cannot hand over a terminal.

use anyhow::Context;

use crate::config::Config;

/// The container psql runs in: the server's, or on the `ha` topology the
/// leader's (the node that takes writes), which Patroni names.
pub fn container(docker: &crate::docker::Docker, config: &Config) -> anyhow::Result<String> {
    if !config.ha() {
        return Ok(config.container_name("postgres"));
    }
    crate::ha::status::leader_container(docker, config).with_context(|| {
        format!(
            "no node of the `ha` cluster of `{}` leads now, so there is no server to run psql \
             on; `cargo xtask ha status` shows the members",
            config.project()
        )
    })
}

/// Runs psql interactively in `container` (see [`container`]) on `database`
/// (default: the first application database) with `args` passed through; `tty`
/// asks for a terminal (stdin and stdout are terminals). Returns psql's exit code.
pub fn interactive(
    config: &Config,
    container: &str,
    database: Option<&str>,
    args: &[String],
    tty: bool,
) -> anyhow::Result<i32> {
    let database = database.map_or_else(|| config.primary_database(), str::to_owned);
    let mut argv: Vec<String> = vec!["exec".into(), "--interactive".into()];
    if tty {
        argv.push("--tty".into());
    }
    argv.extend([
        container.to_owned(),
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
