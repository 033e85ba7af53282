//! Shared helpers of the full-workflow tests: the Docker gate, isolated stacks
//! (own state directory, compose project, port and subnet, torn down on drop),
//! the image built once per test process, and running the real CLI binary.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::config::{sizing::Resources, Config};
use core_data_ops::docker::Docker;
use core_data_ops::paths::Paths;
use core_data_ops::progress::Quiet;
use core_data_ops::stack::Stack;
use core_data_ops::{image, secrets};

/// True when the Docker engine answers. Without it: in CI (`CI` set) or with
/// `CORE_DATA_REQUIRE_DOCKER=1` the test fails; elsewhere it says loudly that
/// it is skipped.
pub fn docker_available(test: &str) -> bool {
    match Docker::connect().and_then(|docker| docker.server_version()) {
        Ok(_) => true,
        Err(err) => {
            if std::env::var_os("CI").is_some() || std::env::var_os("CORE_DATA_REQUIRE_DOCKER").is_some() {
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
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    BUILT.get_or_init(|| {
        let state = tempfile::tempdir().expect("tempdir");
        let paths = Paths::from_repo(Some(utf8(state.path())));
        let config = test_config("image", 1, 5432);
        image::build::ensure(&Docker::connect().expect("docker"), &paths, &config, false, &Quiet)
            .unwrap_or_else(|err| panic!("building the image failed: {err:#}"));
    });
}

fn utf8(path: &std::path::Path) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(path.to_owned()).expect("UTF-8 temp path")
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A configuration for an isolated test stack: small memory, its own project, port and subnet.
pub fn test_config(name: &str, subnet: u8, port: u16) -> Config {
    let project = format!("cdt_{name}_{}", std::process::id());
    let overrides: BTreeMap<String, String> = [
        ("COMPOSE_PROJECT_NAME", project),
        ("POSTGRES_HOST_PORT", port.to_string()),
        ("NETWORK_SUBNET", format!("172.30.{subnet}.0/24")),
        ("APP_DATABASES", "app:app,shop:shop_owner".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Config::from_overrides(&overrides, Resources { memory_mb: 1024, cpus: 2 }).expect("test config")
}

/// An isolated stack. Dropping it removes its containers, volumes and state.
pub struct TestStack {
    pub stack: Stack,
    _state: tempfile::TempDir,
}

impl TestStack {
    /// Writes config and secrets into a fresh state directory. `subnet` must be
    /// unique among tests that run at the same time (it is the third octet).
    pub fn new(name: &str, subnet: u8) -> TestStack {
        ensure_image();
        let state = tempfile::tempdir().expect("tempdir");
        let paths = Paths::from_repo(Some(utf8(state.path())));
        let config = test_config(name, subnet, free_port());
        config.write(&paths.env_file()).expect("write .env");
        secrets::ensure(&paths, &config, false).expect("secrets");
        let stack = Stack::new(paths, config).expect("docker");
        TestStack { stack, _state: state }
    }

    pub fn paths(&self) -> &Paths {
        &self.stack.paths
    }

    /// Rewrites one `.env` key and reloads the stack's configuration from disk.
    pub fn set(&mut self, key: &str, value: &str) {
        let env = self.paths().env_file();
        let text = std::fs::read_to_string(&env).expect("read .env");
        let mut found = false;
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with(&format!("{key}=")) {
                    found = true;
                    format!("{key}={value}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert!(found, "`{key}` is not in .env");
        std::fs::write(&env, text).expect("write .env");
        self.stack.config = Config::load(self.paths()).expect("reload config");
    }

    pub fn up(&self) -> core_data_ops::stack::UpReport {
        self.stack.up(&Quiet).unwrap_or_else(|err| panic!("`up` failed: {err:#}"))
    }

    pub fn query_one_string(&self, database: &str, sql: &str) -> String {
        let mut client = self.stack.connect(database).unwrap_or_else(|err| panic!("connect: {err:#}"));
        client.query_one(sql, &[]).unwrap_or_else(|err| panic!("`{sql}` failed: {err}")).get(0)
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if std::env::var_os("CORE_DATA_KEEP_TEST_STACKS").is_some() {
            eprintln!("keeping stack `{}` (CORE_DATA_KEEP_TEST_STACKS)", self.stack.config.project());
            return;
        }
        if let Err(err) = self.stack.down(true, &Quiet) {
            eprintln!("warning: could not remove test stack `{}`: {err:#}", self.stack.config.project());
        }
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
        write!(f, "exit code: {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Builds the `xtask` binary once, then runs it with `args` against `state`.
pub fn xtask(state: &Utf8Path, args: &[&str]) -> CliOutput {
    static BIN: OnceLock<Utf8PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--package", "xtask", "--bin", "xtask"])
            .current_dir(core_data_ops::paths::repo_root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the xtask binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map_or_else(|_| core_data_ops::paths::repo_root().join("target"), Utf8PathBuf::from);
        target.join("debug/xtask")
    });
    let output = Command::new(bin)
        .arg("--state")
        .arg(state.as_str())
        .args(args)
        .env_remove("CORE_DATA_STATE")
        .output()
        .expect("run xtask");
    CliOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
