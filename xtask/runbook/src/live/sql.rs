//! Values across the wire: script parameters bound with declared types
//! (`query_typed`), never spliced into SQL; result columns decoded into `Cell`
//! by postgres-types (TIMESTAMP/TIMESTAMPTZ/DATE through jiff) and
//! rust_decimal (NUMERIC); the READ ONLY transaction of every read; SQL
//! errors as `Failure`s with their SQLSTATE.

use std::error::Error as StdError;
use std::time::Duration;

use postgres::types::{Date as PgDate, FromSql, Timestamp as PgTimestamp, ToSql, Type};

use crate::backend::{Cell, Failure, Outcome, Row, SqlValue};

/// Runs `sql` in a READ ONLY transaction, so a read primitive cannot write.
pub(super) fn read_only_rows(
    client: &mut postgres::Client,
    sql: &str,
    params: &[SqlValue],
    max_rows: usize,
    timeout: Duration,
) -> Outcome<Vec<Row>> {
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(sql_failure)?;
    // Again for every transaction: a script's `set_config(…, false)` must not
    // outlive its statement on this pooled connection. An integer we computed.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis().max(1)
    ))
    .map_err(sql_failure)?;
    let rows = query_rows(&mut tx, sql, params, max_rows)?;
    tx.commit().map_err(sql_failure)?;
    Ok(rows)
}

/// Reads at most `max_rows` rows; one more is a `limit` failure rather than a
/// giant array built in memory and rejected afterwards.
pub(crate) fn query_rows<C: postgres::GenericClient>(
    client: &mut C,
    sql: &str,
    params: &[SqlValue],
    max_rows: usize,
) -> Outcome<Vec<Row>> {
    use postgres::fallible_iterator::FallibleIterator;
    let bound = bind(params);
    let mut iter = client
        .query_typed_raw(sql, refs(&bound))
        .map_err(sql_failure)?;
    let mut rows = Vec::new();
    while let Some(row) = iter.next().map_err(sql_failure)? {
        if rows.len() == max_rows {
            return Err(Failure::new(
                "limit",
                format!("the query returned more than {max_rows} rows; add a LIMIT"),
            ));
        }
        let mut cells = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let cell: Cell = row.try_get(i).map_err(|err| {
                Failure::new(
                    "sql",
                    format!(
                        "column `{}` has type `{}`, which runbooks cannot read ({err}); cast it in SQL, \
                         e.g. `{}::text`",
                        column.name(),
                        column.type_().name(),
                        column.name()
                    ),
                )
            })?;
            cells.push((column.name().to_owned(), cell));
        }
        rows.push(cells);
    }
    Ok(rows)
}

pub(super) type Bound = Vec<(Box<dyn ToSql + Sync>, Type)>;

/// Each value with the type PostgreSQL should see for its `$n`.
pub(super) fn bind(params: &[SqlValue]) -> Bound {
    params
        .iter()
        .map(|value| -> (Box<dyn ToSql + Sync>, Type) {
            match value {
                SqlValue::Null => (Box::new(None::<String>), Type::TEXT),
                SqlValue::Bool(b) => (Box::new(*b), Type::BOOL),
                SqlValue::Int(i) => (Box::new(*i), Type::INT8),
                SqlValue::Float(f) => (Box::new(*f), Type::FLOAT8),
                SqlValue::Text(s) => (Box::new(s.clone()), Type::TEXT),
                SqlValue::TextArray(v) => (Box::new(v.clone()), Type::TEXT_ARRAY),
                SqlValue::IntArray(v) => (Box::new(v.clone()), Type::INT8_ARRAY),
                SqlValue::Json(j) => (Box::new(j.clone()), Type::JSONB),
            }
        })
        .collect()
}

pub(super) fn refs(bound: &Bound) -> Vec<(&(dyn ToSql + Sync), Type)> {
    bound
        .iter()
        .map(|(value, ty)| (value.as_ref(), ty.clone()))
        .collect()
}

pub(super) fn sql_failure(err: postgres::Error) -> Failure {
    match err.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_owned();
            if let Some(hint) = db.hint() {
                message.push_str(&format!(" (hint: {hint})"));
            }
            Failure {
                kind: "sql",
                message,
                sqlstate: Some(db.code().code().to_owned()),
            }
        }
        None if err.is_closed() => Failure::new("connect", format!("the connection closed: {err}")),
        None => Failure::new("sql", err.to_string()),
    }
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, Box<dyn StdError + Sync + Send>> {
        Ok(match *ty {
            Type::BOOL => Cell::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Cell::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Cell::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::OID | Type::XID => Cell::Int(u32::from_sql(&Type::OID, raw)?.into()),
            Type::FLOAT4 => Cell::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Cell::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => Cell::Float(numeric(ty, raw)?),
            Type::JSON | Type::JSONB => Cell::Json(serde_json::Value::from_sql(ty, raw)?),
            // ISO 8601 to the millisecond (truncated), UTC with `Z`; TIMESTAMP without it.
            Type::TIMESTAMPTZ => Cell::Text(special(
                PgTimestamp::<jiff_02::Timestamp>::from_sql(ty, raw)?,
                |t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            )),
            Type::TIMESTAMP => Cell::Text(special(
                PgTimestamp::<jiff_02::civil::DateTime>::from_sql(ty, raw)?,
                |t| t.strftime("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            )),
            Type::DATE => Cell::Text(match PgDate::<jiff_02::civil::Date>::from_sql(ty, raw)? {
                PgDate::PosInfinity => "infinity".to_owned(),
                PgDate::NegInfinity => "-infinity".to_owned(),
                PgDate::Value(d) => d.strftime("%Y-%m-%d").to_string(),
            }),
            // Types whose binary form is their text (and extension types like citext).
            _ if is_textual(ty) => Cell::Text(String::from_utf8(raw.to_vec())?),
            _ => return Err(format!("no conversion for type `{}`", ty.name()).into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Cell, Box<dyn StdError + Sync + Send>> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn is_textual(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML
    ) || ty.name() == "citext"
}

/// `infinity`, `-infinity`, or the value formatted.
fn special<T>(value: PgTimestamp<T>, format: impl FnOnce(T) -> String) -> String {
    match value {
        PgTimestamp::PosInfinity => "infinity".to_owned(),
        PgTimestamp::NegInfinity => "-infinity".to_owned(),
        PgTimestamp::Value(value) => format(value),
    }
}

/// NUMERIC through `rust_decimal`, as the nearest FLOAT (scripts have no
/// decimal type); `NaN` and the infinities, which a `Decimal` cannot hold,
/// become the FLOATs of the same name.
fn numeric(ty: &Type, raw: &[u8]) -> Result<f64, Box<dyn StdError + Sync + Send>> {
    match rust_decimal::Decimal::from_sql(ty, raw) {
        Ok(value) => Ok(value.to_string().parse()?),
        Err(err) => match err.downcast_ref::<rust_decimal::Error>() {
            Some(rust_decimal::Error::ConversionTo(special)) => match special.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(err),
            },
            _ => Err(err),
        },
    }
}
