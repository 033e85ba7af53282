//! Fault injection for the fault-injection tests: named points on the data
//! path (restore, restore-dump) where a test makes the operation fail or kills
//! the process with SIGKILL. Compiled in only with the `fault-injection`
//! feature (the test crate enables it); otherwise every point is a no-op.
//!
//! `CORE_DATA_FAULT=<point>` fails at that point with an error;
//! `CORE_DATA_FAULT=<point>:kill` sends SIGKILL to the process there.

/// Fails (or dies) here when the test asked for it.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) -> anyhow::Result<()> {
    let Ok(wanted) = std::env::var("CORE_DATA_FAULT") else {
        return Ok(());
    };
    for spec in wanted.split(',') {
        // Point names contain `:` themselves (`restore-dump:loaded`): only a final `:kill` is the action.
        let (point, kill) = match spec.strip_suffix(":kill") {
            Some(point) => (point, true),
            None => (spec, false),
        };
        if point != name {
            continue;
        }
        if kill {
            eprintln!("fault injection: SIGKILL at `{name}`");
            // SAFETY: kill(2) on our own pid; nothing after it runs.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        anyhow::bail!("injected fault at `{name}`");
    }
    Ok(())
}

/// Fails (or dies) here when the test asked for it: a no-op in this build.
#[cfg(not(feature = "fault-injection"))]
#[inline]
pub fn point(_name: &str) -> anyhow::Result<()> {
    Ok(())
}

/// True when this build honours `CORE_DATA_FAULT`.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

#[cfg(all(test, feature = "fault-injection"))]
mod tests {
    #[test]
    fn a_named_point_fails_and_others_pass() {
        // One test owns the variable in this process.
        std::env::set_var(
            "CORE_DATA_FAULT",
            "restore:after-stop,restore-dump:after-load",
        );
        assert!(super::point("restore:after-swap").is_ok());
        let err = super::point("restore:after-stop").unwrap_err().to_string();
        assert_eq!(err, "injected fault at `restore:after-stop`");
        assert!(super::point("restore-dump:after-load").is_err());
        std::env::remove_var("CORE_DATA_FAULT");
        assert!(super::point("restore:after-stop").is_ok());
    }
}
