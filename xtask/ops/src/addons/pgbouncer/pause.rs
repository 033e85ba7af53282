//! `PAUSE` and `RESUME` on PgBouncer's admin console, as [`ADMIN_USER`], around
//! a major upgrade's downtime: clients stay connected to PgBouncer and their
//! queries wait instead of failing while the server is away. `PAUSE` returns
//! once every server connection is released (transactions finish first), so
//! it is bounded: past the limit PgBouncer is resumed and the caller stops
//! before it changes anything.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::bail;

use super::admin::console_as;
use super::{ADMIN_PASSWORD, ADMIN_USER};
use crate::stack::Stack;

/// Pauses PgBouncer's clients; `Ok(false)` when the profile is off (nothing to pause).
pub fn pause(stack: &Stack, limit: Duration) -> anyhow::Result<bool> {
    if !super::enabled(&stack.config) {
        return Ok(false);
    }
    let mut client = console_as(stack, ADMIN_USER, ADMIN_PASSWORD)?;
    let (done, waited) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = client.simple_query("PAUSE").map(drop);
        let _ = done.send(outcome);
    });
    match waited.recv_timeout(limit) {
        Ok(Ok(())) => Ok(true),
        Ok(Err(err)) if err.to_string().contains("already") => Ok(true),
        Ok(Err(err)) => Err(anyhow::Error::new(err).context("PgBouncer refused `PAUSE`")),
        Err(_) => {
            let resumed = match resume(stack) {
                Ok(()) => "PgBouncer was resumed".to_owned(),
                Err(err) => format!(
                    "resuming PgBouncer failed too ({err:#}): restart it (`cargo xtask up`) if clients stay waiting"
                ),
            };
            bail!(
                "PgBouncer's clients did not finish their transactions within {}s, so they could not be \
                 paused; {resumed}. Find the long transactions (`cargo xtask pgbouncer clients`, \
                 `pg_stat_activity`) and try again",
                limit.as_secs()
            )
        }
    }
}

/// Resumes PgBouncer's clients; nothing when the profile is off or it was not paused.
pub fn resume(stack: &Stack) -> anyhow::Result<()> {
    if !super::enabled(&stack.config) {
        return Ok(());
    }
    let mut client = console_as(stack, ADMIN_USER, ADMIN_PASSWORD)?;
    match client.simple_query("RESUME") {
        Ok(_) => Ok(()),
        Err(err) if err.to_string().contains("not paused") => Ok(()),
        Err(err) => Err(anyhow::Error::new(err).context("PgBouncer refused `RESUME`")),
    }
}
