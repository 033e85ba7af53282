//! `cargo xtask`: parse flags, run one command, print any error once, exit
//! 0 (ok), 1 (failed) or 2 (usage, from clap). A closed stdout is not an error.

mod cmd;
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
        Err(err) => {
            let broken_pipe = err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
