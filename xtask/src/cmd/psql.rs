//! `psql`: psql inside the postgres container (the leader's on the `ha`
//! topology) as the superuser (see
//! `core_data_ops::psql`); its exit code is ours.

use std::process::ExitCode;

use core_data_ops::config::Config;

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::Psql;
use crate::prompt;

pub(crate) fn run(ctx: &Ctx, args: &Psql) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let docker = core_data_ops::docker::Docker::connect()?;
    let container = core_data_ops::psql::container(&docker, &config)?;
    let code = core_data_ops::psql::interactive(
        &config,
        &container,
        args.database.as_deref(),
        &args.args,
        prompt::has_terminal(),
    )?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
