//! The queue schema's migrations, embedded in the binary, and the one place
//! their placeholders become names. `@schema@`, `@producer@` and `@worker@`
//! are replaced by `quote_ident`ed names, `@body@` by a dollar-quote tag that
//! occurs in none of them (a schema named `a$$b` cannot end a function body
//! early). Replacement is one pass: a name that itself spells `@schema@` is
//! never scanned again.

use anyhow::{bail, Context};

use crate::sql::quote_ident;

/// Version n is `MIGRATIONS[n - 1]`. Append only: an installed schema records
/// the versions it has, and upgrades apply the ones after.
pub const MIGRATIONS: &[&str] = &[
    include_str!("v1.sql"),
    include_str!("v2.sql"),
    include_str!("v3.sql"),
];

/// The newest version this binary installs.
pub fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// The names a migration is rendered for.
pub struct Names<'a> {
    pub schema: &'a str,
    pub producer: &'a str,
    pub worker: &'a str,
}

/// A dollar-quote tag (`$q$`, `$q1$`, …) that does not occur in `names`.
fn body_tag(names: &Names<'_>) -> String {
    let quoted = [names.schema, names.producer, names.worker].map(quote_ident);
    (0..)
        .map(|n| {
            if n == 0 {
                "$q$".to_owned()
            } else {
                format!("$q{n}$")
            }
        })
        .find(|tag| quoted.iter().all(|name| !name.contains(tag.as_str())))
        .expect("some tag is free")
}

/// Migration `version`'s SQL with its placeholders replaced. Fails on an
/// unknown placeholder or a migration that never names its schema.
pub fn render(version: i32, names: &Names<'_>) -> anyhow::Result<String> {
    let text = usize::try_from(version - 1)
        .ok()
        .and_then(|index| MIGRATIONS.get(index))
        .with_context(|| format!("there is no queue migration {version}"))?;
    let values = [
        ("schema", quote_ident(names.schema)),
        ("producer", quote_ident(names.producer)),
        ("worker", quote_ident(names.worker)),
        ("body", body_tag(names)),
    ];
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let (out, used) = crate::sql::fill_some(text, &pairs)
        .with_context(|| format!("queue migration {version}"))?;
    if !used[0] {
        bail!("queue migration {version} never names its schema (`@schema@`)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(schema: &'a str, producer: &'a str, worker: &'a str) -> Names<'a> {
        Names {
            schema,
            producer,
            worker,
        }
    }

    #[test]
    fn every_migration_renders_and_names_its_schema() {
        for version in 1..=latest() {
            let sql = render(
                version,
                &names("asyncq", "asyncq_producer", "asyncq_worker"),
            )
            .unwrap();
            assert!(sql.contains("\"asyncq\"."), "v{version}");
            assert!(
                !sql.contains("@schema@") && !sql.contains("@body@"),
                "v{version}"
            );
            assert!(
                sql.contains("SET search_path = pg_catalog, pg_temp"),
                "v{version}"
            );
        }
        assert!(render(latest() + 1, &names("a", "b", "c")).is_err());
        assert!(render(0, &names("a", "b", "c")).is_err());
    }

    #[test]
    fn every_function_pins_its_search_path_and_is_a_security_definer() {
        for sql in MIGRATIONS {
            let functions = sql.matches("CREATE FUNCTION").count()
                + sql.matches("CREATE OR REPLACE FUNCTION").count();
            assert_eq!(
                sql.matches("SECURITY DEFINER SET search_path = pg_catalog, pg_temp")
                    .count(),
                functions
            );
        }
    }

    #[test]
    fn hostile_names_are_quoted_once_and_never_rescanned() {
        let sql = render(1, &names("@schema@\"x", "p", "w")).unwrap();
        assert!(sql.contains("CREATE SCHEMA \"@schema@\"\"x\";"));
        let sql = render(1, &names("a$q$b", "a$q$b_producer", "w")).unwrap();
        assert!(sql.contains("AS $q1$"));
        assert!(!sql.contains("AS $q$"));
    }
}
