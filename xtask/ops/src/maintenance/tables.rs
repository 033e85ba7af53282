//! The tables a maintenance command works on: `schema.table` names as the
//! operator writes them (double quotes for names with capitals, dots or
//! spaces), resolved by the server's own parser (`parse_ident`) to the
//! catalog's exact names, or every user table of a database. Names reach SQL
//! only through `quote_ident`.

use anyhow::{bail, Context};
use postgres::types::Oid;
use serde::Serialize;

use crate::audit::user_objects::{not_extension_relation, USER_SCHEMA};
use crate::sql::quote_ident;

/// One table, by its catalog names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    #[serde(skip)]
    pub oid: Oid,
    pub schema: String,
    pub name: String,
}

impl Table {
    /// The name as SQL text, each part quoted.
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The name for people (`schema.table`, quoted where PostgreSQL would need it).
    pub fn display(&self) -> String {
        display(&self.schema, &self.name)
    }
}

/// `schema.name` for people: a part is quoted only when it is not a plain
/// lower-case identifier (so `public.orders`, but `public."Odd name"`).
pub fn display(schema: &str, name: &str) -> String {
    let part = |ident: &str| {
        let plain = ident
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && ident
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
        if plain {
            ident.to_owned()
        } else {
            quote_ident(ident)
        }
    };
    format!("{}.{}", part(schema), part(name))
}

/// Splits `text` into schema and name as PostgreSQL parses an identifier
/// (`parse_ident`: quotes kept, unquoted parts folded to lower case); the
/// name must have exactly two parts.
pub fn parse(client: &mut postgres::Client, text: &str) -> anyhow::Result<(String, String)> {
    let parts: Vec<String> = client
        .query_one("SELECT parse_ident($1)::text[]", &[&text])
        .map_err(|e| {
            let why = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned());
            anyhow::anyhow!(
                "`{text}` is not a table name ({why}); write `schema.table`, with double quotes \
                 around a part that has capitals, dots or spaces (`public.\"Odd Name\"`)"
            )
        })?
        .try_get(0)?;
    match <[String; 2]>::try_from(parts) {
        Ok([schema, name]) => Ok((schema, name)),
        Err(parts) => bail!(
            "`{text}` has {} part(s); name the table as `schema.table` (e.g. `public.{}`)",
            parts.len(),
            parts.last().map_or("orders", String::as_str)
        ),
    }
}

/// Resolves `text` in the connected database to a table (`relkind` in `kinds`,
/// e.g. "r" for plain tables). A missing table or another kind of relation is
/// an error naming what was found.
pub fn resolve(
    client: &mut postgres::Client,
    database: &str,
    text: &str,
    kinds: &[&str],
) -> anyhow::Result<(Table, String)> {
    let (schema, name) = parse(client, text)?;
    let row = client
        .query_opt(
            "SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &name],
        )
        .with_context(|| format!("failed to look up `{text}` in `{database}`"))?;
    let table = Table {
        oid: 0,
        schema,
        name,
    };
    let Some(row) = row else {
        bail!(
            "table {} does not exist in database `{database}` (checked before anything ran; \
             nothing was changed)",
            table.display()
        );
    };
    let kind: String = row.try_get(1)?;
    if !kinds.contains(&kind.as_str()) {
        bail!(
            "{} in database `{database}` is {}, not a plain table (nothing was changed){}",
            table.display(),
            relkind_name(&kind),
            if kind == "p" {
                "; name its partitions instead"
            } else {
                ""
            }
        );
    }
    Ok((
        Table {
            oid: row.try_get(0)?,
            ..table
        },
        kind,
    ))
}

/// What a `relkind` letter means, for messages.
pub fn relkind_name(kind: &str) -> &'static str {
    match kind {
        "r" => "a table",
        "p" => "a partitioned table",
        "v" => "a view",
        "m" => "a materialized view",
        "i" | "I" => "an index",
        "S" => "a sequence",
        "f" => "a foreign table",
        "c" => "a composite type",
        "t" => "a TOAST table",
        _ => "not a table",
    }
}

/// Every plain user table of the connected database (not system schemas, not
/// extension members), in name order.
pub fn user_tables(client: &mut postgres::Client) -> anyhow::Result<Vec<Table>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND {USER_SCHEMA} AND {} ORDER BY 2, 3",
        not_extension_relation("c.oid")
    );
    client
        .query(&sql, &[])
        .context("failed to list the user tables")?
        .iter()
        .map(|row| {
            Ok(Table {
                oid: row.try_get(0)?,
                schema: row.try_get(1)?,
                name: row.try_get(2)?,
            })
        })
        .collect()
}

/// The table, its indexes and TOAST in bytes (`pg_total_relation_size`).
pub fn total_size(client: &mut postgres::Client, table: &Table) -> anyhow::Result<i64> {
    Ok(client
        .query_one("SELECT pg_total_relation_size($1::oid)", &[&table.oid])
        .with_context(|| format!("failed to read the size of {}", table.display()))?
        .try_get(0)?)
}

/// Which unique key pg_repack (a primary key, or a unique index whose columns
/// are all NOT NULL, not partial, not on expressions) or pg_squeeze (a primary
/// key or a replica identity index) can use; `None` when there is none.
pub fn key_for(
    client: &mut postgres::Client,
    table: &Table,
    tool: KeyUse,
) -> anyhow::Result<Option<String>> {
    let condition = match tool {
        KeyUse::Repack => {
            "(i.indisprimary OR (i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
             AND i.indimmediate AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k \
             WHERE NOT a.attnotnull)))"
        }
        KeyUse::Squeeze => "(i.indisprimary OR i.indisreplident)",
    };
    let sql = format!(
        "SELECT c.relname::text FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = $1 AND i.indisvalid AND {condition} \
         ORDER BY i.indisprimary DESC, c.relname LIMIT 1"
    );
    Ok(client
        .query_opt(&sql, &[&table.oid])
        .with_context(|| format!("failed to read the indexes of {}", table.display()))?
        .map(|row| row.get(0)))
}

/// Whose rules [`key_for`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Repack,
    Squeeze,
}

/// What in `schema` a superuser does not own: the schema itself, its relations,
/// functions and types (at most 5, described with their owners). Objects that
/// core_data made and runs with a superuser's rights must all be a superuser's,
/// or their owner could change what runs.
pub fn not_superuser_owned(
    client: &mut impl postgres::GenericClient,
    schema: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT format('schema %I (owner %I)', n.nspname, r.rolname) \
             FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner \
             WHERE n.nspname = $1 AND NOT r.rolsuper \
             UNION ALL \
             SELECT format('%s (owner %I)', c.oid::regclass, r.rolname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_roles r ON r.oid = c.relowner \
             WHERE n.nspname = $1 AND NOT r.rolsuper \
             UNION ALL \
             SELECT format('function %s (owner %I)', p.oid::regprocedure, r.rolname) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             JOIN pg_roles r ON r.oid = p.proowner \
             WHERE n.nspname = $1 AND NOT r.rolsuper \
             UNION ALL \
             SELECT format('type %s (owner %I)', t.oid::regtype, r.rolname) \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_roles r ON r.oid = t.typowner \
             WHERE n.nspname = $1 AND NOT r.rolsuper \
             ORDER BY 1 LIMIT 5",
            &[&schema],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::display;

    #[test]
    fn names_are_quoted_for_people_only_where_needed() {
        assert_eq!(display("public", "orders_2024"), "public.orders_2024");
        assert_eq!(display("public", "Orders"), "public.\"Orders\"");
        assert_eq!(
            display("my schema", "odd \"name; drop"),
            "\"my schema\".\"odd \"\"name; drop\""
        );
        assert_eq!(display("public", "1st"), "public.\"1st\"");
    }
}
