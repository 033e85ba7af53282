//! `dashboard add-user|remove-user|list-users|url` (see `core_data_ops::dashboard`).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use core_data_ops::config::Config;
use core_data_ops::dashboard::{self, users};

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::DashboardCommand;

pub(crate) fn run(ctx: &Ctx, command: &DashboardCommand) -> CmdResult {
    let config = Config::load(&ctx.paths)?;
    let file = dashboard::users_file(&ctx.paths);
    match command {
        DashboardCommand::AddUser(args) => {
            users::check_name(&args.name)?;
            let (password, written) = if args.password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("failed to read the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), None)
            } else {
                let path = file.with_file_name(format!("{}.password", args.name));
                (core_data_ops::secrets::generate_password(), Some(path))
            };
            users::check_password(&password)?;
            core_data_ops::fsutil::ensure_dir(file.parent().expect("in secrets/"), 0o700)?;
            // The password file first: a user whose password nobody has is never added.
            if let Some(path) = &written {
                core_data_ops::secrets::write_new(path, &password, true, &config)?;
            }
            let new = users::add(&file, &args.name, &password, args.replace, &config)?;
            let verb = if new {
                "added"
            } else {
                "set a new password for"
            };
            match written {
                Some(path) => println!(
                    "{verb} dashboard user `{}`; the password is in {path} (hand it over, then delete it)",
                    args.name
                ),
                None => println!("{verb} dashboard user `{}`", args.name),
            }
            if !dashboard::enabled(&config) {
                eprintln!("note: the `dashboard` profile is off in COMPOSE_PROFILES");
            }
        }
        DashboardCommand::RemoveUser(args) => {
            users::remove(&file, &args.name, &config)?;
            println!("removed dashboard user `{}`", args.name);
        }
        DashboardCommand::ListUsers => {
            for user in users::load(&file)? {
                println!("{}", user.name);
            }
        }
        DashboardCommand::Url => println!("{}", dashboard::url(&config)),
    }
    Ok(ExitCode::SUCCESS)
}
