//! `pgtap-smoke`: a pgTAP plan over the bundle in one database. For each
//! extension: it is installed, at the version the image ships
//! (`pg_available_extensions.default_version`), and one key function is
//! callable. Runs in a transaction that is rolled back; prints TAP.

use anyhow::Context;

use crate::pg::bootstrap;
use crate::stack::Stack;

/// One call per extension that must run without error.
pub const KEY_CALLS: &[(&str, &str)] = &[
    ("age", "SELECT ag_catalog.agtype_in('1')"),
    ("btree_gin", "SELECT 'public.gin_btree_consistent'::regproc"),
    ("btree_gist", "SELECT 'public.gbt_int4_consistent'::regproc"),
    ("citext", "SELECT 'A'::public.citext = 'a'::public.citext"),
    ("dblink", "SELECT public.dblink_get_connections()"),
    ("hstore", "SELECT public.akeys('a=>1'::public.hstore)"),
    (
        "fuzzystrmatch",
        "SELECT public.levenshtein('kitten', 'sitting')",
    ),
    ("bloom", "SELECT 'public.blhandler'::regproc"),
    (
        "pg_buffercache",
        "SELECT count(*) FROM public.pg_buffercache_summary()",
    ),
    ("pg_cron", "SELECT count(*) FROM cron.job"),
    ("pg_partman", "SELECT count(*) FROM partman.part_config"),
    ("hypopg", "SELECT count(*) FROM public.hypopg_list_indexes"),
    ("pg_repack", "SELECT repack.version()"),
    ("pg_squeeze", "SELECT count(*) FROM squeeze.tables"),
    (
        "pg_stat_statements",
        "SELECT count(*) FROM public.pg_stat_statements_info",
    ),
    ("pg_trgm", "SELECT public.similarity('word', 'words')"),
    ("pgcrypto", "SELECT public.gen_random_uuid()"),
    (
        "pgstattuple",
        "SELECT public.pgstattuple_approx('pg_class'::regclass)",
    ),
    ("pgtap", "SELECT public.pgtap_version()"),
    ("pgaudit", "SELECT current_setting('pgaudit.log')"),
    (
        "postgres_fdw",
        "SELECT 'public.postgres_fdw_handler'::regproc",
    ),
    ("postgis", "SELECT public.postgis_full_version()"),
    (
        "postgis_raster",
        "SELECT public.postgis_raster_lib_version()",
    ),
    (
        "postgis_topology",
        "SELECT topology.postgis_topology_scripts_installed()",
    ),
    (
        "address_standardizer",
        "SELECT count(*) FROM public.parse_address('1 Main St, Boston, MA 02101')",
    ),
    (
        "address_standardizer_data_us",
        "SELECT count(*) FROM public.us_rules",
    ),
    (
        "postgis_tiger_geocoder",
        "SELECT tiger.normalize_address('1 Main St, Boston, MA 02101')",
    ),
    ("pgrouting", "SELECT public.pgr_version()"),
    ("uuid-ossp", "SELECT public.uuid_generate_v4()"),
    (
        "vector",
        "SELECT public.vector_dims('[1,2,3]'::public.vector)",
    ),
];

/// The TAP lines of one run.
pub struct Tap {
    pub lines: Vec<String>,
}

impl Tap {
    /// True when the plan ran completely and no test failed.
    pub fn passed(&self) -> bool {
        !self.lines.iter().any(|l| {
            l.starts_with("not ok") || l.starts_with("# Looks like") || l.starts_with("Bail out!")
        })
    }
}

fn not_ok(database: &str, why: &str) -> Tap {
    Tap {
        lines: vec![
            "1..1".to_owned(),
            format!("not ok 1 - pgTAP can run in `{database}`"),
            format!("# {why}"),
        ],
    }
}

/// Runs the plan in `database` as the superuser (pgTAP creates temporary tables).
pub fn run(stack: &Stack, database: &str) -> anyhow::Result<Tap> {
    let mut client = stack.connect(database)?;
    if client
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pgtap'", &[])?
        .is_none()
    {
        return Ok(not_ok(
            database,
            "the pgtap extension is not installed; `cargo xtask up` installs the bundle",
        ));
    }
    let extensions = bootstrap::extensions_for(database);
    let mut tx = client.transaction()?;
    let mut lines = Vec::new();
    let mut collect = |rows: Vec<postgres::Row>| {
        for row in rows {
            let text: Option<String> = row.get(0);
            lines.extend(text.unwrap_or_default().lines().map(str::to_owned));
        }
    };
    collect(tx.query("SELECT public.plan($1)", &[&(extensions.len() as i32 * 3)])?);
    for extension in extensions {
        collect(tx.query(
            "SELECT public.has_extension($1::name, $2::text)",
            &[&extension, &format!("{extension} is installed")],
        )?);
        collect(tx.query(
            "SELECT public.is((SELECT extversion FROM pg_extension WHERE extname = $1), \
             (SELECT default_version FROM pg_available_extensions WHERE name = $1), $2)",
            &[
                &extension,
                &format!("{extension} is at the version the image ships"),
            ],
        )?);
        let call = KEY_CALLS
            .iter()
            .find(|(name, _)| *name == extension)
            .map_or("SELECT NULL::int / 0", |(_, call)| call);
        let preamble = match extension {
            "age" => "LOAD 'age'; ",
            // Its functions name their types unqualified.
            "postgis_tiger_geocoder" => "SET LOCAL search_path = public, tiger; ",
            _ => "",
        };
        collect(tx.query(
            "SELECT public.lives_ok($1, $2)",
            &[
                &format!("{preamble}{call}"),
                &format!("{extension}: `{call}` runs"),
            ],
        )?);
    }
    collect(tx.query("SELECT * FROM public.finish()", &[])?);
    tx.rollback()
        .with_context(|| format!("failed to roll the pgTAP run in `{database}` back"))?;
    Ok(Tap { lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundle_extension_has_a_key_call_and_failures_are_seen() {
        for extension in bootstrap::extensions() {
            assert!(
                KEY_CALLS.iter().any(|(e, _)| *e == extension),
                "{extension}"
            );
        }
        let tap = Tap {
            lines: vec!["1..2".into(), "ok 1 - a".into(), "not ok 2 - b".into()],
        };
        assert!(!tap.passed());
        assert!(!not_ok("app", "x").passed());
    }
}
