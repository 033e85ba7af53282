//! `poll_until`: every wait of the project (health, readiness, promotion, a
//! container's `pg_isready`) is this loop with its own check and limit.

use std::time::{Duration, Instant};

use anyhow::bail;

/// One look at what is awaited.
pub enum Poll<T> {
    /// It is there.
    Ready(T),
    /// Not yet, and why (shown when the limit is reached).
    Pending(String),
}

/// Calls `check` every `every` until it is `Ready`, it fails (an `Err` ends the
/// wait at once), or `limit` has passed; the error names `what` and the last reason.
pub fn poll_until<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> anyhow::Result<Poll<T>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    loop {
        let reason = match check()? {
            Poll::Ready(value) => return Ok(value),
            Poll::Pending(reason) => reason,
        };
        if started.elapsed() >= limit {
            bail!(
                "{what}: still not ready after {}s ({reason})",
                limit.as_secs()
            );
        }
        std::thread::sleep(every);
    }
}

/// `Ready(())` when `done`, else `Pending(reason)`.
pub fn ready_if(done: bool, reason: impl FnOnce() -> String) -> Poll<()> {
    if done {
        Poll::Ready(())
    } else {
        Poll::Pending(reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_ready_value() {
        let mut calls = 0;
        let value = poll_until(
            "three calls",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                calls += 1;
                Ok(if calls == 3 {
                    Poll::Ready(calls)
                } else {
                    Poll::Pending(format!("call {calls}"))
                })
            },
        )
        .unwrap();
        assert_eq!(value, 3);
    }

    #[test]
    fn an_error_ends_the_wait_and_the_limit_names_the_last_reason() {
        let err = poll_until::<()>("broken", Duration::from_secs(5), Duration::ZERO, || {
            bail!("no engine")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "no engine");
        let err = poll_until::<()>("the server", Duration::ZERO, Duration::ZERO, || {
            Ok(Poll::Pending("still in recovery".into()))
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server: still not ready after 0s (still in recovery)"
        );
    }
}
