//! `cargo xtask`: parse flags, run one command, print any error once and exit
//! with the code it carries (0 ok, 1 failed, 2 usage, also from clap). A closed
//! stdout is not an error.

mod cmd;
mod error;
mod flags;
mod prompt;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    match cmd::run(flags) {
        Ok(code) => code,
        Err(err) => err.report(),
    }
}
