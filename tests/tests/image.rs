//! The image alone, started by testcontainers without compose: the
//! entrypoint's first boot installs the bundle into template1, the server runs
//! as the configured UID, no compilers are left, and the manifest is inside.

use std::time::{Duration, Instant};

use core_data_ops::backup::oneshot;
use core_data_ops::docker::Docker;
use core_data_ops::paths::Paths;
use core_data_ops::pg::{self, bootstrap};
use core_data_ops::{render, secrets, tls};
use core_data_tests::{docker_available, ensure_image, free_port, test_config};
use testcontainers::core::{AccessMode, ExecCommand, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{GenericImage, ImageExt};

/// A Docker network with a given subnet, removed on drop (after the containers on it).
struct Network {
    docker: Docker,
    name: String,
}

impl Network {
    fn create(name: &str, subnet: &str) -> Network {
        let docker = Docker::connect().unwrap();
        docker.remove_network(name).unwrap();
        docker
            .create_network(name, subnet)
            .unwrap_or_else(|err| panic!("creating network `{name}`: {err:#}"));
        Network {
            docker,
            name: name.to_owned(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.docker.remove_network(&self.name);
    }
}

#[test]
fn image_first_boot_under_testcontainers() {
    if !docker_available("image_first_boot_under_testcontainers") {
        return;
    }
    ensure_image();
    let state = tempfile::tempdir().unwrap();
    let paths = Paths::from_repo(Some(
        camino::Utf8PathBuf::from_path_buf(state.path().to_owned()).unwrap(),
    ));
    let config = test_config("image", 202, free_port());
    secrets::ensure(&paths, &config, false).unwrap();
    render::write(&paths, &config).unwrap();
    let tls_files = tls::files(&paths);
    let (name, tag) = config.image().split_once(':').unwrap();
    // pg_hba admits the superuser only from the stack's subnet: the container runs on a
    // network with that subnet, so the host's connection arrives from its gateway.
    let network = Network::create(
        &format!("{}_net", config.project()),
        config.get("NETWORK_SUBNET"),
    );

    let mut image = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr("first boot complete"))
        .with_wait_for(WaitFor::message_on_stderr(
            "core_data-entrypoint: starting PostgreSQL",
        ))
        .with_user(format!("{}:{}", config.uid(), config.gid()))
        .with_cap_drop("ALL")
        .with_security_opt("no-new-privileges:true")
        .with_env_var("POSTGRES_SUPERUSER", config.superuser())
        .with_startup_timeout(Duration::from_secs(300))
        .with_network(network.name.clone());
    // The same read-only configuration, password and TLS files as the service and QA clones.
    for mount in oneshot::server_mounts(&paths) {
        let source = mount.source.expect("a bind mount has a source");
        image = image.with_mount(
            Mount::bind_mount(source, mount.target).with_access_mode(AccessMode::ReadOnly),
        );
    }
    let container = image
        .start()
        .expect("the image starts under testcontainers");

    let port = container.get_host_port_ipv4(5432.tcp()).unwrap();
    let password = secrets::read(&secrets::superuser_password_file(&paths)).unwrap();
    let target = pg::Target {
        host: "127.0.0.1",
        port,
        user: "postgres",
        database: "template1",
        ca_cert: &tls_files.ca_cert,
    };
    let started = Instant::now();
    let mut client = loop {
        match pg::connect(&target, &password) {
            Ok(client) => break client,
            Err(err) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("waiting for the server: {err:#}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(err) => panic!("the server never accepted a TLS connection: {err:#}"),
        }
    };
    let installed: Vec<(String, String)> = client
        .query("SELECT extname::text, extversion FROM pg_extension", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for ext in bootstrap::extensions_for("template1") {
        assert!(
            installed.iter().any(|(name, _)| name == ext),
            "`{ext}` missing from template1: {installed:?}"
        );
    }
    let checksums: String = client.query_one("SHOW data_checksums", &[]).unwrap().get(0);
    assert_eq!(checksums, "on", "initdb must enable data checksums");
    let waldir = exec(
        &container,
        &["readlink", "/var/lib/postgresql/data/pgdata/pg_wal"],
    );
    assert_eq!(
        waldir.trim(),
        "/var/lib/postgresql/wal/pg_wal",
        "WAL lives in its own volume"
    );

    let status = exec(&container, &["cat", "/proc/1/status"]);
    let uid_line = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|id| id == config.uid().to_string()),
        "{uid_line}"
    );

    let manifest = exec(&container, &["cat", "/usr/share/core_data/manifest.tsv"]);
    assert!(
        manifest
            .lines()
            .any(|line| line.starts_with("postgresql-17\t17.")),
        "manifest lacks postgresql-17"
    );
    assert!(
        manifest
            .lines()
            .any(|line| line.starts_with("pgbackrest\t")),
        "manifest lacks pgbackrest"
    );
    let compilers: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.split('\t').next())
        .filter(|package| is_compiler_package(package))
        .collect();
    assert!(
        compilers.is_empty(),
        "compilers left in the image: {compilers:?}"
    );
    // Nor a compiler binary from anywhere else.
    let found = exec(
        &container,
        &[
            "find",
            "/usr/bin",
            "/usr/local/bin",
            "-name",
            "gcc*",
            "-o",
            "-name",
            "cc",
            "-o",
            "-name",
            "clang*",
            "-o",
            "-name",
            "c++",
            "-o",
            "-name",
            "g++*",
            "-o",
            "-name",
            "make",
        ],
    );
    assert_eq!(found.trim(), "", "compiler binaries in the image");
}

/// `gcc`, `gcc-14`, `g++-14`, `cpp-14`, `clang-19`, `make`… (versioned names included).
fn is_compiler_package(package: &str) -> bool {
    ["gcc", "g++", "cpp", "clang", "cc", "make"]
        .iter()
        .any(|compiler| {
            package == *compiler
                || package
                    .strip_prefix(compiler)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| {
                        !version.is_empty()
                            && version.chars().all(|c| c.is_ascii_digit() || c == '.')
                    })
        })
}

#[test]
fn versioned_compiler_packages_are_recognised() {
    for package in ["gcc", "gcc-14", "g++-14", "cpp-14", "clang-19", "make"] {
        assert!(is_compiler_package(package), "{package}");
    }
    for package in [
        "gcc-14-base",
        "libgcc-s1",
        "cpp-httplib",
        "makedev",
        "ccache-doc",
    ] {
        assert!(!is_compiler_package(package), "{package}");
    }
}

fn exec(container: &testcontainers::Container<GenericImage>, argv: &[&str]) -> String {
    let mut result = container
        .exec(ExecCommand::new(argv.iter().copied()))
        .expect("exec");
    String::from_utf8(result.stdout_to_vec().expect("stdout")).expect("utf-8")
}
