//! The snapshot file format (versioned) and reading it from the live server.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::super::snapshot_file::server_time;
use super::super::user_objects::{
    not_extension_member, not_extension_relation, qualified, USER_SCHEMA,
};
use super::super::Audit;

/// The format version; a file of another version is refused.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// The server's time when the snapshot was taken (UTC).
    pub taken_at: String,
    pub server_version: String,
    pub databases: BTreeMap<String, Database>,
}

/// One database's objects, keyed by qualified name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub schemas: BTreeSet<String>,
    pub tables: BTreeMap<String, Table>,
    /// `schema.index` → `CREATE INDEX …`
    pub indexes: BTreeMap<String, String>,
    /// `schema.table.constraint` → its definition
    pub constraints: BTreeMap<String, String>,
    /// `schema.name(argument types)`
    pub functions: BTreeMap<String, Function>,
    pub views: BTreeMap<String, View>,
    pub sequences: BTreeMap<String, Sequence>,
    /// extension → installed version
    pub extensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// `table`, `partitioned table` or `foreign table`.
    pub kind: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// `function`, `procedure`, `aggregate` or `window`.
    pub kind: String,
    pub returns: Option<String>,
    pub language: String,
    pub security_definer: bool,
    pub volatility: String,
    /// SHA-256 of the body (`prosrc`), hex.
    pub body_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// `view` or `materialized view`.
    pub kind: String,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cycle: bool,
}

impl Snapshot {
    /// Checks the version of a snapshot read from a file.
    pub fn check_version(&self) -> anyhow::Result<()> {
        crate::audit::snapshot_file::check_version(self.version, VERSION)
    }
}

/// Reads every database in the audit's scope.
pub fn take(audit: &Audit<'_>) -> anyhow::Result<Snapshot> {
    let mut client = audit.connect("postgres")?;
    let taken_at = server_time(&mut client)?;
    let server_version: String = client
        .query_one("SELECT current_setting('server_version')", &[])?
        .try_get(0)?;
    let mut databases = BTreeMap::new();
    audit.each_database(|db, client| {
        databases.insert(db.to_owned(), read_database(client)?);
        Ok(())
    })?;
    Ok(Snapshot {
        version: VERSION,
        taken_at,
        server_version,
        databases,
    })
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn read_database(client: &mut postgres::Client) -> anyhow::Result<Database> {
    let mut db = Database::default();
    let user_relation = format!("{USER_SCHEMA} AND {}", not_extension_relation("c.oid"));

    let sql = format!(
        "SELECT n.nspname::text FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA} \
         AND n.nspname NOT LIKE 'pg\\_%' AND {}",
        not_extension_member("pg_namespace", "n.oid")
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the schemas")?
    {
        db.schemas.insert(row.try_get(0)?);
    }

    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind::text, a.attname::text, \
         pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
         pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'p', 'f') AND {user_relation} ORDER BY 1, 2, a.attnum"
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the tables")?
    {
        let name = qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?);
        let kind = match row.try_get::<_, String>(2)?.as_str() {
            "p" => "partitioned table",
            "f" => "foreign table",
            _ => "table",
        };
        let table = db.tables.entry(name).or_insert_with(|| Table {
            kind: kind.to_owned(),
            columns: Vec::new(),
        });
        if let Some(column) = row.try_get::<_, Option<String>>(3)? {
            table.columns.push(Column {
                name: column,
                data_type: row.try_get(4)?,
                not_null: row.try_get(5)?,
                default: row.try_get(6)?,
            });
        }
    }

    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, pg_catalog.pg_get_indexdef(c.oid) \
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_relation} AND {} ORDER BY 1, 2",
        not_extension_relation("i.indrelid")
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the indexes")?
    {
        db.indexes.insert(
            qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            row.try_get(2)?,
        );
    }

    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, k.conname::text, pg_catalog.pg_get_constraintdef(k.oid) \
         FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_relation} ORDER BY 1, 2, 3"
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the constraints")?
    {
        let table = qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?);
        db.constraints.insert(
            format!("{table}.{}", row.try_get::<_, String>(2)?),
            row.try_get(3)?,
        );
    }

    let sql = format!(
        "SELECT n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
         p.prokind::text, pg_catalog.pg_get_function_result(p.oid), l.lanname::text, p.prosecdef, \
         p.provolatile::text, COALESCE(p.prosrc, '') || COALESCE(' ' || p.probin, '') \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
         WHERE {USER_SCHEMA} AND {} ORDER BY 1, 2, 3",
        not_extension_member("pg_proc", "p.oid")
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the functions")?
    {
        let name = format!(
            "{}({})",
            qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            row.try_get::<_, String>(2)?
        );
        let kind = match row.try_get::<_, String>(3)?.as_str() {
            "p" => "procedure",
            "a" => "aggregate",
            "w" => "window",
            _ => "function",
        };
        let volatility = match row.try_get::<_, String>(7)?.as_str() {
            "i" => "immutable",
            "s" => "stable",
            _ => "volatile",
        };
        db.functions.insert(
            name,
            Function {
                kind: kind.to_owned(),
                returns: row.try_get(4)?,
                language: row.try_get(5)?,
                security_definer: row.try_get(6)?,
                volatility: volatility.to_owned(),
                body_sha256: sha256(&row.try_get::<_, String>(8)?),
            },
        );
    }

    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind::text, pg_catalog.pg_get_viewdef(c.oid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm') AND {user_relation} ORDER BY 1, 2"
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the views")?
    {
        let kind = if row.try_get::<_, String>(2)? == "m" {
            "materialized view"
        } else {
            "view"
        };
        db.views.insert(
            qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            View {
                kind: kind.to_owned(),
                definition: row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
            },
        );
    }

    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
         s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle \
         FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user_relation} ORDER BY 1, 2"
    );
    for row in client
        .query(&sql, &[])
        .context("failed to read the sequences")?
    {
        db.sequences.insert(
            qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            Sequence {
                data_type: row.try_get(2)?,
                start: row.try_get(3)?,
                increment: row.try_get(4)?,
                min: row.try_get(5)?,
                max: row.try_get(6)?,
                cycle: row.try_get(7)?,
            },
        );
    }

    for row in client
        .query(
            "SELECT extname::text, extversion FROM pg_catalog.pg_extension ORDER BY 1",
            &[],
        )
        .context("failed to read the extensions")?
    {
        db.extensions.insert(row.try_get(0)?, row.try_get(1)?);
    }
    Ok(db)
}
