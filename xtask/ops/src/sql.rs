//! The one place SQL text is assembled from names. Values are always bound
//! parameters; identifiers go through `quote_ident`; the few DDL literals that
//! PostgreSQL cannot bind (a role's password verifier) go through `quote_literal`.

/// Quotes an identifier: wrapped in double quotes, inner quotes doubled.
/// `x"; DROP DATABASE postgres; --` becomes one harmless name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a literal for DDL that cannot take parameters, assuming
/// `standard_conforming_strings = on` (the default since 9.1, which we never change).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Fills the `@name@` placeholders of an SQL template (names of letters and
/// `_`) in one pass, so a value that itself spells a placeholder stays as it
/// is. An `@` that does not start a placeholder (an operator such as `@>`)
/// is kept. Fails on a placeholder without a value and on a value the
/// template never uses (a renamed placeholder must not fail silently).
pub fn fill(template: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let (out, used) = fill_some(template, values)?;
    if let Some(index) = used.iter().position(|used| !used) {
        anyhow::bail!("the SQL template never uses `@{}@`", values[index].0);
    }
    Ok(out)
}

/// [`fill`] without the check that every value is used: the text and, per
/// value, whether the template used it.
pub fn fill_some(template: &str, values: &[(&str, &str)]) -> anyhow::Result<(String, Vec<bool>)> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
            .unwrap_or(after.len());
        if word_len > 0 && after[word_len..].starts_with('@') {
            let word = &after[..word_len];
            let Some(index) = values.iter().position(|(name, _)| *name == word) else {
                anyhow::bail!("the SQL template has a placeholder `@{word}@` without a value");
            };
            used[index] = true;
            out.push_str(values[index].1);
            rest = &after[word_len + 1..];
        } else {
            out.push('@');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Checks a name given by a user before it reaches PostgreSQL, which would
/// silently truncate it past 63 bytes or reject a NUL.
pub fn check_name(kind: &str, name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        anyhow::bail!("the {kind} name is empty");
    }
    if name.len() > 63 {
        anyhow::bail!(
            "the {kind} name `{name}` is {} bytes; PostgreSQL allows at most 63",
            name.len()
        );
    }
    if name.contains('\0') {
        anyhow::bail!("the {kind} name contains a NUL byte");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once() {
        let sql = fill(
            "SELECT @A@.f(x @> y) FROM @B_C@",
            &[("A", "\"@B_C@\""), ("B_C", "t")],
        )
        .unwrap();
        assert_eq!(sql, "SELECT \"@B_C@\".f(x @> y) FROM t");
        assert!(fill("@A@ @Z@", &[("A", "a")]).is_err());
        assert!(fill("@A@", &[("A", "a"), ("B", "b")]).is_err());
    }

    #[test]
    fn identifiers_are_quoted_and_inner_quotes_doubled() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(
            quote_ident("x\"; DROP DATABASE postgres; --"),
            "\"x\"\"; DROP DATABASE postgres; --\""
        );
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "'a\\b'");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("database", "x\"; DROP DATABASE postgres; --").is_ok());
        assert!(check_name("database", &"a".repeat(64)).is_err());
        assert!(check_name("database", "").is_err());
        assert!(check_name("database", "a\0b").is_err());
    }
}
