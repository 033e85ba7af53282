//! A headless Chromium for the full-workflow tests: the `tests/browser/` image
//! (Debian's `chromium` and `chromium-driver` on the platform's base image,
//! built once per test process), started as a confined container and driven
//! from the host over WebDriver (fantoccini) through chromedriver's port,
//! published on 127.0.0.1 only. Page actions are in `page.rs`, the console
//! errors and failed requests in `problems.rs`. The container is removed when
//! the [`Browser`] is dropped, also when a test panics (`ContainerSpec`'s guard)
//! or is interrupted (its Ctrl-C handler).

mod page;
mod problems;

pub use page::Cookie;
pub use problems::{ConsoleError, FailedRequest, Problems};

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::docker::{ContainerSpec, Docker, Mount, Running};
use core_data_ops::image::on_base;
use core_data_ops::progress::Quiet;

/// The image the tests build from `tests/browser/`.
pub const IMAGE: &str = "core-data/browser:trixie";
/// Where a CA given to [`BrowserOptions::trust_ca`] is mounted; the image's
/// entrypoint adds it to Chromium's NSS database before chromedriver starts.
const CA_TARGET: &str = "/etc/core_data/browser/ca.crt";
/// chromedriver's port in the container.
const DRIVER_PORT: u16 = 9515;
/// The longest any one WebDriver command may take (page loads are capped at 30 s
/// by the session's own timeout, so this only catches a hung driver).
const COMMAND_DEADLINE: Duration = Duration::from_secs(90);

/// The browser account's UID and GID (the stack's, as for every image built on
/// the base), known once the image is built.
static ACCOUNT: OnceLock<(u32, u32)> = OnceLock::new();

/// Builds (or finds fresh) the browser image once per test process, like
/// [`crate::ensure_image`] does the platform image. Returns the account's UID and GID.
pub fn ensure_browser_image() -> (u32, u32) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *ACCOUNT.get_or_init(|| {
        let config = crate::test_config("browser", 1, 5432);
        let dir = core_data_ops::paths::repo_root().join("tests/browser");
        let docker = Docker::connect().expect("docker");
        let started = Instant::now();
        let outcome = on_base::ensure(&docker, &config, IMAGE, &dir, None, &Quiet)
            .unwrap_or_else(|err| panic!("building the browser image failed: {err:#}"));
        eprintln!(
            "browser image {IMAGE}: {outcome:?} in {:.0}s",
            started.elapsed().as_secs_f64()
        );
        (config.uid(), config.gid())
    })
}

/// Where a browser starts: its network, what it may read, which CA it trusts.
#[derive(Debug, Clone, Default)]
pub struct BrowserOptions {
    network: Option<String>,
    mounts: Vec<(Utf8PathBuf, String)>,
    ca: Option<Utf8PathBuf>,
}

impl BrowserOptions {
    /// Docker's default bridge network, nothing mounted, no extra CA.
    pub fn new() -> BrowserOptions {
        BrowserOptions::default()
    }

    /// Joins `network` (e.g. a stack's compose network, to open
    /// `https://dashboard:PORT/`) instead of Docker's default bridge. It must
    /// be a bridge network that is not `internal`: chromedriver's port is
    /// published through it.
    pub fn network(mut self, network: impl Into<String>) -> BrowserOptions {
        self.network = Some(network.into());
        self
    }

    /// Mounts the host directory `host` read-only at `target` (pages opened as
    /// `file://{target}/…`). The browser's account (the stack's UID) must be
    /// able to read it.
    pub fn mount(mut self, host: impl Into<Utf8PathBuf>, target: &str) -> BrowserOptions {
        self.mounts.push((host.into(), target.to_owned()));
        self
    }

    /// Trusts the CA certificate in the PEM file `ca` for TLS server
    /// certificates (added to Chromium's NSS database at start). Nothing else
    /// loosens certificate checks: an untrusted certificate fails the page.
    pub fn trust_ca(mut self, ca: impl Into<Utf8PathBuf>) -> BrowserOptions {
        self.ca = Some(ca.into());
        self
    }
}

/// A running headless Chromium and its WebDriver session.
pub struct Browser<'d> {
    // Dropped in this order: the session is closed in `Drop`, then the
    // runtime, then the container.
    pub(crate) client: Option<fantoccini::Client>,
    runtime: tokio::runtime::Runtime,
    container: Running<'d>,
    pub(crate) seen: problems::Seen,
}

impl<'d> Browser<'d> {
    /// Starts the browser container (building the image first if this process
    /// has not) and opens a WebDriver session; fails with the container's
    /// output when chromedriver does not answer within 60 s.
    pub fn start(docker: &'d Docker, options: BrowserOptions) -> anyhow::Result<Browser<'d>> {
        let (uid, gid) = ensure_browser_image();
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cdt_browser_{}_{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let port = crate::free_port();
        let seccomp = core_data_ops::paths::repo_root().join("seccomp/postgres.json");
        let mut spec = ContainerSpec::confined(IMAGE, uid, gid, &seccomp)?
            .name(&name)
            .label("org.core-data.test", "browser")
            .network(options.network.as_deref().unwrap_or("bridge"))
            .publish("127.0.0.1", port, DRIVER_PORT)
            // The root is read-only: the NSS database and Chromium's profile live here.
            .tmpfs(
                "/home/browser",
                &format!("uid={uid},gid={gid},mode=0700,size=64m"),
            )
            // Chromium runs a process per renderer, each with its threads.
            .pids_limit(1024)
            .limits(Some(256), Some(1536), Some(2.0));
        for (host, target) in &options.mounts {
            spec = spec.mount(Mount::bind(host.as_str(), target.as_str()));
        }
        if let Some(ca) = &options.ca {
            anyhow::ensure!(ca.is_file(), "the CA certificate `{ca}` is not a file");
            spec = spec.mount(Mount::bind(ca.as_str(), CA_TARGET));
        }
        let container = spec
            .start(docker)
            .with_context(|| format!("failed to start the browser container `{name}`"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to build the WebDriver client's runtime")?;
        let mut browser = Browser {
            client: None,
            runtime,
            container,
            seen: problems::Seen::default(),
        };
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = loop {
            match browser.runtime.block_on(connect(&url)) {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    let exited = docker
                        .inspect_container(browser.container.name())?
                        .and_then(|inspect| inspect.state)
                        .and_then(|state| state.running)
                        == Some(false);
                    if exited {
                        bail!(
                            "the browser container `{name}` exited: {err}\n{}",
                            browser.container_output()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(err) => bail!(
                    "chromedriver in `{name}` did not answer on {url} in 60 s: {err}\n{}",
                    browser.container_output()
                ),
            }
        };
        browser.client = Some(client);
        Ok(browser)
    }

    /// The container's name.
    pub fn container(&self) -> &str {
        self.container.name()
    }

    /// Everything the container printed (the entrypoint, chromedriver's warnings).
    pub fn container_output(&self) -> String {
        match self.container.output() {
            Ok((stdout, stderr)) => {
                format!("--- container stdout\n{stdout}--- container stderr\n{stderr}")
            }
            Err(err) => format!("(no container output: {err:#})"),
        }
    }

    /// Runs one WebDriver exchange to its end, under [`COMMAND_DEADLINE`].
    pub(crate) fn block<T, E>(
        &self,
        what: &str,
        future: impl Future<Output = Result<T, E>>,
    ) -> anyhow::Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        // The deadline's timer is made inside the runtime (`timeout` needs its clock).
        match self
            .runtime
            .block_on(async { tokio::time::timeout(COMMAND_DEADLINE, future).await })
        {
            Ok(result) => result.with_context(|| format!("browser: failed to {what}")),
            Err(_) => bail!(
                "browser: `{what}` took longer than {}s",
                COMMAND_DEADLINE.as_secs()
            ),
        }
    }

    /// The session (always there between `start` and `Drop`).
    pub(crate) fn client(&self) -> &fantoccini::Client {
        self.client.as_ref().expect("a WebDriver session")
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Closing ends Chromium cleanly; the container goes either way.
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
    }
}

/// A session with console and network logging on, Chromium headless and
/// without its own sandbox (see ARCHITECTURE.md, `tests/`: the container is
/// the sandbox).
async fn connect(url: &str) -> Result<fantoccini::Client, fantoccini::error::NewSessionError> {
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "acceptInsecureCerts": false,
        "timeouts": { "pageLoad": 30_000, "script": 30_000, "implicit": 0 },
        "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,900",
            ],
            "perfLoggingPrefs": { "enableNetwork": true, "enablePage": false },
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object")
    };
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(url)
        .await
}

/// `target/test-output/<test>/`, emptied: where a test leaves what a person
/// looks at afterwards (screenshots). `target` is the one this test binary
/// was built into (`CARGO_TARGET_DIR` or the workspace's).
pub fn test_output_dir(test: &str) -> Utf8PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<binary>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps");
    let dir = Utf8Path::from_path(target)
        .expect("a UTF-8 target directory")
        .join("test-output")
        .join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|err| panic!("emptying `{dir}`: {err}"));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating `{dir}`: {err}"));
    dir
}

/// A temporary directory the browser's account can read (0755, its files
/// 0644), removed when dropped: a test's own pages, or a copy of files the
/// operator keeps private (a daily bundle is 0700, its owner's alone).
pub struct ReadableDir {
    pub path: Utf8PathBuf,
    _dir: tempfile::TempDir,
}

/// An empty [`ReadableDir`].
pub fn readable_dir() -> ReadableDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("core_data-browser-")
        .tempdir()
        .expect("a temporary directory");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("a UTF-8 temporary path");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("making `{path}` readable: {err}"));
    ReadableDir { path, _dir: dir }
}

impl ReadableDir {
    /// Copies every regular file directly in `dir` here, byte for byte, readable by all.
    pub fn copy_files_of(&self, dir: &Utf8Path) {
        use std::os::unix::fs::PermissionsExt;
        for entry in dir
            .read_dir_utf8()
            .unwrap_or_else(|err| panic!("reading `{dir}`: {err}"))
        {
            let entry = entry.unwrap();
            if !entry.file_type().unwrap().is_file() {
                continue;
            }
            let target = self.path.join(entry.file_name());
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|err| panic!("copying `{}`: {err}", entry.path()));
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}
