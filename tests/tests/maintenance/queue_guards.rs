//! The job queue's guards (run by `queue::job_queue` while `asyncq` is
//! installed): a schema or function planted by a non-superuser is not taken
//! for a queue; a role of the queue's name made by a CREATEROLE user is not
//! adopted; the retry backoff stays capped past 50 attempts; a queue name over
//! 63 bytes (multibyte) is refused by `enqueue` itself, before NOTIFY.

use core_data_ops::maintenance::queue;
use core_data_tests::TestStack;

use super::{cli, sql, DB};

pub(crate) fn queue_guards(t: &TestStack) {
    a_planted_schema_is_refused(t);
    a_planted_role_is_refused(t);
    backoff_is_capped_past_fifty_attempts(t);
    a_queue_name_over_63_bytes_is_refused(t);
}

fn connect(t: &TestStack) -> postgres::Client {
    t.stack
        .connect(DB)
        .unwrap_or_else(|e| panic!("connect to {DB}: {e:#}"))
}

/// Schemas, roles, and every object of schemas named `planted%`/`taken%`
/// with its owner and body: what an install would change.
fn snapshot(client: &mut postgres::Client) -> String {
    client
        .query_one(
            "SELECT (SELECT string_agg(nspname || ' ' || nspowner::regrole, ',' ORDER BY nspname) \
                     FROM pg_namespace) || '|' || \
                    (SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles) || '|' || \
                    coalesce((SELECT string_agg(format('%s %s %s %s', p.oid::regprocedure, \
                                 p.proowner::regrole, md5(p.prosrc), p.proacl), ',' ORDER BY p.oid) \
                     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                     WHERE n.nspname LIKE 'planted%' OR n.nspname LIKE 'taken%'), '') || '|' || \
                    coalesce((SELECT string_agg(format('%s %s %s', c.oid::regclass, c.relowner::regrole, \
                                 c.relfilenode), ',' ORDER BY c.oid) \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname LIKE 'planted%' OR n.nspname LIKE 'taken%'), '')",
            &[],
        )
        .unwrap()
        .get(0)
}

/// The database's owner (not a superuser, CREATE on the database) plants a
/// schema shaped like a queue; an install or status run as the superuser must
/// not read or run any of it. Then a real queue whose function was handed to
/// that owner: refused the same way.
fn a_planted_schema_is_refused(t: &TestStack) {
    sql(
        t,
        DB,
        "SET ROLE shop_owner; \
         CREATE SCHEMA planted; \
         CREATE TABLE planted.schema_version (version int PRIMARY KEY); \
         INSERT INTO planted.schema_version VALUES (1), (2); \
         CREATE FUNCTION planted.purge_finished(interval) RETURNS bigint LANGUAGE sql \
             AS 'SELECT 0::bigint'; \
         RESET ROLE",
    );
    let mut client = connect(t);
    let before = snapshot(&mut client);
    for argv in [
        &["async-queue", "install", "--db", DB, "--schema", "planted"][..],
        &["async-queue", "status", "--db", DB, "--schema", "planted"][..],
    ] {
        let out = cli(t, argv);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains("is not a queue this tool installed")
                && out.stderr.contains("schema planted (owner shop_owner)")
                && out.stderr.contains("not owned by a superuser")
                && out.stderr.contains("Nothing was changed"),
            "{out}"
        );
    }
    assert_eq!(snapshot(&mut client), before);
    let err = queue::installed_version(&mut client, "planted").unwrap_err();
    assert!(
        format!("{err:#}").contains("function planted.purge_finished(interval) (owner shop_owner)"),
        "{err:#}"
    );
    sql(t, DB, "DROP SCHEMA planted CASCADE");

    // A queue this tool installed, then one function handed to a non-superuser.
    queue::install(&mut client, "taken").unwrap();
    sql(
        t,
        DB,
        "ALTER FUNCTION taken.dequeue(text, text, interval) OWNER TO shop_owner",
    );
    let before = snapshot(&mut client);
    let err = queue::install(&mut client, "taken").unwrap_err();
    assert!(
        format!("{err:#}")
            .contains("function taken.dequeue(text,text,interval) (owner shop_owner)"),
        "{err:#}"
    );
    assert_eq!(snapshot(&mut client), before);
    sql(
        t,
        DB,
        "DROP SCHEMA taken CASCADE; DROP ROLE taken_producer, taken_worker;",
    );
}

/// A CREATEROLE user makes `<schema>_worker` before the first install (it then
/// holds ADMIN on it): the install refuses and changes nothing. A role with an
/// attribute beyond NOLOGIN: refused too. Roles made by a superuser and granted
/// by one (what an install of the same name in another database leaves) are
/// adopted.
fn a_planted_role_is_refused(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE ROLE planter NOLOGIN CREATEROLE; \
         SET ROLE planter; CREATE ROLE plantedq_worker NOLOGIN; RESET ROLE; \
         CREATE ROLE plantedr_producer NOLOGIN CREATEDB;",
    );
    let mut client = connect(t);
    let before = snapshot(&mut client);
    let out = cli(
        t,
        &["async-queue", "install", "--db", DB, "--schema", "plantedq"],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("role `plantedq_worker` exists before")
            && out.stderr.contains("planter (admin option)")
            && out.stderr.contains("Nothing was changed"),
        "{out}"
    );
    let out = cli(
        t,
        &["async-queue", "install", "--db", DB, "--schema", "plantedr"],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("role `plantedr_producer` exists before")
            && out.stderr.contains("CREATEROLE, CREATEDB"),
        "{out}"
    );
    assert_eq!(snapshot(&mut client), before);
    sql(
        t,
        DB,
        "DROP ROLE plantedq_worker, plantedr_producer, planter",
    );

    // Left by a superuser and granted by one: adopted, the membership kept.
    sql(
        t,
        DB,
        "CREATE ROLE taken_producer NOLOGIN; CREATE ROLE taken_worker NOLOGIN; \
         GRANT taken_worker TO shop_owner;",
    );
    let report = queue::install(&mut client, "taken").unwrap();
    assert_eq!(report.from_version, 0);
    let can: bool = client
        .query_one(
            "SELECT has_function_privilege('shop_owner', 'taken.dequeue(text, text, interval)', 'EXECUTE')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(can);
    sql(
        t,
        DB,
        "DROP SCHEMA taken CASCADE; DROP ROLE taken_producer, taken_worker;",
    );
}

/// base * 2^(attempt - 1) passes interval's range near attempt 45 with a 1 s
/// base; each of 55 real dequeue/fail rounds must record min(2^(n-1) s, cap),
/// the queue's own cap (2 hours) included; the 60th attempt is dead.
fn backoff_is_capped_past_fifty_attempts(t: &TestStack) {
    let mut client = connect(t);
    client
        .batch_execute(
            "INSERT INTO asyncq.queues (queue, backoff_base, backoff_cap) VALUES ('deep', '1 second', '2 hours')",
        )
        .unwrap();
    let id: i64 = client
        .query_one(
            "SELECT asyncq.enqueue('deep', '{}', 0, NULL, NULL, 60)",
            &[],
        )
        .unwrap()
        .get(0);
    for attempt in 1..=55 {
        // Due again now, rather than after its delay.
        client
            .execute(
                "UPDATE asyncq.jobs SET run_at = now() WHERE id = $1",
                &[&id],
            )
            .unwrap();
        let taken: i32 = client
            .query_one(
                "SELECT attempt FROM asyncq.dequeue('deep', 'w', '1 minute')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(taken, attempt);
        let delay: f64 = client
            .query_one(
                "SELECT extract(epoch FROM asyncq.fail($1, 'w', 'again') - now())::float8",
                &[&id],
            )
            .unwrap_or_else(|e| panic!("fail() at attempt {attempt}: {e}"))
            .get(0);
        let expected = 2f64.powi(attempt - 1).min(7200.0);
        assert_eq!(delay, expected, "attempt {attempt}");
    }
    let recorded: f64 = client
        .query_one(
            "SELECT extract(epoch FROM run_at - now())::float8 FROM asyncq.jobs WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert!(recorded > 7000.0 && recorded <= 7200.0, "{recorded}");
    // The last attempt: dead, no delay.
    client
        .execute(
            "UPDATE asyncq.jobs SET run_at = now(), attempts = 59 WHERE id = $1",
            &[&id],
        )
        .unwrap();
    let taken: i32 = client
        .query_one(
            "SELECT attempt FROM asyncq.dequeue('deep', 'w', '1 minute')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, 60);
    let next: Option<String> = client
        .query_one("SELECT asyncq.fail($1, 'w', 'last')::text", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(next, None);
    let dead: i32 = client
        .query_one(
            "SELECT jsonb_array_length(errors) FROM asyncq.dead WHERE id = $1",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(dead, 56);
    sql(
        t,
        DB,
        "DELETE FROM asyncq.dead WHERE queue = 'deep'; DELETE FROM asyncq.queues WHERE queue = 'deep'",
    );
}

/// 32 two-byte characters are 64 bytes: one past NOTIFY's channel limit.
/// `enqueue` refuses it with its own message; 63 bytes are accepted and notified.
fn a_queue_name_over_63_bytes_is_refused(t: &TestStack) {
    let mut client = connect(t);
    let long = "é".repeat(32);
    let err = client
        .query_one("SELECT asyncq.enqueue($1, '{}')", &[&long])
        .unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "22023", "{db:?}");
    assert!(
        db.message()
            .contains("is 64 bytes; queue names are 1 to 63 bytes"),
        "{db:?}"
    );
    let err = client
        .execute("INSERT INTO asyncq.queues (queue) VALUES ($1)", &[&long])
        .unwrap_err();
    assert!(
        err.as_db_error()
            .is_some_and(|db| db.constraint() == Some("queues_queue_check")),
        "{err:?}"
    );
    let fits = format!("{}a", "é".repeat(31));
    assert_eq!(fits.len(), 63);
    let id: i64 = client
        .query_one("SELECT asyncq.enqueue($1, '{}')", &[&fits])
        .unwrap()
        .get(0);
    let deleted = client
        .execute(
            "DELETE FROM asyncq.jobs WHERE id = $1 AND queue = $2",
            &[&id, &fits],
        )
        .unwrap();
    assert_eq!(deleted, 1);
}
