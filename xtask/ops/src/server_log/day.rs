//! One day of the server's log: which files hold it (the day's name and the
//! next day's, since the collector switches files a moment after midnight),
//! and the lines whose timestamp falls on that day (in the server's time zone,
//! `log_timezone`, as the files write it). A file of the cycle that has come
//! round again holds another day and yields nothing.

use std::io::Write;

use jiff::civil::Date;

use super::LOG_DIR;
use crate::stack::Stack;

/// The file stem of `date` in a `week` (`postgresql-Wed`) or `month` (`postgresql-02`) cycle.
pub fn stem(cycle: &str, date: Date) -> String {
    if cycle == "month" {
        format!("postgresql-{:02}", date.day())
    } else {
        let day = match date.weekday() {
            jiff::civil::Weekday::Monday => "Mon",
            jiff::civil::Weekday::Tuesday => "Tue",
            jiff::civil::Weekday::Wednesday => "Wed",
            jiff::civil::Weekday::Thursday => "Thu",
            jiff::civil::Weekday::Friday => "Fri",
            jiff::civil::Weekday::Saturday => "Sat",
            jiff::civil::Weekday::Sunday => "Sun",
        };
        format!("postgresql-{day}")
    }
}

/// Which lines a [`DayFilter`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line, its `timestamp` first (`2026-12-02 21:10:00.123 UTC`).
    Json,
    /// The text log: a record starts with its timestamp (`log_line_prefix` `%m`);
    /// lines without one (DETAIL, a statement's further lines) belong to the record before.
    Text,
}

/// A writer that passes on only the lines of one day.
pub struct DayFilter<'a> {
    date: String,
    format: Format,
    out: &'a mut dyn Write,
    partial: Vec<u8>,
    keeping: bool,
    /// Lines passed on.
    pub kept: u64,
}

impl<'a> DayFilter<'a> {
    pub fn new(date: Date, format: Format, out: &'a mut dyn Write) -> DayFilter<'a> {
        DayFilter {
            date: date.to_string(),
            format,
            out,
            partial: Vec::new(),
            keeping: false,
            kept: 0,
        }
    }

    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let keep = match self.format {
            Format::Json => json_date(line).is_some_and(|date| date == self.date),
            Format::Text => {
                if let Some(date) = text_date(line) {
                    self.keeping = date == self.date;
                }
                self.keeping
            }
        };
        if keep {
            self.kept += 1;
            self.out.write_all(&redact_verifiers(line))?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Passes on a last line without a newline, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line)?;
        }
        // A file's records never continue into the next one.
        self.keeping = false;
        Ok(())
    }
}

impl Write for DayFilter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=at).take(at).collect();
            self.line(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

const VERIFIER: &[u8] = b"SCRAM-SHA-256$";

/// `line` with every SCRAM verifier replaced by `<redacted>`. pgaudit's `role`
/// class logs `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'` (how `up` sets the
/// service roles' passwords); a verifier is not the password, but it allows an
/// offline guess, so copies of the log leave it out.
pub fn redact_verifiers(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    // A password given in clear (`CREATE ROLE … PASSWORD 'x'`, logged by pgaudit) too.
    if line.windows(8).any(|w| w.eq_ignore_ascii_case(b"password")) {
        if let Ok(text) = std::str::from_utf8(line) {
            let redacted = crate::audit::pgstat::snapshot::redact_passwords(text);
            if redacted != text {
                return std::borrow::Cow::Owned(redact_verifiers(redacted.as_bytes()).into_owned());
            }
        }
    }
    if !line.windows(VERIFIER.len()).any(|w| w == VERIFIER) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(VERIFIER) {
            out.extend_from_slice(b"<redacted>");
            i += VERIFIER.len();
            while i < line.len() && (line[i].is_ascii_alphanumeric() || b"+/=$:".contains(&line[i]))
            {
                i += 1;
            }
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The date of a jsonlog line's `timestamp`.
pub fn json_date(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let stamp = value.get("timestamp")?.as_str()?;
    stamp.get(..10).map(str::to_owned)
}

/// The date a text log record starts with (`2026-12-02 21:10:00.123 UTC …`).
fn text_date(line: &[u8]) -> Option<&str> {
    let head = std::str::from_utf8(line.get(..11)?).ok()?;
    let shape = head.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == ' ',
        _ => c.is_ascii_digit(),
    });
    shape.then(|| &head[..10])
}

/// How many lines of the day each file kind gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    pub json_lines: u64,
    pub text_lines: u64,
}

/// Writes the day's jsonlog lines into `json` and its text log records into `text`.
pub fn collect(
    stack: &Stack,
    cycle: &str,
    date: Date,
    json: &mut dyn Write,
    text: &mut dyn Write,
) -> anyhow::Result<Collected> {
    let next = date.tomorrow()?;
    let read = |extension: &str, format: Format, out: &mut dyn Write| -> anyhow::Result<u64> {
        let mut filter = DayFilter::new(date, format, out);
        for day in [date, next] {
            let path = format!("{LOG_DIR}/{}.{extension}", stem(cycle, day));
            super::read_all(stack, &path, &mut filter)?;
            filter.finish()?;
        }
        Ok(filter.kept)
    };
    let collected = Collected {
        json_lines: read("json", Format::Json, json)?,
        text_lines: read("log", Format::Text, text)?,
    };
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn each_cycle_names_the_day() {
        assert_eq!(stem("week", date(2026, 12, 2)), "postgresql-Wed");
        assert_eq!(stem("week", date(2026, 12, 6)), "postgresql-Sun");
        assert_eq!(stem("month", date(2026, 12, 2)), "postgresql-02");
        assert_eq!(stem("month", date(2026, 12, 31)), "postgresql-31");
    }

    #[test]
    fn json_lines_of_other_days_are_left_out() {
        let mut out = Vec::new();
        let mut filter = DayFilter::new(date(2026, 12, 2), Format::Json, &mut out);
        let input = concat!(
            r#"{"timestamp":"2026-11-25 10:00:00.000 UTC","message":"last week"}"#,
            "\n",
            r#"{"timestamp":"2026-12-02 10:00:00.000 UTC","message":"today"}"#,
            "\nnot json\n",
            r#"{"timestamp":"2026-12-02 23:59:59.999 UTC","message":"late"}"#,
        );
        // In pieces, as an exec stream delivers it.
        for chunk in input.as_bytes().chunks(7) {
            filter.write_all(chunk).unwrap();
        }
        filter.finish().unwrap();
        assert_eq!(filter.kept, 2);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("today") && text.contains("late") && !text.contains("last week"));
    }

    #[test]
    fn verifiers_are_redacted() {
        let line = br#"AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,"ALTER ROLE x PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$c3Rv+cmVk/a2V5:c2VydmVy'",<none>"#;
        assert_eq!(
            String::from_utf8(redact_verifiers(line).into_owned()).unwrap(),
            r#"AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,"ALTER ROLE x PASSWORD '<redacted>'",<none>"#
        );
        assert!(matches!(
            redact_verifiers(b"plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn text_records_keep_their_continuation_lines() {
        let mut out = Vec::new();
        let mut filter = DayFilter::new(date(2026, 12, 2), Format::Text, &mut out);
        filter
            .write_all(
                b"2026-12-01 23:59:59.000 UTC [1] LOG:  before\nDETAIL:  of the day before\n\
                  2026-12-02 00:00:01.000 UTC [2] LOG:  statement: SELECT 1\n\
                  \tFROM t\n2026-12-03 00:00:00.000 UTC [3] LOG:  after\n",
            )
            .unwrap();
        filter.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-02 00:00:01.000 UTC [2] LOG:  statement: SELECT 1\n\tFROM t\n"
        );
    }
}
