//! `partman create-parent`: puts an existing partitioned table under
//! pg_partman. Everything pg_partman would trip over is checked first, with
//! a message saying what to do: the table exists and is range-partitioned,
//! the column exists, is the whole partition key, is NOT NULL and of a type
//! pg_partman handles, the interval, retention and start fit that type, the
//! table is not managed already. Then one transaction calls
//! `partman.create_parent` with every argument bound and sets the retention
//! with a bound `UPDATE`; on any failure nothing stays behind.

use anyhow::{bail, Context};
use serde::Serialize;

use super::{installed, session, LOCK_TIMEOUT};
use crate::maintenance::tables;
use crate::stack::Stack;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct CreateParent {
    /// Default: the first application database (where `psql` lands).
    pub database: Option<String>,
    /// `schema.table` as written (quoted where needed).
    pub table: String,
    pub column: String,
    /// `1 day` for a time column, `1000` for an integer one.
    pub interval: String,
    pub premake: i32,
    pub retention: Option<String>,
    /// The first partition's start (a time or a number, as the column).
    pub start: Option<String>,
}

/// What `create_parent` made.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub database: String,
    /// As pg_partman stores it: `schema.table`, unquoted.
    pub parent: String,
    /// The child tables now attached (`schema.table`), the default one included.
    pub partitions: Vec<String>,
}

/// Which kind of control column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Time,
    Integer,
}

fn control_of(type_name: &str) -> Option<Control> {
    match type_name {
        "date" | "timestamp without time zone" | "timestamp with time zone" => Some(Control::Time),
        "smallint" | "integer" | "bigint" | "numeric" => Some(Control::Integer),
        _ => None,
    }
}

/// Checks `value` against the control's kind on the server (time:
/// `interval`/`timestamptz` input; integer: a whole number), naming `what`.
fn check_value(
    client: &mut postgres::Client,
    control: Control,
    value: &str,
    what: &str,
    as_point: bool,
) -> anyhow::Result<()> {
    match control {
        Control::Integer => {
            let number: i64 = value.trim().parse().with_context(|| {
                format!("{what} `{value}` is not a whole number, which an integer control column needs (e.g. `1000`)")
            })?;
            if !as_point && number <= 0 {
                bail!("{what} `{value}` must be positive");
            }
        }
        Control::Time => {
            let sql = if as_point {
                "SELECT $1::text::timestamptz IS NOT NULL"
            } else {
                "SELECT $1::text::interval > interval '0'"
            };
            let ok: bool = client
                .query_one(sql, &[&value])
                .map_err(|e| {
                    let why = e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |db| db.message().to_owned());
                    anyhow::anyhow!(
                        "{what} `{value}` is not a {} ({why}); write it like `{}`",
                        if as_point { "time" } else { "time interval" },
                        if as_point { "2024-01-01" } else { "1 day" }
                    )
                })?
                .get(0);
            if !ok {
                bail!("{what} `{value}` must be a positive interval");
            }
        }
    }
    Ok(())
}

/// The checks; returns the parent as pg_partman names it.
fn check(
    client: &mut postgres::Client,
    db: &str,
    request: &CreateParent,
) -> anyhow::Result<String> {
    if !installed(client)? {
        bail!(
            "pg_partman is not installed in `{db}`; `cargo xtask up` installs the extension bundle"
        );
    }
    let (schema, name) = tables::parse(client, &request.table)?;
    let shown = tables::display(&schema, &name);
    if schema.contains('.') || name.contains('.') {
        bail!("pg_partman cannot manage {shown}: it splits names at the dot; rename the table or schema without `.`");
    }
    let row = client.query_opt(
        "SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        &[&schema, &name],
    )?;
    let Some(row) = row else {
        bail!("table {shown} does not exist in database `{db}`; create it with `PARTITION BY RANGE ({})` first", request.column);
    };
    let (oid, kind): (u32, String) = (row.try_get(0)?, row.try_get(1)?);
    if kind != "p" {
        bail!(
            "{shown} in `{db}` is {}, not a partitioned table; pg_partman manages tables created \
             with `CREATE TABLE … PARTITION BY RANGE ({})` (a plain table cannot become one in place: \
             create the partitioned table and move the rows)",
            tables::relkind_name(&kind),
            request.column
        );
    }
    let columns: Vec<(String, String, bool, i16)> = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, NULL), a.attnotnull, a.attnum \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let key = client.query_one(
        "SELECT pt.partstrat::text, pt.partnatts::int4, \
         (SELECT a.attname::text FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]) \
         FROM pg_catalog.pg_partitioned_table pt WHERE pt.partrelid = $1",
        &[&oid],
    )?;
    let (strategy, key_columns, key_column): (String, i32, Option<String>) =
        (key.try_get(0)?, key.try_get(1)?, key.try_get(2)?);
    let Some((_, type_name, not_null, _)) = columns.iter().find(|c| c.0 == request.column) else {
        bail!(
            "column `{}` does not exist in {shown}; its columns are: {}",
            request.column,
            columns
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if strategy != "r" {
        bail!(
            "{shown} is partitioned by {}, not by RANGE; pg_partman's time and integer intervals need `PARTITION BY RANGE ({})`",
            if strategy == "l" { "LIST" } else { "HASH" },
            request.column
        );
    }
    if key_columns != 1 || key_column.as_deref() != Some(request.column.as_str()) {
        bail!(
            "column `{}` is not the partition key of {shown}; the key is {}",
            request.column,
            match (key_columns, key_column) {
                (1, Some(k)) => format!("`{k}`: pass `--column {k}`"),
                _ => "not a single column, which pg_partman cannot manage".to_owned(),
            }
        );
    }
    let Some(control) = control_of(type_name) else {
        bail!(
            "column `{}` of {shown} is of type {type_name}; pg_partman partitions by date, timestamp, \
             timestamptz or an integer type (smallint, integer, bigint, numeric)",
            request.column
        );
    };
    if !not_null {
        let qtable = format!(
            "{}.{}",
            crate::sql::quote_ident(&schema),
            crate::sql::quote_ident(&name)
        );
        bail!(
            "column `{col}` of {shown} allows NULL, which pg_partman refuses for a control column; \
             run `ALTER TABLE {qtable} ALTER COLUMN {qcol} SET NOT NULL` first",
            col = request.column,
            qcol = crate::sql::quote_ident(&request.column)
        );
    }
    check_value(client, control, &request.interval, "--interval", false)?;
    if let Some(retention) = &request.retention {
        check_value(client, control, retention, "--retention", false)?;
    }
    if let Some(start) = &request.start {
        check_value(client, control, start, "--start", true)?;
    }
    if request.premake < 1 {
        bail!("--premake must be at least 1 (it is how many partitions are made ahead)");
    }
    let parent = format!("{schema}.{name}");
    if client
        .query_opt(
            "SELECT 1 FROM partman.part_config WHERE parent_table = $1",
            &[&parent],
        )?
        .is_some()
    {
        bail!(
            "{shown} is already managed by pg_partman in `{db}` (see `cargo xtask partman show --db {db}`); \
             change its settings in partman.part_config"
        );
    }
    Ok(parent)
}

/// Checks, then creates the partition set in one transaction.
pub fn create_parent(stack: &Stack, request: &CreateParent) -> anyhow::Result<Created> {
    let db = &request
        .database
        .clone()
        .unwrap_or_else(|| stack.config.primary_database());
    let mut client = session::open(stack, db, LOCK_TIMEOUT)?;
    let parent = check(&mut client, db, request)?;
    let mut tx = client.transaction()?;
    tx.query_one(
        "SELECT partman.create_parent(p_parent_table := $1, p_control := $2, p_interval := $3, \
         p_premake := $4, p_start_partition := $5)",
        &[
            &parent,
            &request.column,
            &request.interval,
            &request.premake,
            &request.start,
        ],
    )
    .map_err(|e| {
        let why = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_owned());
        anyhow::anyhow!(
            "partman.create_parent failed for `{parent}` in `{db}` (nothing was created): {why}"
        )
    })?;
    if let Some(retention) = &request.retention {
        tx.execute(
            "UPDATE partman.part_config SET retention = $1 WHERE parent_table = $2",
            &[retention, &parent],
        )
        .with_context(|| {
            format!("failed to set the retention of `{parent}` (nothing was created)")
        })?;
    }
    let partitions = tx
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE i.inhparent = (SELECT c2.oid FROM pg_catalog.pg_class c2 \
               JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace \
               WHERE n2.nspname = split_part($1, '.', 1) AND c2.relname = split_part($1, '.', 2)) \
             ORDER BY 1",
            &[&parent],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    tx.commit()
        .with_context(|| format!("failed to commit the partition set of `{parent}`"))?;
    Ok(Created {
        database: db.to_owned(),
        parent,
        partitions,
    })
}
