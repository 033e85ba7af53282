//! Ctrl-C: a command interrupted while a `ContainerSpec` guard lives removes
//! that container (a guard's `Drop` never runs on an interrupt; the one
//! handler in `ops::docker` does it) and exits with 130. The interrupted
//! process is this test binary re-run as `interrupted_child`.

use std::time::Duration;

use camino::Utf8PathBuf;
use core_data_ops::docker::{ContainerSpec, Docker};
use core_data_tests::{docker_available, ensure_image, test_config};

const CHILD_ENV: &str = "CORE_DATA_INTERRUPT_TEST_DIR";

/// Not a test on its own: when re-run by the test below, starts a container,
/// writes its ID to `started`, and waits to be interrupted.
#[test]
fn interrupted_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let docker = Docker::connect().unwrap();
    let image = test_config("interrupt", 1, 5432).image().to_owned();
    let running = ContainerSpec::unconfined(&image)
        .entrypoint(&["sleep"])
        .cmd(&["infinity"])
        .start(&docker)
        .unwrap();
    let dir = Utf8PathBuf::from(dir);
    std::fs::write(dir.join("started.tmp"), running.name()).unwrap();
    std::fs::rename(dir.join("started.tmp"), dir.join("started")).unwrap();
    std::thread::sleep(Duration::from_secs(120));
    panic!("never interrupted");
}

#[test]
fn an_interrupt_removes_the_containers_a_command_started() {
    if !docker_available("an_interrupt_removes_the_containers_a_command_started") {
        return;
    }
    ensure_image();
    let dir = tempfile::tempdir().unwrap();
    let dir = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    let child = duct::cmd(
        std::env::current_exe().unwrap(),
        ["--exact", "interrupted_child", "--nocapture"],
    )
    .env(CHILD_ENV, dir.as_str())
    .stdout_null()
    .stderr_capture()
    .unchecked()
    .start()
    .unwrap();
    let started = dir.join("started");
    let mut waited = 0;
    while !started.exists() {
        assert!(waited < 1200, "the child never started its container");
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    let id = std::fs::read_to_string(&started).unwrap();
    let docker = Docker::connect().unwrap();
    assert!(
        docker.inspect_container(&id).unwrap().is_some(),
        "the container runs"
    );

    let pid = child.pids()[0].to_string();
    duct::cmd!("kill", "-INT", pid).run().unwrap();
    let output = child.wait().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        docker.inspect_container(&id).unwrap().is_none(),
        "the interrupted command's container `{id}` must be gone"
    );
}
