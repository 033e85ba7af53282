//! `qa::` — QA clones of one database: provision (a fresh differential backup
//! restored into its own container, volumes and port), list, drop, and SQL on
//! a clone. `qa::query`/`qa::execute`/`qa::mask` connect to the clone's port
//! only, never to the live cluster. `qa::mask` builds its UPDATE in Rust with
//! quoted identifiers (identifiers cannot be bound), so scripts never splice
//! names into SQL.

use std::sync::{Arc, OnceLock};

use core_data_ops::sql::quote_ident;
use rhai::{Array, Dynamic, Map, Module, NativeCallContext, INT};

use super::backup::{check_keys, plain};
use super::pg::check_statement;
use super::{cell_to_dynamic, failure, function, located, misuse, Env, Res};
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
    SALT.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut text = String::new();
        for i in 0..2u8 {
            // RandomState is keyed from the OS's random source.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u8(i);
            text.push_str(&format!("{:016x}", hasher.finish()));
        }
        text
    })
}

fn clone_map(clone: QaCloneInfo) -> Map {
    let mut map = Map::new();
    map.insert("name".into(), clone.name.into());
    map.insert("container".into(), clone.container.into());
    map.insert("database".into(), clone.database.into());
    map.insert("port".into(), INT::from(clone.port).into());
    map.insert("state".into(), clone.state.into());
    map.insert("expires".into(), clone.expires.into());
    map
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
    let e = env.clone();
    function(
        "list",
        &["Array"],
        "The stack's QA clones as maps `#{name, container, database, port, state, expires}` (`port` on\n\
         127.0.0.1; `expires` is the recorded ISO 8601 UTC expiry, or empty; nothing drops clones by itself).",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>| -> Res<Array> {
        located(&ctx, (|| -> Res<Array> {
            const F: &str = "qa::list";
            e.check_clock(F)?;
            let clones = e.backend.qa_list().map_err(|f| failure(F, f))?;
            Ok(clones.into_iter().map(|c| clone_map(c).into()).collect())
        })())
    });

    let e = env.clone();
    function(
        "query",
        &[
            "name: String",
            "db: String",
            "sql: String",
            "params: Array",
            "Array",
        ],
        "Runs a read-only query on database `db` of QA clone `name` (never the live cluster) and\n\
         returns its rows as for `pg::query`. Parameters bind as for `pg::query`.\n\
         Throws `#{kind: \"not_found\"}` when the clone does not exist or is not running.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>,
              name: &str,
              db: &str,
              sql: &str,
              params: Array|
              -> Res<Array> {
            located(
                &ctx,
                (|| -> Res<Array> {
                    const F: &str = "qa::query";
                    e.check_clock(F)?;
                    check_clone_name(F, name)?;
                    let params = check_statement(F, db, sql, &params)?;
                    let rows = e
                        .backend
                        .qa_query(name, db, sql, &params, e.limits.max_array_size)
                        .map_err(|f| failure(F, f))?;
                    Ok(rows
                        .into_iter()
                        .map(|row| {
                            row.into_iter()
                                .map(|(k, v)| (k.into(), cell_to_dynamic(v)))
                                .collect::<Map>()
                                .into()
                        })
                        .collect())
                })(),
            )
        },
    );

    if !env.grants.registers(crate::engine::Grant::Backups) {
        return;
    }
    let e = env.clone();
    let provision = move |ctx: &NativeCallContext<'_>,
                          db: &str,
                          name: &str,
                          options: &Map|
          -> Res<Map> {
        const F: &str = "qa::provision";
        e.check_clock(F)?;
        check_clone_name(F, name)?;
        check_identifier(F, "database", db)?;
        check_keys(F, options, &["expires_hours"])?;
        let expires = match options.get("expires_hours") {
            None => None,
            Some(hours) => {
                let hours = hours
                    .as_int()
                    .ok()
                    .filter(|h| (1..=24 * 366).contains(h))
                    .ok_or_else(|| misuse(F, "`expires_hours` must be an INT from 1 to 8784"))?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let millis = INT::try_from(now.as_millis()).unwrap_or(INT::MAX) + hours * 3_600_000;
                // Whole seconds: `2026-12-01T00:00:00Z`.
                let iso = super::time::iso_millis(millis);
                Some(format!("{}Z", &iso[..19]))
            }
        };
        if e.dry_run(ctx, F, &[&db.into(), &name.into(), &options.clone().into()]) {
            let info = QaCloneInfo {
                name: name.to_owned(),
                database: db.to_owned(),
                state: "dry-run".into(),
                expires: expires.unwrap_or_default(),
                ..QaCloneInfo::default()
            };
            return Ok(clone_map(info));
        }
        let clone = e
            .backend
            .qa_provision(db, name, expires.as_deref())
            .map_err(|f| failure(F, f))?;
        Ok(clone_map(clone))
    };
    let doc = "Clones database `db` for QA as clone `name` (a-z, 0-9, `_`, `-`): takes a differential backup\n\
               and restores only that database into its own container, volumes and port, archiving off.\n\
               Returns `#{name, container, database, port, state, expires}`. Options: `expires_hours` (INT)\n\
               records an expiry that `qa::list` reports (nothing drops the clone by itself). Throws\n\
               `#{kind: \"backup\"}` when the backup or restore fails. Needs `--allow-backups`.";
    let p = provision.clone();
    function("provision", &["db: String", "name: String", "Map"], doc).set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, db: &str, name: &str| -> Res<Map> {
            located(&ctx, p(&ctx, db, name, &Map::new()))
        },
    );
    function(
        "provision",
        &["db: String", "name: String", "options: Map", "Map"],
        doc,
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, db: &str, name: &str, options: Map| -> Res<Map> {
            located(&ctx, provision(&ctx, db, name, &options))
        },
    );

    let e = env.clone();
    function(
        "drop",
        &["name: String", "bool"],
        "Removes QA clone `name`, its container and volumes. Returns false when there was none.\n\
         Needs `--allow-backups`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str| -> Res<bool> {
            located(
                &ctx,
                (|| -> Res<bool> {
                    const F: &str = "qa::drop";
                    e.check_clock(F)?;
                    check_clone_name(F, name)?;
                    if e.dry_run(&ctx, F, &[&name.into()]) {
                        return Ok(false);
                    }
                    e.backend.qa_drop(name).map_err(|f| failure(F, f))
                })(),
            )
        },
    );

    let e = env.clone();
    function(
        "execute",
        &["name: String", "db: String", "sql: String", "params: Array", "INT"],
        "Runs one writing statement on database `db` of QA clone `name` (never the live cluster) and\n\
         returns the rows it affected. Parameters bind as for `pg::query`. Needs `--allow-backups`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str, db: &str, sql: &str, params: Array| -> Res<INT> {
            located(&ctx, (|| -> Res<INT> {
                const F: &str = "qa::execute";
                e.check_clock(F)?;
                check_clone_name(F, name)?;
                let bound = check_statement(F, db, sql, &params)?;
                if e.dry_run(&ctx, F, &[&name.into(), &db.into(), &sql.into(), &params.clone().into()]) {
                    return Ok(0);
                }
                let n = e.backend.qa_execute(name, db, sql, &bound).map_err(|f| failure(F, f))?;
                Ok(INT::try_from(n).unwrap_or(INT::MAX))
            })())
        },
    );

    let e = env.clone();
    function(
        "mask",
        &["name: String", "db: String", "table: String", "column: String", "method: String", "INT"],
        "Masks a column in QA clone `name` only: every non-NULL value of `table.column` (`table` may\n\
         be `schema.table`) is replaced. Methods: `email` (`u<12 hex>@example.invalid`), `name`\n\
         (`Name <8 HEX>`), `hash` (32 hex), `null`. Hashes are salted with a secret of this run, so\n\
         equal values get equal masks (joins still match) and cannot be reversed by guessing.\n\
         Identifiers are quoted in Rust, never spliced by the script. Returns the rows masked.\n\
         Needs `--allow-backups`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str, db: &str, table: &str, column: &str, method: &str| -> Res<INT> {
            located(&ctx, (|| -> Res<INT> {
                const F: &str = "qa::mask";
                e.check_clock(F)?;
                check_clone_name(F, name)?;
                check_identifier(F, "database", db)?;
                for part in table.splitn(2, '.') {
                    check_identifier(F, "table", part)?;
                }
                check_identifier(F, "column", column)?;
                let (sql, salted) = mask_sql(table, column, method).map_err(|m| misuse(F, m))?;
                let args: [Dynamic; 5] = [name.into(), db.into(), table.into(), column.into(), method.into()];
                if e.dry_run(&ctx, F, &args.iter().collect::<Vec<_>>()) {
                    return Ok(0);
                }
                let params = if salted { vec![SqlValue::Text(salt().to_owned())] } else { Vec::new() };
                let n = e.backend.qa_execute(name, db, &sql, &params).map_err(|f| failure(F, f))?;
                Ok(INT::try_from(n).unwrap_or(INT::MAX))
            })())
        },
    );
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
    fn the_salt_is_stable_within_a_run() {
        assert_eq!(salt(), salt());
        assert_eq!(salt().len(), 32);
    }
}
