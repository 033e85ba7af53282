//! The browser harness itself (`core_data_tests::browser`), so a clean page
//! in another test means something: a page with a script error and a missing
//! image reports exactly those two; a clean page reports nothing, and a form
//! filled and submitted lands where it should; the container runs confined and
//! is gone when the harness is dropped; and an HTTPS page whose certificate is
//! signed by the stack's CA loads only when the browser trusts that CA.

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::docker::{ContainerSpec, Docker, Mount};
use core_data_ops::paths::Paths;
use core_data_ops::tls;
use core_data_tests::browser::{
    ensure_browser_image, readable_dir, test_output_dir, Browser, BrowserOptions, IMAGE,
};
use core_data_tests::{docker_available, test_config};

/// The third octet of the TLS test's network (unique among the tests).
const SUBNET: u8 = 216;

/// A 1x1 PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const BROKEN: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>broken</title></head>
<body>
<p>a page with two faults</p>
<img src="pixel.png" alt="present">
<img src="missing.png" alt="missing">
<script>throw new Error("harness-self-test-boom");</script>
</body></html>
"#;

const CLEAN: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>clean</title></head>
<body>
<h1>clean page</h1>
<img src="pixel.png" alt="present">
<form id="search" action="clean.html" method="get">
  <input id="q" name="q" type="text">
  <button type="submit">Go</button>
</form>
<script>console.log("a log line is not an error");</script>
</body></html>
"#;

fn write_pages(dir: &Utf8Path) {
    for (name, bytes) in [
        ("broken.html", BROKEN.as_bytes()),
        ("clean.html", CLEAN.as_bytes()),
        ("pixel.png", PIXEL),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn the_harness_reports_exactly_what_broke() {
    if !docker_available("the_harness_reports_exactly_what_broke") {
        return;
    }
    let docker = Docker::connect().unwrap();
    let pages = readable_dir();
    write_pages(&pages.path);
    let out = test_output_dir("browser_harness");
    let mut browser = Browser::start(
        &docker,
        BrowserOptions::new().mount(&pages.path, "/srv/pages"),
    )
    .unwrap();
    let name = browser.container().to_owned();
    confined(&docker, &name);

    browser.visit("file:///srv/pages/broken.html").unwrap();
    let shot = browser.screenshot(&out, "broken").unwrap();
    assert!(std::fs::metadata(&shot).unwrap().len() > 100, "{shot}");
    let problems = browser.problems().unwrap();
    assert_eq!(
        problems.console_errors.len(),
        1,
        "exactly the script error:\n{problems}"
    );
    assert!(
        problems.console_errors[0]
            .message
            .contains("harness-self-test-boom"),
        "{problems}"
    );
    assert_eq!(
        problems.failed_requests.len(),
        1,
        "exactly the missing image:\n{problems}"
    );
    let failed = &problems.failed_requests[0];
    assert_eq!(failed.url, "file:///srv/pages/missing.png", "{problems}");
    assert_eq!(
        failed.error.as_deref(),
        Some("net::ERR_FILE_NOT_FOUND"),
        "{problems}"
    );
    assert!(browser.assert_no_problems("broken.html").is_err());

    // A new visit forgets the old page's problems; a clean page has none.
    browser.visit("file:///srv/pages/clean.html").unwrap();
    browser.screenshot(&out, "clean").unwrap();
    browser.assert_no_problems("clean.html").unwrap();
    assert!(browser.text().unwrap().contains("clean page"));
    assert_eq!(browser.sizes("img").unwrap(), vec![(1.0, 1.0)]);
    browser.fill("#q", "harness value").unwrap();
    browser.submit("#search").unwrap();
    assert_eq!(
        browser.current_url().unwrap(),
        "file:///srv/pages/clean.html?q=harness+value"
    );
    browser
        .assert_no_problems("clean.html after submit")
        .unwrap();

    drop(browser);
    assert!(
        docker.inspect_container(&name).unwrap().is_none(),
        "`{name}` must be removed with the harness"
    );
}

/// The browser's container: the stack's UID, no capability, no-new-privileges,
/// a read-only root, and chromedriver's port published on 127.0.0.1 only.
fn confined(docker: &Docker, name: &str) {
    let inspect = docker.inspect_container(name).unwrap().unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(host.cap_drop.unwrap_or_default(), vec!["ALL"]);
    let security_opt = host.security_opt.unwrap_or_default();
    assert!(
        security_opt.iter().any(|o| o == "no-new-privileges:true"),
        "{security_opt:?}"
    );
    assert!(
        security_opt.iter().any(|o| o.starts_with("seccomp=")),
        "{security_opt:?}"
    );
    assert_eq!(host.readonly_rootfs, Some(true));
    let user = inspect.config.unwrap().user.unwrap_or_default();
    assert!(
        !user.is_empty() && !user.starts_with("0:") && user != "0",
        "runs as `{user}`"
    );
    for (port, bindings) in host.port_bindings.unwrap_or_default() {
        for binding in bindings.unwrap_or_default() {
            assert_eq!(
                binding.host_ip.as_deref(),
                Some("127.0.0.1"),
                "{port} is published beyond loopback"
            );
        }
    }
}

const TLS_PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tls</title></head>
<body><p>served over verified TLS</p></body></html>
"#;

/// Removes the test's network when dropped (after the containers on it).
struct Network<'d>(&'d Docker, String);

impl Drop for Network<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove_network(&self.1);
    }
}

#[test]
fn https_pages_load_only_with_the_stacks_ca() {
    if !docker_available("https_pages_load_only_with_the_stacks_ca") {
        return;
    }
    let docker = Docker::connect().unwrap();
    let (uid, gid) = ensure_browser_image();
    let pid = std::process::id();
    let net = std::env::var("CORE_DATA_TEST_NET").unwrap_or_else(|_| "30".to_owned());
    let network = Network(&docker, format!("cdt_browser_tls_{pid}"));
    docker
        .create_network(&network.1, &format!("172.{net}.{SUBNET}.0/24"))
        .unwrap();

    // The stack's CA and a certificate it signed for the server's name, as `up` makes them.
    let state = tempfile::tempdir().unwrap();
    let paths = Paths::from_repo(Some(
        Utf8PathBuf::from_path_buf(state.path().into()).unwrap(),
    ));
    let config = test_config("browser_tls", SUBNET, 5432);
    tls::ensure(&paths, &config, false).unwrap();
    let server = format!("cdt_tlsprobe_{pid}");
    let (cert, _) =
        tls::ensure_service(&paths, &config, "tlsprobe", std::slice::from_ref(&server)).unwrap();
    let ca = tls::files(&paths).ca_cert;

    // openssl's test server (the image has it: ca-certificates needs it) serves
    // the files under its working directory, /tmp.
    let pages = readable_dir();
    std::fs::write(pages.path.join("tls.html"), TLS_PAGE).unwrap();
    let seccomp = core_data_ops::paths::repo_root().join("seccomp/postgres.json");
    let _server = ContainerSpec::confined(IMAGE, uid, gid, &seccomp)
        .unwrap()
        .name(&server)
        .network(&network.1)
        .mount(Mount::bind(cert.cert.as_str(), "/etc/tlsprobe/cert.pem"))
        .mount(Mount::bind(cert.key.as_str(), "/etc/tlsprobe/key.pem"))
        .mount(Mount::bind(pages.path.as_str(), "/tmp/pages"))
        .entrypoint(&["openssl"])
        .cmd(&[
            "s_server",
            "-quiet",
            "-accept",
            "8443",
            "-WWW",
            "-cert",
            "/etc/tlsprobe/cert.pem",
            "-key",
            "/etc/tlsprobe/key.pem",
        ])
        .start(&docker)
        .unwrap();
    let url = format!("https://{server}:8443/pages/tls.html");

    let mut trusting = Browser::start(
        &docker,
        BrowserOptions::new().network(&network.1).trust_ca(&ca),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // The server may still be starting.
    while let Err(err) = trusting.visit(&url) {
        assert!(
            std::time::Instant::now() < deadline,
            "{url} did not load in a browser trusting the stack's CA: {err:#}\n{}",
            trusting.container_output()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    trusting.assert_no_problems(&url).unwrap();
    assert!(trusting
        .text()
        .unwrap()
        .contains("served over verified TLS"));
    assert!(
        trusting.container_output().contains("trusting the CA"),
        "{}",
        trusting.container_output()
    );
    drop(trusting);

    let mut untrusting =
        Browser::start(&docker, BrowserOptions::new().network(&network.1)).unwrap();
    // Chromium shows its interstitial; the harness reports the refused load.
    untrusting.visit(&url).unwrap();
    let problems = untrusting.problems().unwrap();
    assert!(
        problems.console_errors.is_empty() && problems.failed_requests.len() == 1,
        "{problems}"
    );
    assert_eq!(problems.failed_requests[0].url, url, "{problems}");
    assert_eq!(
        problems.failed_requests[0].error.as_deref(),
        Some("net::ERR_CERT_AUTHORITY_INVALID"),
        "{problems}"
    );
    assert!(!untrusting
        .text()
        .unwrap()
        .contains("served over verified TLS"));
}
