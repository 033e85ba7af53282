//! `psql`: psql inside the postgres container as the superuser (see
//! `core_data_ops::psql`); its exit code is ours.

use std::process::ExitCode;

use core_data_ops::config::Config;

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::Psql;
use crate::prompt;

pub(crate) fn run(ctx: &Ctx, args: &Psql) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let code = core_data_ops::psql::interactive(
        &config,
        args.database.as_deref(),
        &args.args,
        prompt::has_terminal(),
    )?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
