//! `create-user` and `drop-user`.

use std::process::ExitCode;

use core_data_ops::pg::admin;
use core_data_ops::secrets;
use core_data_ops::stack::Stack;

use super::Ctx;
use crate::error::{fail, CmdResult};
use crate::flags::{CreateUser, DropUser};
use crate::prompt;

pub(crate) fn create(ctx: &Ctx, args: &CreateUser) -> CmdResult {
    admin::check_new_name("role", &args.name)?;
    let stack = Stack::load(ctx.paths.clone())?;
    let mut client = stack.connect("postgres")?;
    let (password, stored) = match &args.password_file {
        Some(file) => (secrets::read(file)?, None),
        None => {
            let file = secrets::role_password_file(&ctx.paths, &args.name);
            if file.exists() {
                (secrets::read(&file)?, Some(file))
            } else {
                (secrets::generate_password(), Some(file))
            }
        }
    };
    if !admin::create_user(&mut client, &args.name, &password)? {
        println!(
            "role `{}` already exists; its password was not changed",
            args.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = stored {
        secrets::write_new(&file, &password, false, &stack.config)?;
        println!("created role `{}`; its password is in {file}", args.name);
    } else {
        println!("created role `{}`", args.name);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn drop(ctx: &Ctx, args: &DropUser) -> CmdResult {
    let stack = Stack::load(ctx.paths.clone())?;
    let services = admin::ServiceRoles::from_config(&stack.config);
    admin::check_drop_user(&services, &args.name, args.force)?;
    if !args.yes && !prompt::confirm(&format!("drop role `{}`?", args.name))? {
        fail!(
            "dropping role `{}` cannot be undone; add `--yes` to confirm",
            args.name
        );
    }
    let mut client = stack.connect("postgres")?;
    if admin::drop_user(&mut client, &services, &args.name, args.force)? {
        println!("dropped role `{}`", args.name);
    } else {
        println!("role `{}` does not exist; nothing to do", args.name);
    }
    Ok(ExitCode::SUCCESS)
}
