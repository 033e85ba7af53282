//! UTC times through `jiff`: ISO 8601 strings for reports and compact stamps
//! for file names. Everything we write is UTC.

use std::time::SystemTime;

use jiff::Timestamp;

/// A time outside jiff's range (years -9999..=9999) is clamped to its ends.
fn clamp(time: Result<Timestamp, jiff::Error>, negative: bool) -> Timestamp {
    time.unwrap_or(if negative {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `2024-05-01T12:00:00.000Z` for milliseconds since the Unix epoch.
pub fn iso_millis(millis: i64) -> String {
    clamp(Timestamp::from_millisecond(millis), millis < 0)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `YYYYMMDDTHHMMSSZ`: a UTC stamp that sorts and is safe in file names.
pub fn utc_stamp(time: SystemTime) -> String {
    let time = Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH);
    let time = if time < Timestamp::UNIX_EPOCH {
        Timestamp::UNIX_EPOCH
    } else {
        time
    };
    time.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `2024-05-01T12:00:00Z`: ISO 8601 UTC to the second (expiry times, labels).
pub fn iso_seconds(time: SystemTime) -> String {
    Timestamp::try_from(time)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The current UTC year.
pub fn current_year() -> i64 {
    Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year()
        .into()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_millis(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(iso_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_714_564_800)),
            "20240501T120000Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3661)),
            "20000229T010101Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_599)),
            "20251231T235959Z"
        );
        assert_eq!(
            iso_seconds(UNIX_EPOCH + std::time::Duration::from_millis(1_714_564_800_999)),
            "2024-05-01T12:00:00Z"
        );
    }
}
