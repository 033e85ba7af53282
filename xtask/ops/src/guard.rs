//! Configuration changes that never take a healthy server down. A rendered set
//! is staged in a private directory and parsed by the image's own `postgres`
//! (`-C` with the staged `--config_file`, in a confined one-shot container with
//! the new `TZ`, so time zones are checked against the image's zoneinfo) before
//! anything is put in place; a value the server refuses is an error naming the
//! `.env` key and line. `Stack::up` and `Stack::apply` use it, and put the
//! previous set back when a restart with a checked set still fails.

use std::time::Instant;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};

use crate::backup::oneshot::{self, Mount};
use crate::config::envfile;
use crate::paths::Paths;
use crate::progress::Progress;
use crate::render::{self, Plan};
use crate::stack::Stack;

/// Where the set is mounted in the one-shot: the same path as in the service,
/// so `hba_file` and `ident_file` in the staged postgresql.conf point into it.
const CONF_DIR: &str = "/etc/core_data/conf";

/// The image's `PGDATA`.
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";

/// Checks `plan`'s files with the image's server binary; changes nothing.
pub fn check(stack: &Stack, plan: &Plan, progress: &dyn Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    let rendered = stack.paths.rendered_dir();
    crate::fsutil::ensure_dir(&rendered, 0o755)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&rendered)
        .with_context(|| format!("failed to create a staging directory in `{rendered}`"))?;
    let dir = Utf8Path::from_path(staging.path())
        .context("the staging directory is not UTF-8")?
        .to_owned();
    // Readable by the server's UID in the one-shot; nobody can write it but us.
    crate::fsutil::ensure_dir(&dir, 0o755)?;
    plan.stage(&dir)?;

    let config_file = format!("--config_file={CONF_DIR}/postgresql.conf");
    // The server wants an existing data directory it owns, even for `-C`: an empty tmpfs.
    let pgdata = format!(
        "uid={},gid={},mode=0700,size=1m",
        stack.config.uid(),
        stack.config.gid()
    );
    let output = oneshot::confined(stack)?
        .env("TZ", stack.config.get("TZ"))
        .mount(Mount::bind(dir.as_str(), CONF_DIR))
        .tmpfs(PGDATA, &pgdata)
        .entrypoint(&["postgres"])
        .cmd(&["-C", "timezone", &config_file])
        .run(&stack.docker)?;
    progress.detail(&format!(
        "checked the rendered configuration with the image's `postgres` in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    if output.exit_code == 0 {
        return Ok(());
    }
    let text = format!("{}\n{}", output.stdout, output.stderr);
    bail!("{}", refusal(&stack.paths, &text)?)
}

/// The error for a set the server refused: each `.env` key behind a refused
/// setting with its line, then the server's own words.
fn refusal(paths: &Paths, server_output: &str) -> anyhow::Result<String> {
    let lines: Vec<&str> = server_output
        .lines()
        .map(str::trim)
        // The empty data directory has no postgresql.auto.conf: not news.
        .filter(|line| !line.is_empty() && !line.contains("skipping missing configuration file"))
        .collect();
    let setting_keys = render::setting_keys(paths)?;
    let env_text = std::fs::read_to_string(paths.env_file()).unwrap_or_default();
    let entries = envfile::parse(".env", &env_text).unwrap_or_default();
    let mut keys: Vec<&'static str> = Vec::new();
    for line in &lines {
        for name in quoted_parameters(line) {
            for (setting, key) in &setting_keys {
                if setting.eq_ignore_ascii_case(&name) && !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
    }
    let named: Vec<String> = keys
        .iter()
        .map(|key| match entries.iter().find(|entry| entry.key == *key) {
            Some(entry) => format!("`.env` line {}: `{key}={}`", entry.line, entry.value),
            None => format!("`{key}` (its default value)"),
        })
        .collect();
    let what = if named.is_empty() {
        "the server refuses the rendered configuration".to_owned()
    } else {
        format!("{}: the server refuses this value", named.join(", "))
    };
    Ok(format!(
        "{what}; nothing was changed (the rendered files and the running server are as they were).\n\
         the image's `postgres` said:\n  {}\n\
         fix the value in `.env` and run the command again",
        lines.join("\n  ")
    ))
}

/// The names in `parameter "NAME"` of one server message.
fn quoted_parameters(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("parameter \"") {
        rest = &rest[at + "parameter \"".len()..];
        if let Some(end) = rest.find('"') {
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// Where the `.env` the running server was last brought up with is kept, for
/// re-creating its container as it was when a new one does not start.
pub fn applied_env(paths: &Paths) -> Utf8PathBuf {
    paths.rendered_dir().join("applied.env")
}

/// Records `.env` as the one the running server was brought up with (it holds
/// no passwords: those are files under `secrets/`).
pub fn record_applied(paths: &Paths) -> anyhow::Result<()> {
    let text = std::fs::read(paths.env_file())
        .with_context(|| format!("failed to read `{}`", paths.env_file()))?;
    crate::fsutil::write_atomic(&applied_env(paths), &text, 0o644)
}

/// After `failure` to start on `plan`'s files: puts the previous set back,
/// starts the server as it was (re-created from the recorded `.env` when
/// `recreate`) and waits for health. Returns the error to report.
pub fn roll_back(
    stack: &Stack,
    plan: &Plan,
    recreate: bool,
    failure: anyhow::Error,
    progress: &dyn Progress,
) -> anyhow::Error {
    progress.status(
        "Rolling back",
        "the server did not start on the new configuration; putting the previous one back",
    );
    let result = (|| {
        plan.restore(&stack.paths)?;
        if recreate {
            let applied = applied_env(&stack.paths);
            let compose = if applied.exists() {
                stack.compose().with_env_file(applied)
            } else {
                stack.compose()
            };
            compose.stream(
                &["up", "--detach", "--force-recreate", "postgres"],
                |line| progress.detail(line),
            )?;
        } else {
            stack.compose().run(&["restart", "postgres"])?;
        }
        stack.wait_healthy(std::time::Duration::from_secs(300), progress)
    })();
    match result {
        Ok(()) => failure.context(
            "the new configuration did not start, so it was rolled back: the server runs on the \
             previous configuration (rendered files put back); fix `.env` and run the command again",
        ),
        Err(rollback) => failure.context(format!(
            "the new configuration did not start, and putting the previous one back failed too: \
             {rollback:#}\nsee `cargo xtask status` and `cargo xtask logs`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_are_read_from_server_messages() {
        assert_eq!(
            quoted_parameters(r#"LOG:  invalid value for parameter "TimeZone": "Mars/Olympus""#),
            vec!["TimeZone".to_owned()]
        );
        assert!(quoted_parameters("FATAL:  configuration file contains errors").is_empty());
    }

    #[test]
    fn a_refused_time_zone_names_tz_and_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let state = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(state.join(".env"), "# zone\nTZ=Mars/Olympus\n").unwrap();
        let paths = Paths::from_repo(Some(state.to_owned()));
        let message = refusal(
            &paths,
            "LOG:  invalid value for parameter \"TimeZone\": \"Mars/Olympus\"\n\
             FATAL:  configuration file \"/etc/core_data/conf/postgresql.conf\" contains errors\n",
        )
        .unwrap();
        assert!(
            message.starts_with("`.env` line 2: `TZ=Mars/Olympus`: the server refuses"),
            "{message}"
        );
        assert!(message.contains("nothing was changed"), "{message}");
        assert!(message.contains("invalid value for parameter"), "{message}");
    }
}
