//! The session maintenance statements run in: the superuser over the stack's
//! TLS connection, with `statement_timeout = 0` (a `VACUUM FULL` or a squeeze
//! must not be cancelled by the server-wide limit, nor by one set on the role
//! or database) and a `lock_timeout` (so it never queues forever behind other
//! sessions' locks, holding up everything queued behind it in turn).

use std::time::Duration;

use anyhow::{bail, Context};

use crate::pg::bootstrap;
use crate::stack::Stack;

/// The `lock_timeout` of maintenance sessions unless the operator names one.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses a lock timeout as PostgreSQL writes durations: `500ms`, `5s`,
/// `2min`, or a bare number of milliseconds. Zero (wait forever) is refused.
pub fn parse_timeout(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().with_context(|| {
        format!("`{text}` is not a duration; write it like `500ms`, `5s` or `2min`")
    })?;
    let duration = match unit.trim() {
        "" | "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "min" => Duration::from_secs(number * 60),
        other => bail!("unknown unit `{other}` in `{text}`; use ms, s or min"),
    };
    if duration.is_zero() {
        bail!("a lock timeout of 0 would wait forever; give a positive duration such as `5s`");
    }
    Ok(duration)
}

/// A superuser connection to `database` with `statement_timeout = 0` and
/// `lock_timeout` set for the session (both before anything else runs).
pub fn open(
    stack: &Stack,
    database: &str,
    lock_timeout: Duration,
) -> anyhow::Result<postgres::Client> {
    let mut client = stack.connect(database).with_context(|| {
        format!("failed to connect to `{database}`; is the stack up (`cargo xtask status`)?")
    })?;
    client
        .batch_execute("SET statement_timeout = 0")
        .context("failed to clear statement_timeout for the maintenance session")?;
    let millis = format!("{}ms", lock_timeout.as_millis());
    client
        .query_one(
            "SELECT set_config('lock_timeout', $1, false), \
             set_config('application_name', 'core_data maintenance', false)",
            &[&millis],
        )
        .context("failed to set lock_timeout for the maintenance session")?;
    Ok(client)
}

/// The databases a maintenance command covers: `only` (each checked to
/// exist; sorted, without repeats) or, when empty, every database that
/// accepts connections.
pub fn databases(stack: &Stack, only: &[String]) -> anyhow::Result<Vec<String>> {
    let mut admin = open(stack, "postgres", DEFAULT_LOCK_TIMEOUT)?;
    let all = bootstrap::databases(&mut admin)?;
    if only.is_empty() {
        return Ok(all);
    }
    for name in only {
        if !all.contains(name) {
            bail!(
                "database `{name}` does not exist or does not accept connections; the databases are: {}",
                all.join(", ")
            );
        }
    }
    let mut chosen = only.to_vec();
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_like_postgresql_durations() {
        assert_eq!(parse_timeout("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_timeout("1500").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_timeout("2min").unwrap(), Duration::from_secs(120));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("5 hours").is_err());
        assert!(parse_timeout("s").is_err());
    }
}
