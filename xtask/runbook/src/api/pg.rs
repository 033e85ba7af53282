//! `pg::` — SQL against the stack's databases over verified TLS, never as the
//! superuser unless the run is granted `--sql-as-superuser`. Values always
//! travel as bound parameters (`$1`, `$2`, …); `pg::query` runs inside a
//! `READ ONLY` transaction as `core_data_reader`, so a read-only runbook cannot
//! write through it; `pg::execute`/`pg::transaction` (granted
//! `--allow-sql-writes`) run as `core_data_runbook`.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module, INT};

use super::{cell_to_dynamic, dynamic_to_json, misuse, primitive, Env, Res};
use crate::backend::{Failure, SqlValue};

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    primitive!(
        module,
        env,
        "pg::query",
        &["db: String", "sql: String", "params: Array", "Array"],
        "Runs a read-only query and returns its rows as an array of maps (column name => value).\n\
         Parameters bind to `$1`, `$2`, … (unit = NULL, bool, INT = int8, FLOAT = float8, String = text,\n\
         array of strings/INTs = text[]/int8[], map = jsonb); cast in SQL when needed: `$1::interval`.\n\
         Runs in a READ ONLY transaction. Throws `#{kind: \"sql\", message, sqlstate}` on SQL errors.",
        |call, db: &str, sql: &str, params: Array| -> Array {
            let params = check_statement(call.name, db, sql, &params)?;
            let rows = call
                .backend
                .query(db, sql, &params, call.limits.max_array_size)
                .map_err(|f| call.fail(f))?;
            Ok(rows_to_array(rows))
        }
    );

    if !env.grants.registers(crate::engine::Grant::SqlWrites) {
        return;
    }
    primitive!(
        module,
        env,
        "pg::execute",
        &["db: String", "sql: String", "params: Array", "INT"],
        "Runs one writing statement and returns the number of rows it affected. Parameters bind as\n\
         for `pg::query`. Runs as `core_data_runbook` (reads and writes every table's rows, VACUUM,\n\
         ANALYZE; no DDL, roles or server files), or as the superuser with `--sql-as-superuser`.\n\
         Needs `--allow-sql-writes`.",
        |call, db: &str, sql: &str, params: Array| -> INT {
            let bound = check_statement(call.name, db, sql, &params)?;
            if call.dry_run(&[&db.into(), &sql.into(), &params.into()]) {
                return Ok(0);
            }
            let n = call
                .backend
                .execute(db, sql, &bound)
                .map_err(|f| call.fail(privilege_hint(&call, f)))?;
            Ok(INT::try_from(n).unwrap_or(INT::MAX))
        }
    );

    primitive!(
        module,
        env,
        "pg::transaction",
        &["db: String", "statements: Array", "Array"],
        "Runs statements in one transaction, all or nothing. Each statement is `[sql, params]` or\n\
         `#{sql, params}`. Returns the rows affected by each. Runs as for `pg::execute`.\n\
         Needs `--allow-sql-writes`.",
        |call, db: &str, statements: Array| -> Array {
            let mut parsed = Vec::with_capacity(statements.len());
            for (i, statement) in statements.iter().enumerate() {
                let (sql, params) = split_statement(call.name, i, statement)?;
                let bound = check_statement(call.name, db, &sql, &params)?;
                parsed.push((sql, bound));
            }
            if call.dry_run(&[&db.into(), &statements.clone().into()]) {
                return Ok(parsed.iter().map(|_| Dynamic::from(0 as INT)).collect());
            }
            let counts = call
                .backend
                .transaction(db, &parsed)
                .map_err(|f| call.fail(privilege_hint(&call, f)))?;
            Ok(counts
                .into_iter()
                .map(|n| Dynamic::from(INT::try_from(n).unwrap_or(INT::MAX)))
                .collect())
        }
    );
}

/// Result rows as an array of maps (column name => value), for `pg::query` and `qa::query`.
pub(crate) fn rows_to_array(rows: Vec<crate::backend::Row>) -> Array {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(k, v)| (k.into(), cell_to_dynamic(v)))
                .collect::<Map>()
                .into()
        })
        .collect()
}

/// A write refused for lack of privilege says who ran it and how to get more.
fn privilege_hint(env: &Env, mut failure: Failure) -> Failure {
    if failure.sqlstate.as_deref() == Some("42501") && !env.grants.sql_as_superuser {
        failure.message.push_str(&format!(
            " (SQL writes run as `{}`, which may change rows but not schema, roles or \
             settings; grant `--sql-as-superuser` if this runbook needs that)",
            core_data_ops::secrets::RUNBOOK_ROLE
        ));
    }
    failure
}

fn split_statement(function: &str, index: usize, statement: &Dynamic) -> Res<(String, Array)> {
    let bad = || {
        misuse(
            function,
            format!("statement {index} must be `[sql, params]` or `#{{sql, params}}`"),
        )
    };
    if let Some(pair) = statement.read_lock::<Array>() {
        let sql = pair
            .first()
            .and_then(|s| s.clone().into_string().ok())
            .ok_or_else(bad)?;
        let params = match pair.get(1) {
            None => Array::new(),
            Some(p) => p.clone().try_cast::<Array>().ok_or_else(bad)?,
        };
        return Ok((sql, params));
    }
    if let Some(map) = statement.read_lock::<Map>() {
        let sql = map
            .get("sql")
            .and_then(|s| s.clone().into_string().ok())
            .ok_or_else(bad)?;
        let params = match map.get("params") {
            None => Array::new(),
            Some(p) => p.clone().try_cast::<Array>().ok_or_else(bad)?,
        };
        return Ok((sql, params));
    }
    Err(bad())
}

/// Checks the database name and SQL text, and turns script values into bound parameters.
pub(crate) fn check_statement(
    function: &str,
    db: &str,
    sql: &str,
    params: &Array,
) -> Res<Vec<SqlValue>> {
    if db.is_empty() {
        return Err(misuse(
            function,
            "the database name is empty; pass e.g. \"postgres\"",
        ));
    }
    if sql.trim().is_empty() {
        return Err(misuse(function, "SQL must not be empty"));
    }
    params
        .iter()
        .enumerate()
        .map(|(i, value)| to_sql_value(function, i + 1, value))
        .collect()
}

fn to_sql_value(function: &str, n: usize, value: &Dynamic) -> Res<SqlValue> {
    if value.is_unit() {
        return Ok(SqlValue::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(SqlValue::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(SqlValue::Int(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(SqlValue::Float(f));
    }
    if value.is_string() || value.is_char() {
        return Ok(SqlValue::Text(value.to_string()));
    }
    if let Some(array) = value.read_lock::<Array>() {
        if array.iter().all(Dynamic::is_string) {
            return Ok(SqlValue::TextArray(
                array.iter().map(ToString::to_string).collect(),
            ));
        }
        if let Some(ints) = array
            .iter()
            .map(|v| v.as_int().ok())
            .collect::<Option<Vec<_>>>()
        {
            return Ok(SqlValue::IntArray(ints));
        }
        return Err(misuse(
            function,
            format!("parameter ${n}: an array must hold only strings or only INTs"),
        ));
    }
    if value.is_map() {
        return Ok(SqlValue::Json(dynamic_to_json(function, value)?));
    }
    Err(misuse(
        function,
        format!(
            "parameter ${n} has type `{}`, which cannot be bound",
            value.type_name()
        ),
    ))
}
