//! Comparing a value written in postgresql.conf with what `pg_settings`
//! reports for it: `'256MB'` against `32768` in units of `8kB`, `'10min'`
//! against `600000` `ms`, `0700` against `448`, `on` against `true`.

/// One `pg_settings` row, as far as a comparison needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub setting: String,
    pub unit: Option<String>,
    pub vartype: String,
}

/// A memory size in bytes or a duration in microseconds, from a number and
/// a PostgreSQL unit; `None` for an unknown unit.
fn scale(unit: &str) -> Option<(char, f64)> {
    let (count, unit) = match unit.find(|c: char| !c.is_ascii_digit()) {
        Some(0) | None => (1.0, unit),
        Some(at) => (unit[..at].parse::<f64>().ok()?, &unit[at..]),
    };
    let (kind, factor) = match unit {
        "B" => ('m', 1.0),
        "kB" => ('m', 1024.0),
        "MB" => ('m', 1024.0 * 1024.0),
        "GB" => ('m', 1024.0 * 1024.0 * 1024.0),
        "TB" => ('m', 1024.0 * 1024.0 * 1024.0 * 1024.0),
        "us" => ('t', 1.0),
        "ms" => ('t', 1_000.0),
        "s" => ('t', 1_000_000.0),
        "min" => ('t', 60_000_000.0),
        "h" => ('t', 3_600_000_000.0),
        "d" => ('t', 86_400_000_000.0),
        _ => return None,
    };
    Some((kind, count * factor))
}

/// A number as PostgreSQL reads an integer setting (`0x1F`, `0700` octal, or decimal).
fn integer(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    if text.len() > 1 && text.starts_with('0') && text.chars().all(|c| c.is_ascii_digit()) {
        return i64::from_str_radix(&text[1..], 8).ok().map(|n| n as f64);
    }
    text.parse::<f64>().ok()
}

fn boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// `value` in the base unit of `unit` (bytes or microseconds). A bare number
/// is in `unit` itself.
fn quantity(value: &str, unit: &str) -> Option<f64> {
    let (kind, base) = scale(unit)?;
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(value.len());
    let number = value[..split].trim().parse::<f64>().ok()?;
    let suffix = value[split..].trim();
    if suffix.is_empty() {
        return Some(number * base);
    }
    let (suffix_kind, factor) = scale(suffix)?;
    (suffix_kind == kind).then_some(number * factor)
}

fn normalized_text(text: &str) -> String {
    text.split(',')
        .map(|part| part.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the configured text `wanted` means the value `live` reports.
pub fn same(wanted: &str, live: &Live) -> bool {
    match live.vartype.as_str() {
        "bool" => boolean(wanted).is_some() && boolean(wanted) == boolean(&live.setting),
        "integer" | "real" => match live.unit.as_deref().filter(|u| !u.is_empty()) {
            Some(unit) => match (quantity(wanted, unit), quantity(&live.setting, unit)) {
                (Some(a), Some(b)) => {
                    // PostgreSQL rounds to its unit: allow one unit of difference.
                    let one = scale(unit).map_or(1.0, |(_, base)| base);
                    (a - b).abs() < one
                }
                _ => false,
            },
            None => match (integer(wanted), integer(&live.setting)) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                _ => false,
            },
        },
        // enum and string: PostgreSQL canonicalises case and spacing of some
        // (DateStyle `iso, mdy` reads back `ISO, MDY`).
        _ => normalized_text(wanted) == normalized_text(&live.setting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(setting: &str, unit: Option<&str>, vartype: &str) -> Live {
        Live {
            setting: setting.to_owned(),
            unit: unit.map(str::to_owned),
            vartype: vartype.to_owned(),
        }
    }

    #[test]
    fn sizes_and_durations_compare_in_the_servers_units() {
        assert!(same("256MB", &live("32768", Some("8kB"), "integer")));
        assert!(!same("256MB", &live("16384", Some("8kB"), "integer")));
        assert!(same("64MB", &live("65536", Some("kB"), "integer")));
        assert!(same("2GB", &live("2048", Some("MB"), "integer")));
        assert!(same("10min", &live("600000", Some("ms"), "integer")));
        assert!(same("500ms", &live("500", Some("ms"), "integer")));
        assert!(same("0", &live("0", Some("ms"), "integer")));
        assert!(same("60", &live("60", Some("s"), "integer")));
        assert!(same("10s", &live("10000", Some("ms"), "integer")));
        assert!(!same("7MB", &live("4096", Some("kB"), "integer")));
    }

    #[test]
    fn numbers_booleans_and_text() {
        assert!(same("0700", &live("448", None, "integer")));
        assert!(same("100", &live("100", None, "integer")));
        assert!(same("1.1", &live("1.1", None, "real")));
        assert!(same("0.9", &live("0.9", None, "real")));
        assert!(!same("4", &live("1.1", None, "real")));
        assert!(same("on", &live("on", None, "bool")));
        assert!(!same("off", &live("on", None, "bool")));
        assert!(same("iso, mdy", &live("ISO, MDY", None, "string")));
        assert!(same("zstd", &live("zstd", None, "enum")));
        assert!(!same("lz4", &live("zstd", None, "enum")));
        assert!(same(
            "pg_stat_statements,pgaudit",
            &live("pg_stat_statements,pgaudit", None, "string")
        ));
    }
}
