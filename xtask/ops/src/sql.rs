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
