//! Memcached (profile `memcached`): Debian's memcached on the compose network
//! only (no published port, UDP off), ASCII-protocol authentication against
//! an auth file `up` writes from the generated password, memory and
//! connection limits from `.env`. [`stats`] asks the server through the
//! client script in its image, which reads the mounted auth file itself.

use anyhow::Context;
use serde::Serialize;

use super::Addon;
use crate::config::Config;
use crate::paths::Paths;
use crate::secrets;
use crate::stack::Stack;

/// The only user: memcached's authentication has no per-user rights.
pub const APP_USER: &str = "app";
/// The secret holding [`APP_USER`]'s password.
pub const APP_PASSWORD: &str = "app_password";
/// The generated passwords (`secrets/memcached/`).
pub const PASSWORDS: &[&str] = &[APP_PASSWORD];
/// The auth file's name under `secrets/memcached/` (`user:password` lines, the
/// format of `memcached --auth-file`; memcached has no hashed form).
pub const AUTH_FILE: &str = "auth";
/// The port memcached listens on inside the compose network.
pub const PORT: u16 = 11211;
/// The client script in the image.
pub const CLIENT: &str = "/usr/local/bin/core-data-memcached";

/// Writes the auth file from the password when it no longer matches.
/// Returns whether it changed (the container must then be re-created).
pub fn prepare(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    let addon = Addon::Memcached;
    let password = secrets::read(&addon.secret_file(paths, APP_PASSWORD))?;
    let wanted = format!("{APP_USER}:{password}\n");
    let file = addon.secret_file(paths, AUTH_FILE);
    if std::fs::read_to_string(&file).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    secrets::write_new(&file, &wanted, true, config)?;
    Ok(true)
}

/// Whether the memcached profile is on.
pub fn enabled(config: &Config) -> bool {
    super::enabled(config).contains(&Addon::Memcached)
}

/// One `STAT name value` line of memcached's `stats`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub value: String,
}

/// The server's `stats`, authenticated, in the order it sends them.
pub fn stats(stack: &Stack) -> anyhow::Result<Vec<Stat>> {
    anyhow::ensure!(
        enabled(&stack.config),
        "the `memcached` profile is off; add it to COMPOSE_PROFILES in `.env` (or run \
         `cargo xtask up --profile memcached`)"
    );
    let container = stack.config.container_name(Addon::Memcached.name());
    let output = stack
        .docker
        .exec(&container, &[CLIENT, "stats"], None)
        .with_context(|| {
            format!("failed to ask `{container}` for its stats; is it up (`cargo xtask status`)?")
        })?;
    anyhow::ensure!(
        output.exit_code == 0,
        "`{CLIENT} stats` in `{container}` failed (exit {}): {}{}",
        output.exit_code,
        output.stdout,
        output.stderr
    );
    let stats = parse_stats(&output.stdout);
    anyhow::ensure!(
        !stats.is_empty(),
        "`{container}` answered `stats` with no counters: {}",
        output.stdout
    );
    Ok(stats)
}

fn parse_stats(text: &str) -> Vec<Stat> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim_end_matches('\r').splitn(3, ' ');
            (fields.next()? == "STAT").then_some(())?;
            Some(Stat {
                name: fields.next()?.to_owned(),
                value: fields.next().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// The value of the stat `name`.
pub fn stat<'a>(stats: &'a [Stat], name: &str) -> Option<&'a str> {
    stats
        .iter()
        .find(|stat| stat.name == name)
        .map(|stat| stat.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_parsed_and_the_rest_ignored() {
        let stats =
            parse_stats("STAT pid 1\r\nSTAT version 1.6.38\nSTAT libevent 2.1 stable\nEND\n");
        assert_eq!(stats.len(), 3);
        assert_eq!(stat(&stats, "version"), Some("1.6.38"));
        assert_eq!(stat(&stats, "libevent"), Some("2.1 stable"));
        assert_eq!(stat(&stats, "END"), None);
    }
}
