//! `valkey cli` and `valkey bgsave` (see `core_data_ops::addons::valkey::client`).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use core_data_ops::addons::valkey::client::{self, User};
use core_data_ops::progress::Progress;
use core_data_ops::stack::Stack;

use super::{output, Ctx};
use crate::error::CmdResult;
use crate::flags::{ValkeyCommand, ValkeyUser};

pub(crate) fn run(ctx: &Ctx, command: &ValkeyCommand) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    match command {
        ValkeyCommand::Cli(args) => {
            let user = match args.user {
                ValkeyUser::Admin => User::Admin,
                ValkeyUser::App => User::App,
            };
            // Without a command valkey-cli reads them from stdin; with one, stdin is not
            // read (a terminal left open would hold the session).
            let input: Option<Box<dyn std::io::Read + Send>> = if args.args.is_empty() {
                if std::io::stdin().is_terminal() {
                    ctx.progress().status(
                        "Reading",
                        "valkey commands from stdin, one a line (replies without prompts; Ctrl-D ends)",
                    );
                }
                Some(Box::new(std::io::stdin()))
            } else {
                None
            };
            let code = client::run(
                &stack,
                user,
                &args.args,
                input,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        ValkeyCommand::Bgsave(args) => {
            ctx.progress()
                .status("Snapshotting", "valkey (BGSAVE), waiting for it to finish");
            let snapshot = client::bgsave(&stack, Duration::from_secs(args.timeout_seconds))?;
            if args.format.json() {
                output::print_json(&snapshot)?;
            } else {
                println!(
                    "snapshot written at {} in {}s ({}; {} since the server started)",
                    snapshot.saved_at, snapshot.seconds, snapshot.file, snapshot.saves_since_start
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
