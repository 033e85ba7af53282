//! The day's activity by hour, counted from the jsonlog: connections
//! (`log_connections` writes `connection authorized: …` for each), errors
//! (`ERROR`, `FATAL`, `PANIC`) and slow statements (`duration: …`, past
//! `log_min_duration_statement`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Hourly {
    pub connections: [u64; 24],
    pub errors: [u64; 24],
    pub slow_statements: [u64; 24],
}

impl Hourly {
    /// Counts one jsonlog line.
    pub fn count(&mut self, line: &[u8]) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
            return;
        };
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
        let Some(hour) = text("timestamp")
            .get(11..13)
            .and_then(|h| h.parse::<usize>().ok())
            .filter(|h| *h < 24)
        else {
            return;
        };
        let message = text("message");
        if message.starts_with("connection authorized") {
            self.connections[hour] += 1;
        }
        if message.starts_with("duration: ") {
            self.slow_statements[hour] += 1;
        }
        if matches!(text("error_severity"), "ERROR" | "FATAL" | "PANIC") {
            self.errors[hour] += 1;
        }
    }

    pub fn total_connections(&self) -> u64 {
        self.connections.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_in_their_hour() {
        let mut hourly = Hourly::default();
        for line in [
            r#"{"timestamp":"2026-12-02 09:10:00.000 UTC","error_severity":"LOG","message":"connection authorized: user=app database=app"}"#,
            r#"{"timestamp":"2026-12-02 09:59:59.000 UTC","error_severity":"LOG","message":"connection authorized: user=app"}"#,
            r#"{"timestamp":"2026-12-02 23:00:00.000 UTC","error_severity":"ERROR","message":"relation \"x\" does not exist"}"#,
            r#"{"timestamp":"2026-12-02 23:00:01.000 UTC","error_severity":"LOG","message":"duration: 700.1 ms  statement: SELECT pg_sleep(0.7)"}"#,
            "garbage",
        ] {
            hourly.count(line.as_bytes());
        }
        assert_eq!(hourly.connections[9], 2);
        assert_eq!(hourly.total_connections(), 2);
        assert_eq!(hourly.errors[23], 1);
        assert_eq!(hourly.slow_statements[23], 1);
    }
}
