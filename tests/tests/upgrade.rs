//! Major upgrades on a real stack: a PostgreSQL 15 stack built from Debian
//! bookworm's packages, with data in PostGIS (a GiST index), pg_partman 4.x,
//! pgRouting, pg_cron and a role with a password and grants.
//!
//! - `upgrade --check` passes and changes nothing; with an extension the
//!   target lacks (adminpack, gone in 17) it names it and exits 1.
//! - A fault injected after `pg_upgrade --link` ran (before the new server
//!   started) rolls back by itself: PostgreSQL 15 serves the same content hash;
//!   a run killed after the swap is rolled back by the next `up`.
//! - `upgrade --rehearse` on a clone reports a downtime within 2x of the real
//!   upgrade's, and leaves the live cluster as it was.
//! - `upgrade --yes` moves it to 17 (exit 0, its report) while a client of
//!   PgBouncer queries throughout: paused, never an error; `upgrade --rollback
//!   --yes` brings 15 back with the pre-upgrade data (a write made on 17 is
//!   not carried back; a fault after its swap puts 17 back first).
//! - `upgrade --yes` again (with a fault once the new server is up:
//!   not rolled back, the next `up` finishes it): the same content hash,
//!   extensions at the target's versions, the partitioned table still managed (maintenance makes
//!   its next partition), the cron job still runs, the role logs in over TLS,
//!   and a backup with `--verify` works on the upgraded stanza.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_data_ops::config::envfile;
use core_data_tests::{docker_available, xtask, xtask_env, TestStack};

const OLD: &str = "15";

/// The test's data, made on the old major.
const DATA: &str = "
CREATE TABLE places (id int PRIMARY KEY, name text NOT NULL, geom geometry(Point, 4326) NOT NULL);
CREATE INDEX places_geom ON places USING gist (geom);
INSERT INTO places SELECT i, 'place ' || i, ST_SetSRID(ST_MakePoint(i % 360 - 180, i % 180 - 90), 4326)
  FROM generate_series(1, 5000) AS i;
CREATE TABLE edges (id int PRIMARY KEY, source int, target int, cost float8, reverse_cost float8);
INSERT INTO edges VALUES (1, 1, 2, 1, 1), (2, 2, 3, 1, 1), (3, 3, 4, 1, 1), (4, 1, 4, 5, 5);
CREATE TABLE events (id bigint NOT NULL, created timestamptz NOT NULL, body text) PARTITION BY RANGE (created);
SELECT partman.create_parent('public.events', 'created', 'native', 'daily', p_premake := 2);
INSERT INTO events SELECT i, now() - (i % 2) * interval '1 day', 'event ' || i FROM generate_series(1, 2000) AS i;
CREATE ROLE reporter LOGIN PASSWORD 'reporter-secret-pw-1234';
GRANT SELECT ON places TO reporter;
";

/// One hash over the content (geometry as text, so an encoding change would show).
const HASH: &str = "SELECT md5(
  (SELECT string_agg(id || ':' || name || ':' || ST_AsText(geom), ',' ORDER BY id) FROM places) ||
  (SELECT string_agg(id || ':' || created || ':' || body, ',' ORDER BY id) FROM events) ||
  (SELECT string_agg(seq || ':' || node || ':' || agg_cost, ',' ORDER BY seq)
     FROM pgr_dijkstra('SELECT id, source, target, cost, reverse_cost FROM edges', 1, 4)))";

fn set_major(t: &mut TestStack, major: &str) {
    let env = t.paths().env_file();
    let text = std::fs::read_to_string(&env).unwrap();
    let image = t.stack.config.image_for(major.parse().unwrap());
    let text = envfile::set_keys(
        &text,
        &[
            ("PG_MAJOR", major),
            ("POSTGRES_IMAGE", &image),
            ("COMPOSE_PROFILES", "pgbouncer"),
        ],
    );
    std::fs::write(&env, text).unwrap();
    t.reload().unwrap();
}

/// The `… {seconds}s` figure after `marker` in a command's output.
fn seconds_after(text: &str, marker: &str) -> f64 {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {text}"))
        + marker.len()..];
    rest.trim_start()
        .split('s')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no seconds after `{marker}` in {text}"))
}

/// What a client through PgBouncer saw while it queried every 100 ms.
struct Seen {
    ok: usize,
    errors: Vec<String>,
    first: Duration,
    longest: Duration,
}

/// A client of PgBouncer (as `reporter`) querying until `stop` is set.
fn pooled_client(t: &TestStack, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    use core_data_ops::addons::pgbouncer;
    let ca = core_data_ops::tls::files(t.paths()).ca_cert;
    let host = pgbouncer::client_host(&t.stack.config).to_owned();
    let port = pgbouncer::host_port(&t.stack.config);
    std::thread::spawn(move || {
        let target = core_data_ops::pg::Target {
            host: &host,
            port,
            user: "reporter",
            database: "app",
            ca_cert: &ca,
        };
        let mut client = core_data_ops::pg::connect(&target, "reporter-secret-pw-1234")
            .expect("reporter connects through PgBouncer");
        let mut seen = Seen {
            ok: 0,
            errors: Vec::new(),
            first: Duration::ZERO,
            longest: Duration::ZERO,
        };
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            match client.query_one("SELECT count(*) FROM places", &[]) {
                Ok(_) => seen.ok += 1,
                Err(err) => seen.errors.push(format!("{err:#}")),
            }
            let took = started.elapsed();
            if seen.ok + seen.errors.len() == 1 {
                seen.first = took;
            }
            seen.longest = seen.longest.max(took);
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    })
}

fn server_major(t: &TestStack) -> String {
    t.query_one_string(
        "postgres",
        "SELECT (current_setting('server_version_num')::int / 10000)::text",
    )
}

#[test]
fn a_postgresql_15_stack_upgrades_to_17_and_rolls_back_on_a_fault() {
    if !docker_available("a_postgresql_15_stack_upgrades_to_17_and_rolls_back_on_a_fault") {
        return;
    }
    let mut t = TestStack::new("upgrade", 219);
    set_major(&mut t, OLD);
    t.up();
    assert_eq!(server_major(&t), OLD);
    t.sql("app", DATA);
    t.sql(
        "postgres",
        "SELECT cron.schedule('upgrade-test-tick', '* * * * *', 'SELECT 1')",
    );
    let hash = t.query_one_string("app", HASH);
    let state = t.paths().state().to_owned();

    // --check: passes, changes nothing.
    let check = xtask(&state, &["upgrade", "--check", "--to", "17"]);
    assert_eq!(check.code, Some(0), "{}", check);
    assert!(check.stdout.contains("can be upgraded"), "{}", check);
    assert!(check.stdout.contains("postgis"), "{}", check);
    assert_eq!(server_major(&t), OLD);

    // An extension the target lacks blocks it.
    t.sql("app", "CREATE EXTENSION adminpack");
    let blocked = xtask(&state, &["upgrade", "--check", "--to", "17"]);
    assert_eq!(blocked.code, Some(1), "{}", blocked);
    assert!(blocked.stdout.contains("adminpack"), "{}", blocked);
    assert!(blocked.stdout.contains("BLOCKED"), "{}", blocked);
    let refused = xtask(&state, &["upgrade", "--yes", "--to", "17"]);
    assert_ne!(refused.code, Some(0), "{}", refused);
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused
    );
    assert_eq!(server_major(&t), OLD);
    t.sql("app", "DROP EXTENSION adminpack");

    // Without --yes: the plan, exit 1.
    let plan = xtask(&state, &["upgrade", "--to", "17"]);
    assert_eq!(plan.code, Some(1), "{}", plan);
    assert!(plan.stdout.contains("pg_upgrade --link"), "{}", plan);

    // The rehearsal: a clone of the newest backup set, upgraded and timed; the live
    // cluster stays as it was and the clone's volumes go.
    let backup = xtask(&state, &["backup", "take"]);
    assert_eq!(backup.code, Some(0), "{backup}");
    let rehearsal = xtask(&state, &["upgrade", "--rehearse", "--to", "17"]);
    assert_eq!(rehearsal.code, Some(0), "{rehearsal}");
    println!("{}", rehearsal.stdout);
    let rehearsed = seconds_after(&rehearsal.stdout, "measured downtime");
    assert_eq!(server_major(&t), OLD);
    assert_eq!(t.query_one_string("app", HASH), hash);
    for suffix in ["pgdata", "pgwal"] {
        let volume = format!("{}_rehearsal_{suffix}", t.stack.config.project());
        assert!(
            !t.stack.docker.volume_exists(&volume).unwrap(),
            "the rehearsal left {volume}"
        );
    }

    // A fault after pg_upgrade linked the files: rolled back, 15 serves the same data.
    let faulted = xtask_env(
        &state,
        &["upgrade", "--yes", "--to", "17"],
        &[("CORE_DATA_FAULT", "upgrade:after-pg-upgrade")],
    );
    assert_ne!(faulted.code, Some(0), "{}", faulted);
    assert!(faulted.stderr.contains("rolled back"), "{}", faulted);
    t.reload().unwrap();
    assert_eq!(
        t.stack.config.pg_major().to_string(),
        OLD,
        ".env names the old major again"
    );
    assert_eq!(server_major(&t), OLD);
    assert_eq!(t.query_one_string("app", HASH), hash);
    assert!(!t.paths().state().join("upgrade-journal.json").exists());

    // Killed after the swap (the new cluster in place, `.env` not yet moved): the
    // next `up` rolls it back by itself.
    let killed = xtask_env(
        &state,
        &["upgrade", "--yes", "--to", "17"],
        &[("CORE_DATA_FAULT", "upgrade:after-swap:kill")],
    );
    assert_ne!(killed.code, Some(0), "{killed}");
    assert!(
        t.paths().state().join("upgrade-journal.json").exists(),
        "{killed}"
    );
    let recovered = xtask(&state, &["up"]);
    assert_eq!(recovered.code, Some(0), "{recovered}");
    assert!(recovered.stderr.contains("rolled back"), "{recovered}");
    t.reload().unwrap();
    assert_eq!(server_major(&t), OLD);
    assert_eq!(t.query_one_string("app", HASH), hash);
    let leftovers = xtask(&state, &["old-clusters", "--format", "json"]);
    assert_eq!(leftovers.code, Some(0), "{leftovers}");
    assert!(
        !leftovers.stdout.contains("pre-upgrade"),
        "a rollback leaves no copy: {leftovers}"
    );

    // The upgrade, clean: exit 0 and its report; the rehearsal's downtime is within 2x.
    // A client of PgBouncer queries throughout: paused, never disconnected.
    let stop = Arc::new(AtomicBool::new(false));
    let client = pooled_client(&t, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let upgraded = xtask(&state, &["upgrade", "--yes", "--to", "17"]);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let seen = client.join().unwrap();
    assert_eq!(upgraded.code, Some(0), "{upgraded}");
    println!(
        "through PgBouncer: {} queries, {} errors, first {:?}, longest {:?}",
        seen.ok,
        seen.errors.len(),
        seen.first,
        seen.longest
    );
    assert!(
        seen.first < Duration::from_secs(5),
        "PgBouncer was still paused before the upgrade (a rolled-back run did not resume it): {:?}",
        seen.first
    );
    assert!(
        seen.errors.is_empty(),
        "clients saw errors: {:?}",
        seen.errors
    );
    assert!(
        seen.longest >= Duration::from_secs(5),
        "no query waited through the downtime ({:?}): were clients paused?",
        seen.longest
    );
    println!("{}", upgraded.stdout);
    let real = seconds_after(&upgraded.stdout, "to 17 with");
    println!("downtime: rehearsal {rehearsed:.1}s, upgrade {real:.1}s");
    assert!(
        rehearsed <= 2.0 * real && real <= 2.0 * rehearsed,
        "the rehearsal's downtime {rehearsed:.1}s is not within 2x of the upgrade's {real:.1}s"
    );
    t.reload().unwrap();
    assert_eq!(server_major(&t), "17");
    assert_eq!(t.query_one_string("app", HASH), hash);
    // A write on 17, which a rollback does not carry back.
    t.sql("app", "CREATE TABLE written_on_17 AS SELECT 1 AS x");

    // Rollback: the plan alone exits 1; a fault after its swap puts 17 back as it was.
    let plan = xtask(&state, &["upgrade", "--rollback"]);
    assert_eq!(plan.code, Some(1), "{plan}");
    assert!(plan.stdout.contains("NOT carried back"), "{plan}");
    let faulted = xtask_env(
        &state,
        &["upgrade", "--rollback", "--yes"],
        &[("CORE_DATA_FAULT", "upgrade-rollback:after-swap")],
    );
    assert_ne!(faulted.code, Some(0), "{faulted}");
    assert!(faulted.stderr.contains("was put back"), "{faulted}");
    t.reload().unwrap();
    assert_eq!(server_major(&t), "17");
    assert_eq!(t.query_one_string("app", HASH), hash);
    assert_eq!(
        t.query_one_string("app", "SELECT count(*)::text FROM written_on_17"),
        "1"
    );
    // The rollback: 15 serves the pre-upgrade data, and archives into the stanza again.
    let rolled = xtask(&state, &["upgrade", "--rollback", "--yes"]);
    assert_eq!(rolled.code, Some(0), "{rolled}");
    println!("{}", rolled.stdout);
    t.reload().unwrap();
    assert_eq!(t.stack.config.pg_major().to_string(), OLD);
    assert_eq!(server_major(&t), OLD);
    assert_eq!(t.query_one_string("app", HASH), hash);
    assert_eq!(
        t.query_one_string("app", "SELECT (to_regclass('written_on_17') IS NULL)::text"),
        "true"
    );
    let archiving = xtask(&state, &["backup", "check"]);
    assert_eq!(archiving.code, Some(0), "{archiving}");

    // The upgrade again, with a fault once the new server is up, before the extensions:
    // the new server may have written to the linked files, so it is not rolled
    // back; the next `up` finishes it.
    let done = xtask_env(
        &state,
        &["upgrade", "--yes", "--to", "17"],
        &[("CORE_DATA_FAULT", "upgrade:after-start")],
    );
    assert_ne!(done.code, Some(0), "{done}");
    assert!(done.stderr.contains("is not put back"), "{done}");
    assert!(
        t.paths().state().join("upgrade-journal.json").exists(),
        "{done}"
    );
    let finished = xtask(&state, &["up"]);
    assert_eq!(finished.code, Some(0), "{finished}");
    assert!(finished.stderr.contains("was finished"), "{finished}");
    assert!(!t.paths().state().join("upgrade-journal.json").exists());
    t.reload().unwrap();
    assert_eq!(t.stack.config.pg_major(), 17);
    assert_eq!(server_major(&t), "17");
    assert_eq!(
        t.query_one_string("app", HASH),
        hash,
        "the content is the same"
    );

    // Every extension at the image's version.
    for database in ["app", "postgres"] {
        let stale = t.query_one_string(
            database,
            "SELECT coalesce(string_agg(e.extname || ' ' || e.extversion || ' vs ' || a.default_version, ', '), '') \
             FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname \
             WHERE a.default_version <> e.extversion",
        );
        assert_eq!(stale, "", "extensions not updated in {database}");
    }
    // Still managed by pg_partman (5.x now): maintenance makes the next partition.
    let partitions = |t: &TestStack| -> i64 {
        t.query_one_string(
            "app",
            "SELECT count(*)::text FROM pg_inherits WHERE inhparent = 'public.events'::regclass",
        )
        .parse()
        .unwrap()
    };
    let before = partitions(&t);
    t.sql(
        "app",
        "UPDATE partman.part_config SET premake = premake + 3 WHERE parent_table = 'public.events'",
    );
    // The procedure commits per partition set: a statement of its own.
    t.sql("app", "CALL partman.run_maintenance_proc()");
    assert!(partitions(&t) > before, "maintenance made no partition");
    // The GiST index is used and valid.
    let near = t.query_one_string(
        "app",
        "SELECT count(*)::text FROM places WHERE geom && ST_MakeEnvelope(-180, -90, 0, 0, 4326)",
    );
    let by_value = t.query_one_string(
        "app",
        "SELECT count(*)::text FROM places WHERE ST_X(geom) <= 0 AND ST_Y(geom) <= 0",
    );
    assert_ne!(near, "0");
    assert_eq!(near, by_value, "the GiST index answers as the values do");
    // The role logs in over TLS with its password.
    let mut reporter = t
        .stack
        .connect_as("reporter", "reporter-secret-pw-1234", "app")
        .expect("the role logs in over verified TLS");
    let count: i64 = reporter
        .query_one("SELECT count(*) FROM places", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 5000);
    // The cron job runs on the new server.
    let since = t.query_one_string("postgres", "SELECT now()::text");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let runs = t.query_one_string(
            "postgres",
            &format!(
                "SELECT count(*)::text FROM cron.job_run_details d JOIN cron.job j USING (jobid) \
                 WHERE j.jobname = 'upgrade-test-tick' AND d.status = 'succeeded' AND d.start_time > '{since}'"
            ),
        );
        if runs != "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cron job did not run after the upgrade"
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    // The old cluster is kept and listed.
    let kept = xtask(&state, &["old-clusters"]);
    assert_eq!(kept.code, Some(0), "{kept}");
    assert!(
        kept.stdout.contains("pgdata.pre-upgrade-") && kept.stdout.contains("PostgreSQL 15"),
        "{kept}"
    );
    // Backups work on the upgraded stanza, and verify.
    let backup = xtask(&state, &["backup", "take", "--verify", "--quick"]);
    assert_eq!(backup.code, Some(0), "{}", backup);
}
