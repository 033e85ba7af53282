//! Reading and writing `.env`: `KEY=VALUE` lines, `#` comments. The same file
//! is compose's `--env-file`, so it stays within what compose also parses.

use std::collections::BTreeMap;

use super::keys::{self, KEYS};

/// One problem in `.env`, pointing at its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct EnvError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A parsed line: where it was, the key, and the raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// Splits `text` into entries. Rejects lines that are not `KEY=VALUE`,
/// keys not in the key table (with a suggestion) and keys given twice.
pub fn parse(file: &str, text: &str) -> Result<Vec<Entry>, EnvError> {
    let mut entries: Vec<Entry> = Vec::new();
    for (idx, raw_line) in text.lines().enumerate() {
        let line = idx + 1;
        let err = |message: String| EnvError {
            file: file.to_owned(),
            line,
            message,
        };
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = trimmed
            .split_once('=')
            .ok_or_else(|| err(format!("`{trimmed}` is not KEY=VALUE")))?;
        let key = key.trim();
        let value = unquote(value.trim());
        if keys::find(key).is_none() {
            let hint = suggest(key)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(err(format!("unknown key `{key}`{hint}")));
        }
        if let Some(first) = entries.iter().find(|entry| entry.key == key) {
            return Err(err(format!(
                "`{key}` is already set on line {}",
                first.line
            )));
        }
        entries.push(Entry {
            line,
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(entries)
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// The known key closest to `unknown`, if it is close enough to be a typo.
fn suggest(unknown: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (edit_distance(unknown, key.name), key.name))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `.env` text with `changes` made in place: a key's first line is rewritten,
/// a key that is not there is appended; every other line (comments included)
/// is kept as it was.
pub fn set_keys(text: &str, changes: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut done = vec![false; changes.len()];
    for line in text.lines() {
        let key = line.split_once('=').map(|(key, _)| key.trim());
        match changes
            .iter()
            .position(|(name, _)| Some(*name) == key && !line.trim_start().starts_with('#'))
        {
            Some(index) if !done[index] => {
                done[index] = true;
                out.push_str(&format!("{}={}\n", changes[index].0, changes[index].1));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (index, (name, value)) in changes.iter().enumerate() {
        if !done[index] {
            out.push_str(&format!("{name}={value}\n"));
        }
    }
    out
}

/// Writes a complete `.env`: every key, grouped by section, each with its doc.
/// Keys in `derived` are written as `auto` (re-derived on every load).
pub fn render(
    values: &BTreeMap<&'static str, String>,
    derived: &std::collections::BTreeSet<&'static str>,
) -> String {
    let mut out = String::from(
        "# core_data configuration, written by `cargo xtask init`.\n\
         # Edit values and run `cargo xtask up` (or `cargo xtask config apply`) to apply them.\n\
         # Secrets are never here: they are files under secrets/.\n",
    );
    let mut section = "";
    for key in KEYS {
        if key.section != section {
            section = key.section;
            out.push_str(&format!("\n# --- {section} ---\n"));
        }
        out.push_str(&format!(
            "# {}\n{}={}\n",
            key.doc,
            key.name,
            if derived.contains(key.name) {
                "auto"
            } else {
                values[key.name].as_str()
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keys_rewrites_in_place_and_appends() {
        let text = "# doc\nPG_MAJOR=15\n# POSTGRES_IMAGE=x\nTZ=UTC\n";
        assert_eq!(
            set_keys(text, &[("PG_MAJOR", "17"), ("POSTGRES_IMAGE", "core-data/postgres:17")]),
            "# doc\nPG_MAJOR=17\n# POSTGRES_IMAGE=x\nTZ=UTC\nPOSTGRES_IMAGE=core-data/postgres:17\n"
        );
    }

    #[test]
    fn unknown_keys_name_the_line_and_suggest() {
        let err = parse(".env", "# c\nPG_WORK_MEM=4MB\nPG_WROK_MEM=8MB\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.message,
            "unknown key `PG_WROK_MEM`; did you mean `PG_WORK_MEM`?"
        );
        assert_eq!(
            err.to_string(),
            ".env line 3: unknown key `PG_WROK_MEM`; did you mean `PG_WORK_MEM`?"
        );
    }

    #[test]
    fn duplicates_and_malformed_lines_are_errors() {
        let err = parse(".env", "TZ=UTC\nTZ=CET\n").unwrap_err();
        assert_eq!(err.message, "`TZ` is already set on line 1");
        let err = parse(".env", "\n\njust words\n").unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (3, "`just words` is not KEY=VALUE")
        );
    }

    #[test]
    fn quotes_are_stripped() {
        let entries = parse(".env", "TZ=\"UTC\"\nLOG_MAX_SIZE='5m'\n").unwrap();
        assert_eq!(entries[0].value, "UTC");
        assert_eq!(entries[1].value, "5m");
    }
}
