//! Which statements the dashboard will EXPLAIN: exactly one `SELECT` (or a
//! `WITH … SELECT`), nothing that writes or locks. The words are read outside
//! comments, string literals, quoted identifiers and dollar quotes. This is
//! the first of three fences: the statement then runs in a `READ ONLY`
//! transaction with a statement timeout, as the dashboard's role: explain's
//! through the extended protocol (which refuses a second statement) on a
//! connection of its own; the suggestions' generic plans over the simple
//! protocol (the extended one wants values for `$n`), where a second
//! statement would still be read-only.

/// Words that make a statement more than a read.
const REFUSED: &[&str] = &[
    "insert", "update", "delete", "merge", "into", "copy", "call", "truncate", "grant", "revoke",
    "lock", "create", "alter", "drop",
];

/// The statement (trailing `;` removed) when it is a single read-only
/// SELECT, or the sentence saying why not.
pub(crate) fn check_select(sql: &str) -> Result<String, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut end = chars.len();
    let mut after_semicolon = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            if depth != 0 {
                return Err("the statement has an unterminated comment".to_owned());
            }
            continue;
        }
        if after_semicolon {
            return Err(
                "only one statement can be explained; remove everything after the first `;`"
                    .to_owned(),
            );
        }
        if c == ';' {
            after_semicolon = true;
            end = end.min(i);
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            // A string (with `''`, and backslash escapes in E'...') or a quoted identifier.
            let escapes = c == '\''
                && i > 0
                && matches!(chars[i - 1], 'e' | 'E')
                && (i < 2 || !chars[i - 2].is_alphanumeric());
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("the statement has an unterminated quote".to_owned()),
                    Some('\\') if escapes => i += 2,
                    Some(q) if *q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            continue;
        }
        if c == '$' {
            // $tag$ ... $tag$ (a parameter such as $1 is not a quote).
            let tag_end = chars[i + 1..]
                .iter()
                .position(|ch| !(ch.is_alphanumeric() || *ch == '_'))
                .map(|n| i + 1 + n);
            if let Some(tag_end) = tag_end {
                if chars[tag_end] == '$' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    let tag: String = chars[i..=tag_end].iter().collect();
                    let rest: String = chars[tag_end + 1..].iter().collect();
                    match rest.find(&tag) {
                        Some(at) => {
                            i = tag_end + 1 + rest[..at].chars().count() + tag.chars().count();
                            continue;
                        }
                        None => {
                            return Err("the statement has an unterminated dollar quote".to_owned())
                        }
                    }
                }
            }
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            words.push(chars[start..i].iter().collect::<String>().to_lowercase());
            continue;
        }
        i += 1;
    }
    match words.first().map(String::as_str) {
        None => return Err("the statement is empty".to_owned()),
        Some("select" | "with") => {}
        Some(first) => {
            return Err(format!(
                "only a SELECT can be explained here, and this is a `{}` statement",
                first.to_uppercase()
            ))
        }
    }
    if let Some(word) = words.iter().find(|word| REFUSED.contains(&word.as_str())) {
        return Err(format!(
            "only a read-only SELECT can be explained here, and this one has `{}`",
            word.to_uppercase()
        ));
    }
    Ok(chars[..end].iter().collect::<String>().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_selects_pass() {
        for sql in [
            "SELECT 1",
            "select * from t where a = $1;",
            "  -- why\n SELECT 'a; DELETE FROM t' AS \"update\" FROM t; ",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT $$ insert ; $$, $tag$;drop$tag$, E'it\\'s; update'",
            "/* a /* nested */ comment; */ SELECT 2",
        ] {
            assert!(check_select(sql).is_ok(), "{sql}: {:?}", check_select(sql));
        }
        assert_eq!(check_select("SELECT 1 ;  ").unwrap(), "SELECT 1");
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (sql, reason) in [
            ("UPDATE t SET a = 1", "this is a `UPDATE` statement"),
            ("SELECT 1; DROP TABLE t", "only one statement"),
            ("SELECT 1; -- fine\n", ""),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                "has `DELETE`",
            ),
            ("SELECT * INTO copy_of_t FROM t", "has `INTO`"),
            ("SELECT * FROM t FOR UPDATE", "has `UPDATE`"),
            ("", "empty"),
            ("-- only a comment", "empty"),
            ("SELECT 'open", "unterminated quote"),
            ("SELECT $a$ open", "unterminated dollar quote"),
            ("EXPLAIN ANALYZE DELETE FROM t", "`EXPLAIN` statement"),
        ] {
            let result = check_select(sql);
            if reason.is_empty() {
                assert!(result.is_ok(), "{sql}: {result:?}");
            } else {
                let error = result.expect_err(sql);
                assert!(error.contains(reason), "{sql}: {error}");
            }
        }
    }
}
