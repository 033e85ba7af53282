//! `time::` — wall-clock time as INT milliseconds since the Unix epoch, ISO
//! 8601 formatting (UTC) and elapsed seconds. No time zones: reports are UTC.

use std::sync::Arc;
use std::time::SystemTime;

use rhai::{Module, FLOAT, INT};

use super::{function, primitive, Env};

fn now_millis() -> INT {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    INT::try_from(since.as_millis()).unwrap_or(INT::MAX)
}

pub use core_data_ops::clock::iso_millis;

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    function("now", &["INT"], "Milliseconds since the Unix epoch.")
        .set_into_module(module, now_millis);
    function(
        "now_iso",
        &["String"],
        "The current time in ISO 8601 UTC, e.g. `2024-05-01T12:00:00.000Z`.",
    )
    .set_into_module(module, || iso_millis(now_millis()));
    primitive!(
        module,
        env,
        "time::iso",
        &["millis: INT", "String"],
        "Formats milliseconds since the Unix epoch as ISO 8601 UTC.",
        |call, millis: INT| -> String {
            // Years 0..=9999 keep the format fixed-width.
            if !(-62_167_219_200_000..=253_402_300_799_999).contains(&millis) {
                return Err(call.misuse(format!("{millis} ms is outside the years 0 to 9999")));
            }
            Ok(iso_millis(millis))
        }
    );
    function(
        "stamp",
        &["String"],
        "The current time as a file-name-safe stamp, e.g. `20240501T120000Z`.",
    )
    .set_into_module(
        module,
        || core_data_ops::clock::utc_stamp(SystemTime::now()),
    );
    function(
        "elapsed",
        &["since_millis: INT", "FLOAT"],
        "Seconds elapsed since `since_millis` (from `time::now()`).",
    )
    .set_into_module(module, |since: INT| -> FLOAT {
        (now_millis() - since) as FLOAT / 1000.0
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_formatting_matches_known_dates() {
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_millis(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(iso_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
