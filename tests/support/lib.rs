//! Shared helpers of the full-workflow tests: the Docker gate, isolated stacks
//! (own state directory, compose project, port and subnet, torn down on drop),
//! the image built once per test process, running the real CLI binary, and a
//! headless browser (`browser`).

pub mod browser;

use std::collections::BTreeMap;

use std::sync::{Arc, Mutex, OnceLock};

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::backup::oneshot;
use core_data_ops::config::{sizing::Resources, Config};
use core_data_ops::docker::{ContainerSpec, Docker, Mount};
use core_data_ops::image;
use core_data_ops::paths::Paths;

use core_data_ops::progress::Quiet;
use core_data_ops::scratch::Scratch;
use core_data_ops::stack::Stack;
use core_data_runbook::catalog::Catalog;
use core_data_runbook::engine::{Captured, Grants, Limits};

/// True when the Docker engine answers. Without it: in CI (`CI` set) or with
/// `CORE_DATA_REQUIRE_DOCKER=1` the test fails; elsewhere it says loudly that
/// it is skipped.
pub fn docker_available(test: &str) -> bool {
    match Docker::connect().and_then(|docker| docker.server_version()) {
        Ok(_) => true,
        Err(err) => {
            if std::env::var_os("CI").is_some()
                || std::env::var_os("CORE_DATA_REQUIRE_DOCKER").is_some()
            {
                panic!("{test}: Docker is required here but not available: {err:#}");
            }
            eprintln!("\n!!!!! SKIPPING {test}: Docker is not available ({err:#}).\n!!!!! Set CORE_DATA_REQUIRE_DOCKER=1 to make this a failure.\n");
            false
        }
    }
}

/// Builds (or finds fresh) the platform image once per test process.
pub fn ensure_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    BUILT.get_or_init(|| {
        let state = tempfile::tempdir().expect("tempdir");
        let paths = Paths::from_repo(Some(utf8(state.path())));
        let config = test_config("image", 1, 5432);
        image::build::ensure(
            &Docker::connect().expect("docker"),
            &paths,
            &config,
            false,
            &Quiet,
        )
        .unwrap_or_else(|err| panic!("building the image failed: {err:#}"));
    });
}

fn utf8(path: &std::path::Path) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(path.to_owned()).expect("UTF-8 temp path")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    core_data_ops::scratch::free_port().expect("free port")
}

/// Test stacks are small and carry two application databases; the dashboard
/// (on by default) runs only where a test turns its profile on.
pub const TEST_OVERRIDES: &[(&str, &str)] = &[
    ("APP_DATABASES", "app:app,shop:shop_owner"),
    ("COMPOSE_PROFILES", ""),
];

/// `TEST_OVERRIDES`, plus `POSTGRES_IMAGE` from `CORE_DATA_TEST_IMAGE` when set, so two
/// checkouts testing different image inputs on one Docker engine do not rebuild each
/// other's image under the same tag.
pub fn test_overrides() -> Vec<(&'static str, &'static str)> {
    let mut overrides = TEST_OVERRIDES.to_vec();
    if let Ok(image) = std::env::var("CORE_DATA_TEST_IMAGE") {
        overrides.push(("POSTGRES_IMAGE", Box::leak(image.into_boxed_str())));
    }
    overrides
}
pub const TEST_RESOURCES: Resources = Resources {
    memory_mb: 1024,
    cpus: 2,
};

/// A configuration like a test stack's, for tests that run the image without compose.
pub fn test_config(name: &str, subnet: u8, port: u16) -> Config {
    let project = format!("cdt_{name}_{}", std::process::id());
    let mut overrides: BTreeMap<String, String> = test_overrides()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    overrides.insert("COMPOSE_PROJECT_NAME".to_owned(), project);
    overrides.insert("POSTGRES_HOST_PORT".to_owned(), port.to_string());
    overrides.insert("NETWORK_SUBNET".to_owned(), format!("172.30.{subnet}.0/24"));
    Config::from_overrides(&overrides, TEST_RESOURCES).expect("test config")
}

/// An isolated stack (an `ops::scratch::Scratch` with test defaults); dropping it
/// removes its containers, volumes and state. Fields of the scratch (`stack`)
/// are reachable through `Deref`.
pub struct TestStack {
    scratch: Scratch,
}

impl std::ops::Deref for TestStack {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.scratch
    }
}

impl std::ops::DerefMut for TestStack {
    fn deref_mut(&mut self) -> &mut Scratch {
        &mut self.scratch
    }
}

impl TestStack {
    /// Writes config and secrets into a fresh state directory. `subnet` must be
    /// unique among tests that run at the same time (it is the third octet).
    pub fn new(name: &str, subnet: u8) -> TestStack {
        ensure_image();
        let mut overrides = test_overrides();
        // `CORE_DATA_TEST_NET=31` moves this checkout's stacks to 172.31.<subnet>.0/24,
        // so two checkouts can run the same test on one engine.
        if let Ok(net) = std::env::var("CORE_DATA_TEST_NET") {
            let subnet = format!("172.{net}.{subnet}.0/24");
            overrides.push(("NETWORK_SUBNET", Box::leak(subnet.into_boxed_str())));
        }
        let scratch = Scratch::create(name, subnet, &overrides, TEST_RESOURCES)
            .unwrap_or_else(|err| panic!("creating test stack `{name}` failed: {err:#}"));
        TestStack { scratch }
    }

    pub fn paths(&self) -> &Paths {
        &self.scratch.stack.paths
    }

    /// Rewrites one `.env` key and reloads the stack's configuration from disk.
    pub fn set(&mut self, key: &str, value: &str) {
        let env = self.paths().env_file();
        let text = std::fs::read_to_string(&env).expect("read .env");
        let prefix = format!("{key}=");
        assert!(
            text.lines().any(|line| line.starts_with(&prefix)),
            "`{key}` is not in .env"
        );
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with(&prefix) {
                    format!("{key}={value}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        std::fs::write(&env, text).expect("write .env");
        self.scratch.reload().expect("reload config");
    }

    pub fn up(&self) -> core_data_ops::stack::UpReport {
        self.scratch
            .stack
            .up(&Quiet)
            .unwrap_or_else(|err| panic!("`up` failed: {err:#}"))
    }

    /// Runs `statements` as the superuser in `database`, panicking with the server's message.
    pub fn sql(&self, database: &str, statements: &str) {
        let mut client = self
            .scratch
            .stack
            .connect(database)
            .unwrap_or_else(|e| panic!("connect to {database}: {e:#}"));
        client.batch_execute(statements).unwrap_or_else(|e| {
            panic!(
                "`{statements}` in `{database}` failed: {}",
                core_data_ops::pg::server_message(&e)
            )
        });
    }

    pub fn query_one_string(&self, database: &str, sql: &str) -> String {
        let mut client = self
            .scratch
            .stack
            .connect(database)
            .unwrap_or_else(|err| panic!("connect: {err:#}"));
        client
            .query_one(sql, &[])
            .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"))
            .get(0)
    }
}

/// The result of running the CLI binary.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Builds the `xtask` binary once, then runs it with `args` against `state`.
pub fn xtask(state: &Utf8Path, args: &[&str]) -> CliOutput {
    xtask_env(state, args, &[])
}

/// `xtask` with extra environment variables (e.g. `CORE_DATA_FAULT`) for this run only.
pub fn xtask_env(state: &Utf8Path, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    finish(
        xtask_command_env(state, args, env)
            .start()
            .expect("run xtask"),
    )
}

/// The `xtask` binary (built once) with `args` against `state`, output captured,
/// not yet started: `.start()` it for tests that run two commands at the same time.
pub fn xtask_command(state: &Utf8Path, args: &[&str]) -> duct::Expression {
    xtask_command_env(state, args, &[])
}

/// `xtask_command` with `env` set for this run only. (duct applies an inner
/// expression's environment after an outer one's: the variables are set on the
/// command itself, the inherited ones removed around it.)
fn xtask_command_env(state: &Utf8Path, args: &[&str], env: &[(&str, &str)]) -> duct::Expression {
    static BIN: OnceLock<Utf8PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        duct::cmd(
            cargo,
            [
                "build",
                "--quiet",
                "--package",
                "xtask",
                "--bin",
                "xtask",
                "--features",
                "fault-injection",
            ],
        )
        .dir(core_data_ops::paths::repo_root())
        .run()
        .expect("building the xtask binary failed");
        let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
            |_| core_data_ops::paths::repo_root().join("target"),
            Utf8PathBuf::from,
        );
        target.join("debug/xtask")
    });
    let mut argv = vec!["--state", state.as_str()];
    argv.extend_from_slice(args);
    let mut command = duct::cmd(bin.as_std_path(), argv);
    for (key, value) in env {
        command = command.env(key, value);
    }
    command
        .env_remove("CORE_DATA_STATE")
        .env_remove("CORE_DATA_FAULT")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
}

/// Collects a started `xtask_command`'s output.
pub fn finish(handle: duct::Handle) -> CliOutput {
    let output = handle.into_output().expect("wait for xtask");
    CliOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A copy of the stack's pgBackRest repository (volume `<project>_pgbackrest_corrupt`)
/// with bytes flipped in one data file of backup set `label`. Returns the volume's name.
pub fn corrupt_repository_copy(stack: &Stack, label: &str) -> String {
    let repo = oneshot::volume_name(stack, "pgbackrest");
    let corrupt = format!("{repo}_corrupt");
    let user = format!("{}:{}", stack.config.uid(), stack.config.gid());
    let image = stack.config.image();
    let docker = &stack.docker;
    let dst = Mount::volume(corrupt.clone(), "/dst", false);
    let run = |argv: &[&str]| {
        ContainerSpec::unconfined(image)
            .user(user.as_str())
            .mount(Mount::volume(repo.clone(), "/src", true))
            .mount(dst.clone())
            .entrypoint(&argv[..1])
            .cmd(&argv[1..])
            .run_ok(docker)
            .unwrap()
    };
    docker.remove_volume(&corrupt).unwrap();
    ContainerSpec::unconfined(image)
        .user("0")
        .mount(dst.clone())
        .entrypoint(&["chown"])
        .cmd(&[user.as_str(), "/dst"])
        .run_ok(docker)
        .unwrap();
    run(&["cp", "-a", "/src/.", "/dst/"]);
    let backup_dir = format!("/dst/backup/main/{label}/pg_data/base");
    let files = run(&["find", &backup_dir, "-type", "f", "-size", "+20k"]);
    let victim = files
        .lines()
        .next()
        .expect("a data file in the backup set")
        .to_owned();
    let of = format!("of={victim}");
    run(&[
        "dd",
        "if=/dev/urandom",
        &of,
        "bs=1",
        "count=64",
        "seek=200",
        "conv=notrunc",
    ]);
    corrupt
}

/// One runbook file compiled on its own (a compile error panics with its diagnostic).
pub fn compile_script(name: &str, text: &str) -> Catalog {
    let file = core_data_runbook::catalog::SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    Catalog::compile(vec![file], &Limits::default()).unwrap_or_else(|diag| panic!("{diag}"))
}

/// The result of a runbook run against a real stack.
pub struct Ran {
    pub result: Result<u8, String>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "result: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.result, self.stdout, self.stderr
        )
    }
}

/// Runs runbook `name` of `catalog` on `stack` with `args`, capturing its output.
pub fn run_runbook(
    stack: &Stack,
    catalog: &Catalog,
    name: &str,
    args: &[(&str, &str)],
    grants: Grants,
) -> Ran {
    let output = Arc::new(Captured::default());
    let args: BTreeMap<String, String> = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let result = core_data_runbook::run_on_stack(
        stack,
        catalog,
        name,
        &args,
        grants,
        &Limits::default(),
        output.clone(),
    )
    .unwrap_or_else(|err| panic!("running `{name}` failed to start: {err:#}"));
    let stdout = output.stdout.lock().unwrap().clone();
    let stderr = output.stderr.lock().unwrap().clone();
    Ran {
        result,
        stdout,
        stderr,
    }
}
