//! `completions SHELL`: the shell completion script for every command and flag
//! (from `flags`, by clap_complete), on stdout. It completes a command named
//! `xtask`: the binary, or an alias for `cargo xtask`.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::error::CmdResult;
use crate::flags::{Completions, Xtask};

/// The command name the scripts complete.
const BIN_NAME: &str = "xtask";

pub(crate) fn run(args: &Completions) -> CmdResult {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Xtask::command(), BIN_NAME, &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(ExitCode::SUCCESS)
}
