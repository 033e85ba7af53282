//! The backup runbooks against a real stack. `restore_drill` (through the CLI
//! binary) takes a full backup, restores it into a throw-away container whose
//! copy answers the row-count and amcheck queries, and records RTO/RPO under
//! `backups/drills/`; pointed at a corrupted copy of the repository it records
//! a failure and exits 1. `provision_qa_masked` clones `app`, the clone's
//! emails and names are masked and the source's are not; the clone is then
//! queried and dropped through `qa::` primitives.

use std::collections::BTreeSet;

use core_data_ops::backup::{oneshot, qa};
use core_data_ops::stack::Stack;
use core_data_runbook::catalog::{self, Catalog, SourceFile};
use core_data_runbook::engine::{Grants, Limits};
use core_data_tests::{
    corrupt_repository_copy, docker_available, run_runbook, xtask, Ran, TestStack,
};

/// What the backup runbooks need: backups and QA clones, and their records.
const WRITES: Grants = Grants {
    sql_writes: false,
    sql_as_superuser: false,
    exec: false,
    backups: true,
    files: true,
    dry_run: false,
};
const CUSTOMERS: i64 = 500;

fn run(t: &TestStack, catalog: &Catalog, name: &str, args: &[(&str, &str)]) -> Ran {
    run_runbook(&t.stack, catalog, name, args, WRITES)
}

/// Removes a QA clone or a volume even when an assertion fails first.
struct Cleanup<'a> {
    stack: &'a Stack,
    clone: Option<&'static str>,
    volume: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.clone {
            let _ = qa::drop_clone(self.stack, name);
        }
        if let Some(volume) = &self.volume {
            let _ = self.stack.docker.remove_volume(volume);
        }
    }
}

fn seed(t: &TestStack) {
    let mut app = t.stack.connect("app").unwrap();
    app.batch_execute(&format!(
        "CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE NOT NULL, full_name text, note text);
         INSERT INTO customers SELECT g, 'person' || g || '@corp.example', 'Person ' || g, 'note ' || g
           FROM generate_series(1, {CUSTOMERS}) g;
         CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, total numeric);
         INSERT INTO orders SELECT g, 1 + g % {CUSTOMERS}, g * 1.5 FROM generate_series(1, 2000) g;"
    ))
    .unwrap();
    let mut shop = t.stack.connect("shop").unwrap();
    shop.batch_execute("CREATE TABLE products (id int PRIMARY KEY, name text); INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 300) g;")
        .unwrap();
}

fn drill_records(t: &TestStack) -> Vec<serde_json::Value> {
    let dir = t.paths().backups_dir().join("drills");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .iter()
        .filter(|n| n.starts_with("drill-") && n.ends_with(".json"))
        .map(|n| serde_json::from_slice(&std::fs::read(dir.join(n)).unwrap()).unwrap())
        .collect()
}

#[test]
fn restore_drill_and_masked_qa_clone_on_a_real_stack() {
    if !docker_available("restore_drill_and_masked_qa_clone_on_a_real_stack") {
        return;
    }
    let t = TestStack::new("rbbackup", 206);
    t.up();
    seed(&t);
    let catalog = catalog::load(&core_data_ops::paths::repo_root(), &[], &Limits::default())
        .unwrap()
        .unwrap_or_else(|rendered| panic!("{rendered}"));

    let label = drill_passes_through_the_cli(&t);
    drill_fails_on_a_corrupted_repository(&t, &catalog, &label);
    masked_qa_clone(&t, &catalog);
}

fn drill_passes_through_the_cli(t: &TestStack) -> String {
    let state = t.paths().state().to_owned();
    // Without the grant nothing happens: the first write (the record) does not exist.
    let out = xtask(&state, &["run", "restore_drill", "take=full"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("Function not found: fs::write_json")
            && out.stderr.contains("`--allow-files`"),
        "{out}"
    );
    // The removed catch-all grant is a usage error naming the split grants.
    let out = xtask(
        &state,
        &["run", "restore_drill", "take=full", "--allow-writes"],
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr.contains("`--allow-writes` was removed")
            && out.stderr.contains("--allow-backups")
            && out.stderr.contains("--allow-files"),
        "{out}"
    );
    assert!(
        !t.paths().backups_dir().join("drills").exists(),
        "nothing may be written"
    );

    let out = xtask(
        &state,
        &[
            "run",
            "restore_drill",
            "take=full",
            "--allow-files",
            "--allow-backups",
        ],
    );
    assert_eq!(
        out.code,
        Some(0),
        "the drill must pass on a good backup:\n{out}"
    );
    assert!(out.stdout.contains("= RTO "), "{out}");
    let records = drill_records(t);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    eprintln!("restore_drill record:\n{r:#}");
    assert_eq!(r["status"], "passed", "{r:#}");
    assert_eq!(r["passed"], true);
    assert_eq!(r["took_backup"], true);
    assert_eq!(r["set_type"], "full");
    let rto = r["rto_seconds"].as_f64().unwrap();
    let rpo = r["rpo_seconds"].as_f64().unwrap();
    assert!(rto > 0.0 && rto < 900.0, "RTO {rto}");
    // The set was taken seconds ago and WAL is archived continuously.
    assert!((0.0..600.0).contains(&rpo), "RPO {rpo}");
    assert!(
        (r["restore_seconds"].as_f64().unwrap() + r["recovery_seconds"].as_f64().unwrap() - rto)
            .abs()
            < 0.2,
        "{r:#}"
    );
    // Evidence that the restored copy answered queries: every table counted, in every database.
    assert!(
        r["databases_checked"].as_i64().unwrap() >= 3,
        "postgres, app and shop: {r:#}"
    );
    assert!(
        r["tables_compared"].as_i64().unwrap() >= 3,
        "customers, orders, products: {r:#}"
    );
    assert_eq!(r["count_mismatches"], 0);
    assert!(
        r["amcheck"].as_str().unwrap().contains("no corruption"),
        "{r:#}"
    );
    assert!(
        r["checksums"]
            .as_str()
            .unwrap()
            .contains("Bad checksums:  0"),
        "{r:#}"
    );
    let csv = std::fs::read_to_string(t.paths().backups_dir().join("drills/drills.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains(",full,true,"), "{csv}");
    r["set"].as_str().unwrap().to_owned()
}

fn drill_fails_on_a_corrupted_repository(t: &TestStack, catalog: &Catalog, label: &str) {
    let volume = corrupt_repository_copy(&t.stack, label);
    let _cleanup = Cleanup {
        stack: &t.stack,
        clone: None,
        volume: Some(volume),
    };
    let ran = run(
        t,
        catalog,
        "restore_drill",
        &[("set", label), ("repo_copy", "corrupt")],
    );
    assert_eq!(
        ran.result,
        Ok(1),
        "a drill of a corrupted repository must exit 1:\n{ran}"
    );
    assert!(ran.stdout.contains("FAIL  "), "{ran}");
    let records = drill_records(t);
    assert_eq!(records.len(), 2, "{records:#?}");
    let failed = records
        .iter()
        .find(|r| r["repo_copy"] == "corrupt")
        .expect("the failed drill's record");
    assert_eq!(failed["passed"], false, "{failed:#}");
    assert_eq!(failed["status"], "failed");
    assert!(
        !failed["failures"].as_array().unwrap().is_empty(),
        "{failed:#}"
    );
    eprintln!(
        "drill of the corrupted copy failed as it should: {}",
        failed["failures"]
    );

    // A copy that does not exist is refused, not created.
    let ran = run(t, catalog, "restore_drill", &[("repo_copy", "nothere")]);
    let err = ran.result.unwrap_err();
    assert!(
        err.contains("there is no repository copy") && err.contains("kind: not_found"),
        "{err}"
    );
    let exists = t
        .stack
        .docker
        .volume_exists(&format!(
            "{}_nothere",
            oneshot::volume_name(&t.stack, "pgbackrest")
        ))
        .unwrap();
    assert!(!exists, "the missing copy must not be created by the check");
}

fn strings(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn masked_qa_clone(t: &TestStack, catalog: &Catalog) {
    let _cleanup = Cleanup {
        stack: &t.stack,
        clone: Some("qa_masked"),
        volume: None,
    };
    let args = [
        ("db", "app"),
        ("columns", "customers.email,customers.full_name"),
        ("name", "qa_masked"),
    ];
    let ran = run(t, catalog, "provision_qa_masked", &args);
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(
        ran.stdout.contains(&format!(
            "masked {CUSTOMERS} value(s) of customers.email (email)"
        )),
        "{ran}"
    );
    assert!(
        ran.stdout.contains(&format!(
            "masked {CUSTOMERS} value(s) of customers.full_name (name)"
        )),
        "{ran}"
    );

    let clones = qa::list(&t.stack).unwrap();
    assert_eq!(clones.len(), 1, "{clones:?}");
    let clone = &clones[0];
    assert_eq!(clone.database, "app");
    assert!(
        clone.expires.ends_with('Z') && clone.expires.len() == 20,
        "expiry label: {:?}",
        clone.expires
    );
    assert!(
        ran.stdout
            .contains(&format!("is up on 127.0.0.1:{}", clone.port)),
        "{ran}"
    );

    let mut live = t.stack.connect("app").unwrap();
    let mut copy = qa::connect(&t.stack, clone, "app").unwrap();
    let live_emails: BTreeSet<String> = strings(&mut live, "SELECT email FROM customers")
        .into_iter()
        .collect();
    let copy_emails: BTreeSet<String> = strings(&mut copy, "SELECT email FROM customers")
        .into_iter()
        .collect();
    assert_eq!(
        copy_emails.len(),
        usize::try_from(CUSTOMERS).unwrap(),
        "masks stay distinct (the column is UNIQUE)"
    );
    assert!(
        live_emails.is_disjoint(&copy_emails),
        "no original email may survive in the clone"
    );
    let bad: i64 = copy
        .query_one(
            "SELECT count(*) FROM customers WHERE email !~ '^u[0-9a-f]{12}@example\\.invalid$' \
                OR full_name !~ '^Name [0-9A-F]{8}$'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bad, 0, "every masked value follows its format");
    // Unmasked columns and other tables are as in the source.
    let notes = "SELECT string_agg(note, ',' ORDER BY id) FROM customers";
    assert_eq!(strings(&mut copy, notes), strings(&mut live, notes));
    let orders = "SELECT count(*)::text FROM orders";
    assert_eq!(strings(&mut copy, orders), strings(&mut live, orders));
    // The source is untouched.
    let originals: i64 = live
        .query_one("SELECT count(*) FROM customers WHERE email = 'person' || id || '@corp.example' AND full_name = 'Person ' || id", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        originals, CUSTOMERS,
        "the live database keeps its original values"
    );
    drop(copy);

    // Query and drop the clone through the primitives.
    let text = r#"
/// Reads from a clone, then drops it.
fn check_and_drop(args) {
    let rows = qa::query(args.name, "app", "SELECT count(*) AS n, min(email) AS first FROM customers WHERE email LIKE $1", ["u%"]);
    print(`${rows[0].n} ${rows[0].first}`);
    try {
        qa::query(args.name, "app", "DELETE FROM customers", []);
    } catch (e) {
        print(`read-only: ${e.sqlstate}`);
    }
    print(qa::drop(args.name));
    print(qa::list().len());
}
"#;
    let file = SourceFile {
        name: "qa.rhai".to_owned(),
        text: text.to_owned(),
    };
    let drop_catalog =
        Catalog::compile(vec![file], &Limits::default()).unwrap_or_else(|diag| panic!("{diag}"));
    let ran = run(t, &drop_catalog, "check_and_drop", &[("name", "qa_masked")]);
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(
        ran.stdout.contains(&format!("qa.rhai:5: {CUSTOMERS} u")),
        "{ran}"
    );
    assert!(ran.stdout.contains("qa.rhai:9: read-only: 25006"), "{ran}");
    assert!(
        ran.stdout.contains("qa.rhai:11: true\nqa.rhai:12: 0\n"),
        "{ran}"
    );
    assert!(qa::list(&t.stack).unwrap().is_empty());
}
