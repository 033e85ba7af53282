//! `valkey-cli` inside the valkey container (`core-data-valkey-cli`, TLS to
//! the server with the stack's CA), through the one exec path: the password
//! is the first line of the command's stdin (`--askpass`), read from
//! `secrets/valkey/` on the host, so it is never on argv, in the environment
//! or in `docker inspect`. The port stays unpublished.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::{Addon, ADMIN_PASSWORD, ADMIN_USER, APP_PASSWORD, APP_USER};
use crate::docker::{ExecIo, Feed};
use crate::stack::Stack;
use crate::wait::{poll_until, Poll};

/// The script in the image that runs valkey-cli against the local server.
const CLI: &str = "/usr/local/bin/core-data-valkey-cli";

/// Which ACL user a command runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Admin,
    App,
}

impl User {
    pub fn name(self) -> &'static str {
        match self {
            User::Admin => ADMIN_USER,
            User::App => APP_USER,
        }
    }

    fn secret(self) -> &'static str {
        match self {
            User::Admin => ADMIN_PASSWORD,
            User::App => APP_PASSWORD,
        }
    }
}

fn password(stack: &Stack, user: User) -> anyhow::Result<String> {
    anyhow::ensure!(
        super::enabled(&stack.config),
        "the `valkey` profile is off; add it to COMPOSE_PROFILES in `.env` (or run \
         `cargo xtask up --profile valkey`)"
    );
    crate::secrets::read(&Addon::Valkey.secret_file(&stack.paths, user.secret()))
}

/// Runs valkey-cli as `user` with `args` (valkey-cli's options and a command,
/// or nothing for its line-by-line mode); `input` follows the password on its
/// stdin. Output streams to `stdout`/`stderr`; returns valkey-cli's exit code
/// (pass `-e` in `args` for a non-zero code when the server answers an error).
pub fn run(
    stack: &Stack,
    user: User,
    args: &[String],
    input: Option<Box<dyn Read + Send>>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<i64> {
    let password = password(stack, user)?;
    let container = stack.config.container_name(Addon::Valkey.name());
    let mut argv = vec![CLI, user.name()];
    argv.extend(args.iter().map(String::as_str));
    let feed: Feed = Box::new(move |stdin| {
        stdin.write_all(password.as_bytes())?;
        stdin.write_all(b"\n")?;
        if let Some(mut input) = input {
            std::io::copy(&mut input, stdin)?;
        }
        Ok(())
    });
    let status = stack
        .docker
        .exec_io(
            &container,
            &argv,
            ExecIo {
                user: None,
                stdin: Some(feed),
                stdout,
                stderr: Some(stderr),
                tick: None,
            },
        )
        .with_context(|| {
            format!("failed to run valkey-cli in `{container}`; is it up (`cargo xtask status`)?")
        })?;
    Ok(status.exit_code)
}

/// One command as `user`; its reply (valkey-cli's raw output). A server error
/// or a refused login is an error naming the command.
pub fn command(stack: &Stack, user: User, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["-e".to_owned()];
    argv.extend(args.iter().map(|arg| (*arg).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(stack, user, &argv, None, &mut out, &mut err)?;
    let out = String::from_utf8_lossy(&out).trim_end().to_owned();
    let err = String::from_utf8_lossy(&err).trim_end().to_owned();
    anyhow::ensure!(
        code == 0 && !err.contains("AUTH failed"),
        "valkey `{}` as `{}` failed (exit {code}): {out} {err}",
        args.join(" "),
        user.name()
    );
    Ok(out)
}

/// `INFO <section>` as (field, value) pairs.
pub fn info(stack: &Stack, section: &str) -> anyhow::Result<Vec<(String, String)>> {
    let text = command(stack, User::Admin, &["INFO", section])?;
    Ok(parse_info(&text))
}

fn parse_info(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.trim_end_matches('\r').split_once(':')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

fn field<'a>(info: &'a [(String, String)], name: &str) -> anyhow::Result<&'a str> {
    info.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .with_context(|| format!("`INFO persistence` has no `{name}`"))
}

fn number(info: &[(String, String)], name: &str) -> anyhow::Result<i64> {
    let value = field(info, name)?;
    value
        .parse()
        .with_context(|| format!("`INFO persistence` `{name}` is `{value}`, not a number"))
}

/// What `valkey bgsave` made.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When the snapshot finished, RFC 3339 UTC (the server's `rdb_last_save_time`).
    pub saved_at: String,
    /// How long the background save took, in seconds (`rdb_last_bgsave_time_sec`).
    pub seconds: i64,
    /// RDB snapshots since the server started, this one included (`rdb_saves`).
    pub saves_since_start: i64,
    /// The snapshot file in the `valkey` volume.
    pub file: String,
}

/// Starts a background RDB snapshot (`BGSAVE SCHEDULE`: after an AOF rewrite
/// in progress, if there is one) and waits until the server reports it done
/// and successful.
pub fn bgsave(stack: &Stack, timeout: Duration) -> anyhow::Result<Snapshot> {
    let mut before = number(&info(stack, "persistence")?, "rdb_saves")?;
    let reply = match command(stack, User::Admin, &["BGSAVE", "SCHEDULE"]) {
        // An automatic snapshot (a `save` rule) is being written: it holds the data as
        // of its start, not of this call, so wait for it and take ours after it.
        Err(err) if format!("{err:#}").contains("already in progress") => {
            poll_until(
                "the snapshot valkey was already writing",
                timeout,
                Duration::from_millis(250),
                || {
                    let running = number(&info(stack, "persistence")?, "rdb_bgsave_in_progress")?;
                    Ok(crate::wait::ready_if(running == 0, || {
                        "a snapshot is in progress".to_owned()
                    }))
                },
            )?;
            before = number(&info(stack, "persistence")?, "rdb_saves")?;
            command(stack, User::Admin, &["BGSAVE", "SCHEDULE"])?
        }
        other => other?,
    };
    anyhow::ensure!(
        reply.contains("Background saving"),
        "valkey answered `BGSAVE SCHEDULE` with `{reply}`"
    );
    let info = poll_until(
        "the valkey snapshot",
        timeout,
        Duration::from_millis(250),
        || {
            let info = info(stack, "persistence")?;
            let saves = number(&info, "rdb_saves")?;
            let running = number(&info, "rdb_bgsave_in_progress")?;
            if saves > before && running == 0 {
                Ok(Poll::Ready(info))
            } else {
                Ok(Poll::Pending(format!(
                    "{saves} saves, in progress: {running}"
                )))
            }
        },
    )?;
    let status = field(&info, "rdb_last_bgsave_status")?;
    anyhow::ensure!(
        status == "ok",
        "the valkey snapshot failed (`rdb_last_bgsave_status:{status}`); see `cargo xtask logs valkey`"
    );
    let saved_at = jiff::Timestamp::from_second(number(&info, "rdb_last_save_time")?)
        .context("`rdb_last_save_time` is out of range")?
        .to_string();
    Ok(Snapshot {
        saved_at,
        seconds: number(&info, "rdb_last_bgsave_time_sec")?,
        saves_since_start: number(&info, "rdb_saves")?,
        file: "/var/lib/valkey/dump.rdb".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_become_pairs() {
        let info = parse_info(
            "# Persistence\r\nloading:0\r\nrdb_saves:3\r\n\r\nrdb_last_bgsave_status:ok\r\n",
        );
        assert_eq!(field(&info, "rdb_last_bgsave_status").unwrap(), "ok");
        assert_eq!(number(&info, "rdb_saves").unwrap(), 3);
        assert!(field(&info, "missing").is_err());
    }
}
