//! The pgaudit summary: who changed what. pgaudit writes each audited
//! statement as a log message `AUDIT: <type>,<statement id>,<substatement id>,
//! <class>,<command>,<object type>,<object name>,<statement>,<parameter>` (CSV);
//! the jsonlog line around it says who (`user`), where (`dbname`) and when.

use serde::Serialize;

/// One audited statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub timestamp: String,
    pub user: String,
    pub database: String,
    /// `SESSION` or `OBJECT`.
    pub audit_type: String,
    /// pgaudit's class: `DDL`, `ROLE`, `WRITE`, `READ`, `FUNCTION`, `MISC`.
    pub class: String,
    /// `CREATE TABLE`, `ALTER ROLE`, …
    pub command: String,
    pub object_type: String,
    pub object_name: String,
    pub statement: String,
}

/// The audit event of a jsonlog line, if it is one.
pub fn parse_line(line: &[u8]) -> Option<Event> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let message = value.get("message")?.as_str()?;
    let fields = parse_message(message)?;
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
    Some(Event {
        timestamp: text("timestamp"),
        user: text("user"),
        database: text("dbname"),
        audit_type: field(0),
        class: field(3),
        command: field(4),
        object_type: field(5),
        object_name: field(6),
        statement: field(7),
    })
}

/// The CSV fields of an `AUDIT: …` message.
fn parse_message(message: &str) -> Option<Vec<String>> {
    let rest = message.strip_prefix("AUDIT: ")?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(rest.as_bytes());
    let record = reader.records().next()?.ok()?;
    (record.len() >= 8).then(|| record.iter().map(str::to_owned).collect())
}

/// Events grouped by who, where, what kind and which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryRow {
    pub user: String,
    pub database: String,
    pub class: String,
    pub command: String,
    pub object: String,
    pub count: u64,
    pub first: String,
    pub last: String,
}

/// The summary of `events`, most frequent first (then by user, command, object).
pub fn summarize(events: &[Event]) -> Vec<SummaryRow> {
    let mut rows: Vec<SummaryRow> = Vec::new();
    for event in events {
        let object = match (event.object_type.as_str(), event.object_name.as_str()) {
            ("", "") => String::new(),
            ("", name) => name.to_owned(),
            (kind, "") => kind.to_owned(),
            (kind, name) => format!("{kind} {name}"),
        };
        let found = rows.iter_mut().find(|row| {
            row.user == event.user
                && row.database == event.database
                && row.class == event.class
                && row.command == event.command
                && row.object == object
        });
        match found {
            Some(row) => {
                row.count += 1;
                row.last = event.timestamp.clone();
            }
            None => rows.push(SummaryRow {
                user: event.user.clone(),
                database: event.database.clone(),
                class: event.class.clone(),
                command: event.command.clone(),
                object,
                count: 1,
                first: event.timestamp.clone(),
                last: event.timestamp.clone(),
            }),
        }
    }
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.user.cmp(&b.user))
            .then_with(|| a.command.cmp(&b.command))
            .then_with(|| a.object.cmp(&b.object))
    });
    rows
}

/// Rows as CSV with a header (written even without rows).
pub fn csv<T: Serialize>(rows: &[T], header: &[&str]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.serialize(row)?;
    }
    Ok(writer.into_inner()?)
}

/// The CSV header of [`Event`].
pub const EVENT_HEADER: &[&str] = &[
    "timestamp",
    "user",
    "database",
    "audit_type",
    "class",
    "command",
    "object_type",
    "object_name",
    "statement",
];
/// The CSV header of [`SummaryRow`].
pub const SUMMARY_HEADER: &[&str] = &[
    "user", "database", "class", "command", "object", "count", "first", "last",
];

#[cfg(test)]
mod tests {
    use super::*;

    const DDL: &str = r#"{"timestamp":"2026-12-02 21:10:00.123 UTC","user":"app","dbname":"app","error_severity":"LOG","message":"AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.orders,\"CREATE TABLE orders (id int, note text DEFAULT 'a,b')\",<not logged>"}"#;

    #[test]
    fn an_audit_line_names_who_changed_what() {
        let event = parse_line(DDL.as_bytes()).unwrap();
        assert_eq!(event.user, "app");
        assert_eq!(event.database, "app");
        assert_eq!(event.class, "DDL");
        assert_eq!(event.command, "CREATE TABLE");
        assert_eq!(event.object_name, "public.orders");
        assert_eq!(
            event.statement,
            "CREATE TABLE orders (id int, note text DEFAULT 'a,b')"
        );
        let plain = r#"{"timestamp":"2026-12-02 21:10:00.123 UTC","message":"connection authorized: user=app"}"#;
        assert_eq!(parse_line(plain.as_bytes()), None);
        assert_eq!(parse_line(b"not json"), None);
    }

    #[test]
    fn the_summary_groups_and_counts() {
        let first = parse_line(DDL.as_bytes()).unwrap();
        let mut second = first.clone();
        second.timestamp = "2026-12-02 22:00:00.000 UTC".to_owned();
        let mut other = first.clone();
        other.user = "ops".to_owned();
        let rows = summarize(&[first, other, second]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user, "app");
        assert_eq!(rows[0].count, 2);
        assert_eq!(rows[0].object, "TABLE public.orders");
        assert_eq!(rows[0].last, "2026-12-02 22:00:00.000 UTC");
        let text = String::from_utf8(csv(&rows, SUMMARY_HEADER).unwrap()).unwrap();
        assert!(text.starts_with("user,database,class,command,object,count,first,last\n"));
    }
}
