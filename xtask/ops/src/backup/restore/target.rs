//! The `--target-time` of a point-in-time restore: parsed strictly (a full
//! date and time with a time zone; `yesterday`, `now` and zone-less times are
//! refused) and checked against the recoverable window before anything changes.

use anyhow::bail;
use jiff::Timestamp;

use crate::backup::physical::BackupSet;

/// A validated recovery target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTime {
    pub at: Timestamp,
}

impl TargetTime {
    /// The form handed to pgBackRest and PostgreSQL (`recovery_target_time`): UTC, explicit offset.
    pub fn for_postgres(&self) -> String {
        self.at.strftime("%Y-%m-%d %H:%M:%S%.f+00").to_string()
    }
}

impl std::fmt::Display for TargetTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.at.strftime("%Y-%m-%d %H:%M:%S%.f UTC"))
    }
}

const EXPECTED: &str = "expected a date, a time and a time zone, such as \
    `2026-11-24 07:00:00+00`, `2026-11-24T07:00:00Z` or `2026-11-24 08:00:00+01:00`";

/// Parses a target time. Only absolute times with an explicit offset are accepted:
/// a time without a zone would silently mean the server's zone.
pub fn parse(text: &str) -> anyhow::Result<TargetTime> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("the target time is empty; {EXPECTED}");
    }
    // RFC 3339 with a space instead of `T` is what PostgreSQL prints; both are accepted.
    // jiff also accepts a bracketed IANA zone after an offset; a lone `+HH` offset is kept.
    match trimmed.parse::<Timestamp>() {
        Ok(at) => Ok(TargetTime { at }),
        Err(err) => {
            let looks_zoneless = trimmed.parse::<jiff::civil::DateTime>().is_ok();
            if looks_zoneless {
                bail!("the target time `{trimmed}` has no time zone; {EXPECTED}")
            }
            bail!("the target time `{trimmed}` is not a valid time ({err}); {EXPECTED}")
        }
    }
}

/// Where a target time may fall: after the end of the backup it would start
/// from, and no later than the newest WAL that will be available.
#[derive(Debug, Clone)]
pub struct Window {
    /// End of the earliest usable backup (unix seconds).
    pub earliest: i64,
    /// The newest moment WAL exists for (unix seconds): now when the server runs
    /// (the restore archives up to its stop), else the newest archived or local WAL.
    pub latest: i64,
}

/// Checks `target` against the sets and the WAL window and returns the set
/// pgBackRest will start from: the newest whose backup ended before the target
/// (or the pinned `set`, which must end before it).
pub fn choose_set<'a>(
    target: &TargetTime,
    sets: &'a [BackupSet],
    pinned: Option<&'a BackupSet>,
    window: &Window,
) -> anyhow::Result<&'a BackupSet> {
    let at = target.at.as_second();
    let earliest = seconds(window.earliest);
    let latest = seconds(window.latest);
    if at > window.latest {
        bail!(
            "the target time {target} is after the newest WAL available ({latest}); \
             nothing can be recovered past that point (a time in the future is refused too)"
        );
    }
    if let Some(set) = pinned {
        if set.stopped >= at {
            bail!(
                "the target time {target} is before backup set `{}` ended ({}); \
                 choose a later time or an older set (`cargo xtask backup info`)",
                set.label,
                seconds(set.stopped)
            );
        }
        return Ok(set);
    }
    sets.iter()
        .filter(|set| set.stopped < at)
        .max_by_key(|set| set.stopped)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the target time {target} is before the earliest usable backup ended ({earliest}); \
                 the recoverable window is {earliest} to {latest}"
            )
        })
}

/// Unix seconds in the same form as `TargetTime`'s display.
fn seconds(at: i64) -> String {
    Timestamp::from_second(at).map_or_else(|_| at.to_string(), |t| TargetTime { at: t }.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(label: &str, stopped: i64) -> BackupSet {
        BackupSet {
            label: label.to_owned(),
            stopped,
            ..BackupSet::default()
        }
    }

    #[test]
    fn absolute_times_with_a_zone_parse() {
        for (text, expected) in [
            ("2026-11-24 07:00:00+00", "2026-11-24 07:00:00+00"),
            ("2026-11-24T07:00:00Z", "2026-11-24 07:00:00+00"),
            ("2026-11-24 08:00:00+01:00", "2026-11-24 07:00:00+00"),
            ("2026-11-24 07:00:00.25+00", "2026-11-24 07:00:00.25+00"),
        ] {
            assert_eq!(parse(text).unwrap().for_postgres(), expected, "{text}");
        }
    }

    #[test]
    fn relative_zoneless_and_malformed_times_are_refused() {
        for (text, says) in [
            ("yesterday", "not a valid time"),
            ("now", "not a valid time"),
            ("", "empty"),
            ("2026-11-24 07:00:00", "no time zone"),
            ("2026-13-45 07:00:00+00", "not a valid time"),
            ("2026-11-24", "no time zone"),
            ("1700000000", "not a valid time"),
            ("2026-11-24 07:00:00 Mars/Olympus", "not a valid time"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "`{text}`: {err}");
            assert!(err.contains("target time"), "`{text}`: {err}");
        }
    }

    #[test]
    fn the_newest_set_ending_before_the_target_is_chosen() {
        let sets = [set("a", 100), set("b", 200), set("c", 300)];
        let window = Window {
            earliest: 100,
            latest: 1000,
        };
        let at = |s: i64| TargetTime {
            at: Timestamp::from_second(s).unwrap(),
        };
        assert_eq!(
            choose_set(&at(250), &sets, None, &window).unwrap().label,
            "b"
        );
        assert_eq!(
            choose_set(&at(999), &sets, None, &window).unwrap().label,
            "c"
        );
        let early = choose_set(&at(50), &sets, None, &window)
            .unwrap_err()
            .to_string();
        assert!(
            early.contains("before the earliest usable backup"),
            "{early}"
        );
        let late = choose_set(&at(1001), &sets, None, &window)
            .unwrap_err()
            .to_string();
        assert!(late.contains("after the newest WAL"), "{late}");
        let pinned = choose_set(&at(150), &sets, Some(&sets[1]), &window)
            .unwrap_err()
            .to_string();
        assert!(pinned.contains("before backup set `b` ended"), "{pinned}");
        assert_eq!(
            choose_set(&at(250), &sets, Some(&sets[0]), &window)
                .unwrap()
                .label,
            "a"
        );
    }
}
