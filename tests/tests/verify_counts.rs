//! `backup --verify`'s row counts on a cluster that is not standing still: an
//! unlogged table (restored empty) and another session's temporary table (not
//! readable) do not break verify, and rows written during and right after the
//! backup show up as warnings, not failures; a difference on a table nobody
//! wrote to still fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use core_data_ops::backup::physical::{self, Kind, RowCounts};
use core_data_ops::backup::verify::{self, Depth};
use core_data_ops::progress::Quiet;
use core_data_tests::{docker_available, TestStack};

#[test]
fn verify_tolerates_writes_unlogged_and_temp_tables() {
    if !docker_available("verify_tolerates_writes_unlogged_and_temp_tables") {
        return;
    }
    let t = TestStack::new("verifycnt", 207);
    t.up();
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute(
            "CREATE TABLE quiet AS SELECT g AS id FROM generate_series(1, 500) g;
             CREATE TABLE busy (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
             CREATE UNLOGGED TABLE scratch AS SELECT g AS id FROM generate_series(1, 300) g;",
        )
        .unwrap();
    // Another session's temporary table, alive through the backup and the count.
    let mut holder = t.stack.connect("app").unwrap();
    holder
        .batch_execute("CREATE TEMP TABLE mine AS SELECT g FROM generate_series(1, 10) g")
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut client = t.stack.connect("app").unwrap();
        std::thread::spawn(move || {
            let mut rows = 0u64;
            while !stop.load(Ordering::Relaxed) {
                client
                    .batch_execute("INSERT INTO busy DEFAULT VALUES")
                    .unwrap();
                rows += 1;
            }
            rows
        })
    };
    let set = physical::backup(&t.stack, Some(Kind::Full), &Quiet)
        .unwrap_or_else(|err| panic!("backup: {err:#}"));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        written > 10,
        "the writer wrote during the backup ({written} rows)"
    );

    let recorded = physical::recorded_counts(&t.stack, &set.label)
        .unwrap()
        .unwrap();
    let tables = &recorded["app"];
    assert!(
        tables.contains_key("public.quiet") && tables.contains_key("public.busy"),
        "{tables:?}"
    );
    assert!(
        !tables.contains_key("public.scratch") && !tables.keys().any(|k| k.ends_with(".mine")),
        "only permanent tables are counted: {tables:?}"
    );

    let report = verify::verify(&t.stack, Some(&set.label), None, Depth::Thorough, &Quiet)
        .unwrap_or_else(|err| panic!("verify: {err:#}"));
    assert!(
        report.passed(),
        "writes, unlogged and temp tables must not fail verify: {report:#?}"
    );
    let counts = report.counts.clone().expect("counts compared");
    assert!(
        counts
            .warnings
            .iter()
            .any(|w| w.contains("public.busy") && w.contains("drift")),
        "rows written after the backup ended are reported as drift: {counts:?}"
    );

    // A difference on a table nobody wrote to is still a failure.
    let file = physical::counts_file(&t.stack, &set.label);
    let mut tampered: RowCounts = recorded.clone();
    *tampered
        .get_mut("app")
        .unwrap()
        .get_mut("public.quiet")
        .unwrap() += 1;
    std::fs::write(&file, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let report = verify::verify(&t.stack, Some(&set.label), None, Depth::Thorough, &Quiet).unwrap();
    assert!(!report.passed(), "{report:#?}");
    assert!(
        report.failures.iter().any(|f| f.contains("public.quiet")),
        "{:?}",
        report.failures
    );
    drop(holder);
}
