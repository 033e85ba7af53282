//! `partman`: `create-parent` on a real range-partitioned table creates its
//! premade partitions (counted in `pg_inherits`); after rows reach the
//! newest partition, `maintenance` creates the next ones (an integer set and
//! a daily one); a hostile table
//! name round-trips as a name (its partitions carry it, nothing else runs);
//! a plain table, a missing column, a column that is not the key, and a
//! table already managed are refused with clear messages, nothing created.

use core_data_tests::TestStack;

use super::{cli, sql, DB};

const HOSTILE: &str = "odd \"name; drop";

fn children(t: &TestStack, schema: &str, table: &str) -> Vec<String> {
    let mut client = t.stack.connect(DB).expect("connect");
    client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = (SELECT p.oid FROM pg_class p JOIN pg_namespace n ON n.oid = p.relnamespace \
             WHERE n.nspname = $1 AND p.relname = $2) ORDER BY 1",
            &[&schema, &table],
        )
        .expect("children")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn managed(t: &TestStack) -> i64 {
    t.query_one_string(DB, "SELECT count(*)::text FROM partman.part_config")
        .parse()
        .unwrap()
}

pub(crate) fn partman_sets(t: &TestStack) {
    sql(
        t,
        DB,
        &format!(
            "CREATE TABLE public.events (id bigint NOT NULL, note text) PARTITION BY RANGE (id); \
             CREATE TABLE public.{hostile} (id bigint NOT NULL) PARTITION BY RANGE (id); \
             CREATE TABLE public.plain_events (id bigint NOT NULL); \
             CREATE TABLE public.nullable_events (id bigint) PARTITION BY RANGE (id); \
             CREATE TABLE public.canary (x int);",
            hostile = core_data_ops::sql::quote_ident(HOSTILE)
        ),
    );
    let configs = managed(t);

    // Refusals first: nothing is created by any of them.
    for (argv, message) in [
        (
            vec!["public.plain_events", "--column", "id"],
            "public.plain_events in `shop` is a table, not a partitioned table",
        ),
        (
            vec!["public.events", "--column", "nope"],
            "column `nope` does not exist in public.events; its columns are: id, note",
        ),
        (
            vec!["public.events", "--column", "note"],
            "column `note` is not the partition key of public.events; the key is `id`",
        ),
        (
            vec!["public.nullable_events", "--column", "id"],
            "allows NULL, which pg_partman refuses",
        ),
        (
            vec!["public.missing", "--column", "id"],
            "table public.missing does not exist in database `shop`",
        ),
        (
            vec!["public.events", "--column", "id", "--interval", "1 day"],
            "--interval `1 day` is not a whole number",
        ),
    ] {
        let mut full = vec!["partman", "create-parent"];
        full.extend(&argv);
        if !argv.contains(&"--interval") {
            full.extend(["--interval", "10"]);
        }
        full.extend(["--db", DB]);
        let out = cli(t, &full);
        assert_eq!(out.code, Some(1), "{full:?}: {out}");
        assert!(
            out.stderr.contains(message),
            "{full:?}: expected `{message}`:\n{out}"
        );
        assert_eq!(managed(t), configs, "{full:?} created a partition set");
    }
    assert!(children(t, "public", "events").is_empty());

    // create-parent: premade partitions plus the default one.
    let out = cli(
        t,
        &[
            "partman",
            "create-parent",
            "public.events",
            "--column",
            "id",
            "--interval",
            "10",
            "--premake",
            "3",
            "--start",
            "0",
            "--retention",
            "1000",
            "--db",
            DB,
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let made = children(t, "public", "events");
    println!("create-parent made {} partitions: {made:?}", made.len());
    assert!(made.len() >= 4, "premake 3 made {made:?}\n{out}");
    assert!(made.iter().any(|c| c == "events_default"), "{made:?}");
    assert!(made.iter().any(|c| c == "events_p0"), "{made:?}");
    for name in &made {
        assert!(
            out.stdout.contains(&format!("public.{name}")),
            "{name} not reported:\n{out}"
        );
    }
    assert_eq!(
        t.query_one_string(
            DB,
            "SELECT retention FROM partman.part_config WHERE parent_table = 'public.events'"
        ),
        "1000"
    );
    let again = cli(
        t,
        &[
            "partman",
            "create-parent",
            "public.events",
            "--column",
            "id",
            "--interval",
            "10",
            "--db",
            DB,
        ],
    );
    assert_eq!(again.code, Some(1), "{again}");
    assert!(
        again.stderr.contains("is already managed by pg_partman"),
        "{again}"
    );

    // Rows reach the newest partition; maintenance makes the next ones.
    let newest = t.query_one_string(
        DB,
        "SELECT i.child_start_id::text FROM partman.show_partitions('public.events', 'DESC') s, \
         partman.show_partition_info(s.partition_schemaname || '.' || s.partition_tablename) i LIMIT 1",
    );
    sql(
        t,
        DB,
        &format!("INSERT INTO public.events (id, note) VALUES (1, 'first'), ({newest}, 'newest')"),
    );
    // Through a 1 ms statement_timeout on the superuser in `shop`.
    let out = super::compact::trapped(t, &["partman", "maintenance", "--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    let after = children(t, "public", "events");
    let new: Vec<&String> = after.iter().filter(|c| !made.contains(c)).collect();
    println!("maintenance after id {newest} created {new:?}");
    assert!(!new.is_empty(), "maintenance made nothing new:\n{out}");
    for name in &new {
        assert!(
            out.stdout.contains(&format!("shop: created public.{name}")),
            "{out}"
        );
    }
    assert_eq!(
        t.query_one_string(DB, "SELECT count(*)::text FROM public.events_default"),
        "0",
        "rows landed in the default partition"
    );

    // A daily set: maintenance adds days once rows reach the newest one.
    sql(
        t,
        DB,
        "CREATE TABLE public.daily (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at)",
    );
    let out = cli(
        t,
        &[
            "partman",
            "create-parent",
            "public.daily",
            "--column",
            "at",
            "--interval",
            "1 day",
            "--premake",
            "2",
            "--retention",
            "30 days",
            "--db",
            DB,
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let days = children(t, "public", "daily");
    assert!(days.len() >= 4, "premake 2 made {days:?}\n{out}");
    let newest_day = t.query_one_string(
        DB,
        "SELECT i.child_start_time::text FROM partman.show_partitions('public.daily', 'DESC') s, \
         partman.show_partition_info(s.partition_schemaname || '.' || s.partition_tablename) i LIMIT 1",
    );
    sql(
        t,
        DB,
        &format!(
            "INSERT INTO public.daily VALUES ('{newest_day}'::timestamptz + interval '1 hour', 1)"
        ),
    );
    let out = cli(t, &["partman", "maintenance", "--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    let later = children(t, "public", "daily");
    let added: Vec<&String> = later.iter().filter(|c| !days.contains(c)).collect();
    println!("daily maintenance after {newest_day} created {added:?}");
    assert!(
        !added.is_empty(),
        "no new day after rows reached {newest_day}:\n{out}"
    );
    assert_eq!(
        t.query_one_string(DB, "SELECT count(*)::text FROM public.daily_default"),
        "0",
        "the row landed in the default partition"
    );

    // show: table and JSON.
    let out = cli(
        t,
        &[
            "partman",
            "show",
            "--db",
            DB,
            "--parent",
            "public.events",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let sets: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(sets[0]["parent"], "public.events", "{sets:#}");
    assert_eq!(sets[0]["partitions"], after.len(), "{sets:#}");
    assert_eq!(sets[0]["retention"], "1000", "{sets:#}");

    // A hostile name is a name.
    let quoted = format!("public.{}", core_data_ops::sql::quote_ident(HOSTILE));
    let out = cli(
        t,
        &[
            "partman",
            "create-parent",
            &quoted,
            "--column",
            "id",
            "--interval",
            "10",
            "--premake",
            "2",
            "--start",
            "0",
            "--db",
            DB,
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let parts = children(t, "public", HOSTILE);
    assert!(parts.len() >= 3, "{parts:?}\n{out}");
    assert!(
        parts.iter().all(|p| p.starts_with("odd \"name; drop_")),
        "{parts:?}"
    );
    assert_eq!(
        t.query_one_string(DB, "SELECT to_regclass('public.canary')::text"),
        "canary",
        "the canary table is gone"
    );
    let out = cli(
        t,
        &[
            "partman", "show", "--db", DB, "--parent", &quoted, "--format", "json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let sets: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(sets[0]["parent"], format!("public.{HOSTILE}"), "{sets:#}");
    assert_eq!(sets[0]["partitions"], parts.len(), "{sets:#}");
    let table = cli(t, &["partman", "show", "--db", DB]);
    assert_eq!(table.code, Some(0), "{table}");
    assert!(table.stdout.contains("public.events"), "{table}");

    // Clean up: the sets, their template tables, the tables.
    let mut client = t.stack.connect(DB).expect("connect");
    let templates: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM partman.part_config p \
             JOIN pg_namespace n ON n.nspname = split_part(p.template_table, '.', 1) \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = split_part(p.template_table, '.', 2) \
             WHERE p.parent_table IN ('public.events', 'public.daily', $1)",
            &[&format!("public.{HOSTILE}")],
        )
        .expect("templates")
        .iter()
        .map(|r| r.get(0))
        .collect();
    client
        .execute(
            "DELETE FROM partman.part_config WHERE parent_table IN ('public.events', 'public.daily', $1)",
            &[&format!("public.{HOSTILE}")],
        )
        .expect("forget the sets");
    for template in templates {
        client
            .batch_execute(&format!("DROP TABLE {template}"))
            .expect("drop template");
    }
    client
        .batch_execute(&format!(
            "DROP TABLE public.events, public.daily, {quoted}, public.plain_events, public.nullable_events, public.canary"
        ))
        .expect("drop tables");
}
