//! `qa::` — QA clones of one database: provision (a fresh differential backup
//! restored into its own container, volumes and port), list, drop, and SQL on
//! a clone. `qa::query`/`qa::execute`/`qa::mask` connect to the clone's port
//! only, never to the live cluster. `qa::mask` builds its UPDATE in Rust with
//! quoted identifiers (identifiers cannot be bound), so scripts never splice
//! names into SQL.

use std::sync::{Arc, OnceLock};

use core_data_ops::sql::quote_ident;
use rhai::{Array, Dynamic, Map, Module, INT};

use super::backup::{check_keys, plain};
use super::pg::check_statement;
use super::pg::rows_to_array;
use super::{misuse, primitive, to_map, Call, Env, Res};
use crate::backend::{QaCloneInfo, SqlValue};

/// The masking methods of `qa::mask`: (name, SQL expression over `{col}` and the salt `$1`).
pub const MASK_METHODS: &[(&str, &str)] = &[
    (
        "email",
        "'u' || left(md5($1 || {col}::text), 12) || '@example.invalid'",
    ),
    ("name", "'Name ' || upper(left(md5($1 || {col}::text), 8))"),
    ("hash", "md5($1 || {col}::text)"),
    ("null", "NULL"),
];

/// A secret per process (one run of the CLI): equal values get equal masks
/// within a run, and the masks cannot be reversed by hashing guesses.
fn salt() -> &'static str {
    static SALT: OnceLock<String> = OnceLock::new();
    SALT.get_or_init(new_salt)
}

/// 128 bits from the OS-seeded generator, as 32 hex digits.
fn new_salt() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn check_clone_name(function: &str, name: &str) -> Res<()> {
    if !plain(name, 40, false) || name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(misuse(
            function,
            format!("clone name `{name}`: use at most 40 characters from a-z, 0-9, `_`, `-`"),
        ));
    }
    Ok(())
}

fn check_identifier(function: &str, what: &str, name: &str) -> Res<()> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') {
        return Err(misuse(
            function,
            format!("{what} name `{name}` must be 1 to 63 bytes without NUL"),
        ));
    }
    Ok(())
}

/// `UPDATE "schema"."table" SET "col" = <mask> WHERE "col" IS NOT NULL`, and whether it binds the salt.
pub fn mask_sql(table: &str, column: &str, method: &str) -> Result<(String, bool), String> {
    let Some((_, expr)) = MASK_METHODS.iter().find(|(name, _)| *name == method) else {
        let known = MASK_METHODS
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!(
            "unknown mask method `{method}`; use one of {known}"
        ));
    };
    let target = match table.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    };
    let col = quote_ident(column);
    let expr = expr.replace("{col}", &col);
    Ok((
        format!("UPDATE {target} SET {col} = {expr} WHERE {col} IS NOT NULL"),
        expr.contains("$1"),
    ))
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    primitive!(
        module,
        env,
        "qa::list",
        &["Array"],
        "The stack's QA clones as maps `#{name, container, database, port, state, expires}` (`port` on\n\
         127.0.0.1; `expires` is the recorded ISO 8601 UTC expiry, or empty; nothing drops clones by itself).",
        |call| -> Array {
            let clones = call.backend.qa_list().map_err(|f| call.fail(f))?;
            clones
                .iter()
                .map(|c| to_map(call.name, c).map(Dynamic::from))
                .collect()
        }
    );

    primitive!(
        module,
        env,
        "qa::query",
        &[
            "name: String",
            "db: String",
            "sql: String",
            "params: Array",
            "Array"
        ],
        "Runs a read-only query on database `db` of QA clone `name` (never the live cluster) and\n\
         returns its rows as for `pg::query`. Parameters bind as for `pg::query`.\n\
         Throws `#{kind: \"not_found\"}` when the clone does not exist or is not running.",
        |call, name: &str, db: &str, sql: &str, params: Array| -> Array {
            check_clone_name(call.name, name)?;
            let params = check_statement(call.name, db, sql, &params)?;
            let rows = call
                .backend
                .qa_query(name, db, sql, &params, call.limits.max_array_size)
                .map_err(|f| call.fail(f))?;
            Ok(rows_to_array(rows))
        }
    );

    if !env.grants.registers(crate::engine::Grant::Backups) {
        return;
    }
    let doc = "Clones database `db` for QA as clone `name` (a-z, 0-9, `_`, `-`): takes a differential backup\n\
               and restores only that database into its own container, volumes and port, archiving off.\n\
               Returns `#{name, container, database, port, state, expires}`. Options: `expires_hours` (INT)\n\
               records an expiry that `qa::list` reports (nothing drops the clone by itself). Throws\n\
               `#{kind: \"backup\"}` when the backup or restore fails. Needs `--allow-backups`.";
    primitive!(
        module,
        env,
        "qa::provision",
        &["db: String", "name: String", "Map"],
        doc,
        |call, db: &str, name: &str| -> Map { provision(&call, db, name, &Map::new()) }
    );
    primitive!(
        module,
        env,
        "qa::provision",
        &["db: String", "name: String", "options: Map", "Map"],
        doc,
        |call, db: &str, name: &str, options: Map| -> Map { provision(&call, db, name, &options) }
    );

    primitive!(
        module,
        env,
        "qa::drop",
        &["name: String", "bool"],
        "Removes QA clone `name`, its container and volumes. Returns false when there was none.\n\
         Needs `--allow-backups`.",
        |call, name: &str| -> bool {
            check_clone_name(call.name, name)?;
            if call.dry_run(&[&name.into()]) {
                return Ok(false);
            }
            call.backend.qa_drop(name).map_err(|f| call.fail(f))
        }
    );

    primitive!(
        module,
        env,
        "qa::execute",
        &["name: String", "db: String", "sql: String", "params: Array", "INT"],
        "Runs one writing statement on database `db` of QA clone `name` (never the live cluster) and\n\
         returns the rows it affected. Parameters bind as for `pg::query`. Needs `--allow-backups`.",
        |call, name: &str, db: &str, sql: &str, params: Array| -> INT {
            check_clone_name(call.name, name)?;
            let bound = check_statement(call.name, db, sql, &params)?;
            if call.dry_run(&[&name.into(), &db.into(), &sql.into(), &params.clone().into()]) {
                return Ok(0);
            }
            let n = call
                .backend
                .qa_execute(name, db, sql, &bound)
                .map_err(|f| call.fail(f))?;
            Ok(INT::try_from(n).unwrap_or(INT::MAX))
        }
    );

    primitive!(
        module,
        env,
        "qa::mask",
        &["name: String", "db: String", "table: String", "column: String", "method: String", "INT"],
        "Masks a column in QA clone `name` only: every non-NULL value of `table.column` (`table` may\n\
         be `schema.table`) is replaced. Methods: `email` (`u<12 hex>@example.invalid`), `name`\n\
         (`Name <8 HEX>`), `hash` (32 hex), `null`. Hashes are salted with a secret of this run, so\n\
         equal values get equal masks (joins still match) and cannot be reversed by guessing.\n\
         Identifiers are quoted in Rust, never spliced by the script. Returns the rows masked.\n\
         Needs `--allow-backups`.",
        |call, name: &str, db: &str, table: &str, column: &str, method: &str| -> INT {
            check_clone_name(call.name, name)?;
            check_identifier(call.name, "database", db)?;
            for part in table.splitn(2, '.') {
                check_identifier(call.name, "table", part)?;
            }
            check_identifier(call.name, "column", column)?;
            let (sql, salted) = mask_sql(table, column, method).map_err(|m| call.misuse(m))?;
            let args: [Dynamic; 5] = [name.into(), db.into(), table.into(), column.into(), method.into()];
            if call.dry_run(&args.iter().collect::<Vec<_>>()) {
                return Ok(0);
            }
            let params = if salted {
                vec![SqlValue::Text(salt().to_owned())]
            } else {
                Vec::new()
            };
            let n = call
                .backend
                .qa_execute(name, db, &sql, &params)
                .map_err(|f| call.fail(f))?;
            Ok(INT::try_from(n).unwrap_or(INT::MAX))
        }
    );
}

/// `qa::provision`, with or without options.
fn provision(call: &Call<'_, '_>, db: &str, name: &str, options: &Map) -> Res<Map> {
    check_clone_name(call.name, name)?;
    check_identifier(call.name, "database", db)?;
    check_keys(call.name, options, &["expires_hours"])?;
    let expires = match options.get("expires_hours") {
        None => None,
        Some(hours) => {
            let hours = hours
                .as_int()
                .ok()
                .filter(|h| (1..=24 * 366).contains(h))
                .ok_or_else(|| call.misuse("`expires_hours` must be an INT from 1 to 8784"))?;
            // Whole seconds: `2026-12-01T00:00:00Z`.
            let at = std::time::SystemTime::now()
                + std::time::Duration::from_secs(hours.unsigned_abs() * 3600);
            Some(core_data_ops::clock::iso_seconds(at))
        }
    };
    if call.dry_run(&[&db.into(), &name.into(), &options.clone().into()]) {
        let info = QaCloneInfo {
            name: name.to_owned(),
            database: db.to_owned(),
            state: "dry-run".into(),
            expires: expires.unwrap_or_default(),
            ..QaCloneInfo::default()
        };
        return to_map(call.name, &info);
    }
    let clone = call
        .backend
        .qa_provision(db, name, expires.as_deref())
        .map_err(|f| call.fail(f))?;
    to_map(call.name, &clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_sql_quotes_every_identifier() {
        let (sql, salted) = mask_sql("public.users", "email", "email").unwrap();
        assert_eq!(
            sql,
            "UPDATE \"public\".\"users\" SET \"email\" = 'u' || left(md5($1 || \"email\"::text), 12) || \
             '@example.invalid' WHERE \"email\" IS NOT NULL"
        );
        assert!(salted);
        let (sql, salted) = mask_sql("t\"; DROP TABLE x; --", "c", "null").unwrap();
        assert_eq!(
            sql,
            "UPDATE \"t\"\"; DROP TABLE x; --\" SET \"c\" = NULL WHERE \"c\" IS NOT NULL"
        );
        assert!(!salted);
        assert!(mask_sql("t", "c", "rot13")
            .unwrap_err()
            .contains("unknown mask method `rot13`"));
    }

    #[test]
    fn each_run_gets_a_fresh_128_bit_salt() {
        let salts: Vec<String> = (0..4).map(|_| new_salt()).collect();
        for salt in &salts {
            assert_eq!(salt.len(), 32, "{salt}");
            assert!(salt.chars().all(|c| c.is_ascii_hexdigit()), "{salt}");
        }
        let mut distinct = salts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), salts.len(), "salts repeat: {salts:?}");
        assert!(
            salts
                .iter()
                .all(|s| s.chars().filter(|c| *c != '0').count() > 8),
            "{salts:?}"
        );
    }
}
