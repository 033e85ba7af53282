//! `psql`: psql inside the postgres container, over its Unix socket, as the
//! superuser by peer authentication: no password crosses argv, env or network.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use core_data_ops::config::Config;

use super::Ctx;
use crate::flags::Psql;

pub(crate) fn run(ctx: &Ctx, args: &Psql) -> anyhow::Result<ExitCode> {
    let config = Config::load(&ctx.paths)?;
    let container = format!("{}-postgres", config.project());
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| config.primary_database());
    let mut docker_args: Vec<String> = vec!["exec".into(), "--interactive".into()];
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        docker_args.push("--tty".into());
    }
    docker_args.extend([
        container.clone(),
        "psql".into(),
        "--username".into(),
        config.superuser().to_owned(),
    ]);
    docker_args.extend(["--dbname".into(), database]);
    docker_args.extend(args.args.iter().cloned());
    let status = std::process::Command::new("docker")
        .args(&docker_args)
        .status()
        .with_context(|| {
            format!("failed to run psql in `{container}`; is the stack up (`cargo xtask status`)?")
        })?;
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1)).unwrap_or(1),
    ))
}
