//! `init`: write `.env` (prompting on a terminal) and generate missing secrets.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use core_data_ops::config::{self, sizing::Resources, Config};
use core_data_ops::pg::passwords;
use core_data_ops::secrets;

use super::Ctx;
use crate::flags::Init;
use crate::prompt;

/// Keys worth asking about; everything else keeps its default and is editable in `.env`.
const ASKED: &[&str] = &[
    "POSTGRES_SUPERUSER",
    "APP_DATABASES",
    "POSTGRES_HOST_PORT",
    "POSTGRES_BIND_ADDRESS",
];

pub(crate) fn run(ctx: &Ctx, args: &Init) -> anyhow::Result<()> {
    let env_file = ctx.paths.env_file();
    let config = if env_file.exists() && !args.force {
        eprintln!(
            "{:>12} {env_file} exists; keeping it (use --force to rewrite)",
            "Keeping"
        );
        Config::load(&ctx.paths)?
    } else {
        let config = build(args)?;
        config.write(&env_file)?;
        eprintln!("{:>12} {env_file}", "Wrote");
        config
    };
    if args.force {
        if let Some(volume) = passwords::existing_data_volume(&config) {
            let roles: Vec<String> = passwords::service_logins(&ctx.paths, &config)
                .into_iter()
                .map(|login| login.role)
                .collect();
            eprintln!(
                "{:>12} the passwords of `{}`: the stack's data (volume `{volume}`) still has \
                 the old ones until `cargo xtask up` sets them; give applications the new \
                 passwords of their owners (`cargo xtask service-urls`)",
                "Rotating",
                roles.join("`, `")
            );
        }
    }
    for file in secrets::ensure(&ctx.paths, &config, args.force)? {
        eprintln!("{:>12} {file}", "Generated");
    }
    Ok(())
}

fn build(args: &Init) -> anyhow::Result<Config> {
    let mut resources = Resources::from_host();
    if let Some(memory) = &args.memory {
        resources.memory_mb = config::value::parse_size_mb(memory)
            .with_context(|| format!("--memory `{memory}`: expected a size such as 4GB"))?;
    }
    if let Some(cpus) = args.cpus {
        if cpus == 0 {
            bail!("--cpus must be at least 1");
        }
        resources.cpus = cpus;
    }
    let mut overrides = BTreeMap::new();
    if let Some(workload) = &args.workload {
        overrides.insert("PG_WORKLOAD".to_owned(), workload.clone());
    }
    for pair in &args.set {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--set `{pair}`: expected KEY=VALUE"))?;
        overrides.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    if !args.non_interactive && prompt::is_interactive() {
        for key in ASKED {
            if overrides.contains_key(*key) {
                continue;
            }
            let spec = config::keys::find(key).expect("asked keys are in the table");
            let default = Config::from_overrides(&overrides, resources)?
                .get(key)
                .to_owned();
            loop {
                let answer = prompt::ask(&format!("{key}: {}", spec.doc), &default)?;
                match config::value::check(spec.kind, &answer) {
                    Ok(value) => {
                        overrides.insert((*key).to_owned(), value);
                        break;
                    }
                    Err(message) => eprintln!("  {message}"),
                }
            }
        }
    }
    Ok(Config::from_overrides(&overrides, resources)?)
}
