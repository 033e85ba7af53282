//! `create-db` and `drop-db`.

use std::process::ExitCode;

use core_data_ops::pg::admin;
use core_data_ops::stack::Stack;

use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::{CreateDb, DropDb};
use crate::prompt;

pub(crate) fn create(ctx: &Ctx, args: &CreateDb) -> CmdResult {
    admin::check_new_name("database", &args.name)?;
    let stack = Stack::load(ctx.paths.clone())?;
    let mut client = stack.connect("postgres")?;
    let (created, installed) =
        admin::create_db(&mut client, &stack.config, &args.name, &args.owner, &|db| {
            stack.connect(db)
        })?;
    let verb = if created {
        "created"
    } else {
        "database already existed:"
    };
    println!(
        "{verb} `{}` owned by `{}`; {} extension(s) installed",
        args.name,
        args.owner,
        installed.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn drop(ctx: &Ctx, args: &DropDb) -> CmdResult {
    if !args.yes && !prompt::confirm(&format!("drop database `{}` and all its data?", args.name))? {
        fail!(
            "dropping `{}` deletes its data; add `--yes` to confirm",
            args.name
        );
    }
    let stack = Stack::load(ctx.paths.clone())?;
    let mut client = stack.connect("postgres")?;
    if admin::drop_db(&mut client, &args.name)? {
        println!("dropped database `{}`", args.name);
    } else {
        println!("database `{}` does not exist; nothing to do", args.name);
    }
    Ok(ExitCode::SUCCESS)
}
