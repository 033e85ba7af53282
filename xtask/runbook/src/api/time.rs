//! `time::` — wall-clock time as INT milliseconds since the Unix epoch, ISO
//! 8601 formatting (UTC) and elapsed seconds. No time zones: reports are UTC.

use std::sync::Arc;
use std::time::SystemTime;

use rhai::{NativeCallContext, Module, FLOAT, INT};

use super::{located, function, misuse, Env, Res};

fn now_millis() -> INT {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    INT::try_from(since.as_millis()).unwrap_or(INT::MAX)
}

/// `2024-05-01T12:00:00.000Z` for milliseconds since the Unix epoch.
pub fn iso_millis(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub(crate) fn register(module: &mut Module, _env: &Arc<Env>) {
    function("now", &["INT"], "Milliseconds since the Unix epoch.").set_into_module(module, now_millis);
    function("now_iso", &["String"], "The current time in ISO 8601 UTC, e.g. `2024-05-01T12:00:00.000Z`.")
        .set_into_module(module, || iso_millis(now_millis()));
    function("iso", &["millis: INT", "String"], "Formats milliseconds since the Unix epoch as ISO 8601 UTC.")
        .set_into_module(module, move |ctx: NativeCallContext<'_>, millis: INT| -> Res<String> {
        located(&ctx, (|| -> Res<String> {
            // Years 0..=9999 keep the format fixed-width.
            if !(-62_167_219_200_000..=253_402_300_799_999).contains(&millis) {
                return Err(misuse("time::iso", format!("{millis} ms is outside the years 0 to 9999")));
            }
            Ok(iso_millis(millis))
        })())
    });
    function(
        "stamp",
        &["String"],
        "The current time as a file-name-safe stamp, e.g. `20240501T120000Z`.",
    )
    .set_into_module(module, || {
        let iso = iso_millis(now_millis());
        format!("{}{}{}T{}{}{}Z", &iso[0..4], &iso[5..7], &iso[8..10], &iso[11..13], &iso[14..16], &iso[17..19])
    });
    function("elapsed", &["since_millis: INT", "FLOAT"], "Seconds elapsed since `since_millis` (from `time::now()`).")
        .set_into_module(module, |since: INT| -> FLOAT { (now_millis() - since) as FLOAT / 1000.0 });
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
