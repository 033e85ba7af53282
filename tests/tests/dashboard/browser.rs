//! The dashboard in headless Chromium (`core_data_tests::browser`), the way a
//! person uses it: the browser on the stack's compose network trusting only
//! the stack's CA, `https://dashboard:8443/`. A wrong password is refused; a
//! right one gives a session cookie that is `Secure`, `HttpOnly` and
//! `SameSite=Strict`; every page opens with no console error and no failed
//! request, and its screenshot is left in `target/test-output/dashboard/`; a
//! form posted without its CSRF token is refused and changes nothing.

use core_data_tests::browser::{test_output_dir, Browser, BrowserOptions};
use core_data_tests::TestStack;

const BASE: &str = "https://dashboard:8443";

/// Every page of the navigation: path, screenshot name, a text it must show.
const PAGES: &[(&str, &str, &str)] = &[
    ("/", "overview", "Overview"),
    ("/queries?db=app", "queries", "dashboard_browser_marker"),
    ("/space", "space", "Space"),
    ("/connections", "connections", "Connections"),
    ("/live", "live", "Live"),
    ("/maintenance", "maintenance", "Maintenance"),
    ("/indexes", "indexes", "Indexes"),
    ("/explain", "explain", "Explain"),
    ("/settings", "settings", "Settings"),
    ("/backups", "backups", "Backups"),
    ("/system", "system", "postgres"),
];

fn must<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|err| panic!("{err:#}"))
}

/// Logs in as `user` and walks every page.
pub(crate) fn every_page_in_chromium(t: &TestStack, user: &str, password: &str) {
    let ca = core_data_ops::tls::files(t.paths()).ca_cert;
    let network = format!("{}_core_data", t.stack.config.project());
    let out = test_output_dir("dashboard");
    let mut browser = must(Browser::start(
        &t.stack.docker,
        BrowserOptions::new().network(network).trust_ca(ca),
    ));

    // Without a session every page leads to the login form.
    must(browser.visit(&format!("{BASE}/queries")));
    assert_eq!(must(browser.current_url()), format!("{BASE}/login"));
    must(browser.assert_no_problems("the login page"));
    must(browser.screenshot(&out, "login"));

    // A wrong password: refused (401), no session.
    must(browser.fill("input[name=user]", user));
    must(browser.fill("input[name=password]", "not the password at all"));
    must(browser.submit("form[action='/login']"));
    assert!(
        must(browser.text()).contains("wrong user name or password"),
        "{}",
        must(browser.text())
    );
    let problems = must(browser.problems());
    assert!(
        problems
            .failed_requests
            .iter()
            .any(|r| r.url == format!("{BASE}/login") && r.status == Some(401)),
        "the refused login must answer 401: {problems}"
    );
    assert!(
        !must(browser.cookies())
            .iter()
            .any(|c| c.name == "__Host-core_data_session"),
        "a refused login set a session cookie"
    );

    // The right one: a session cookie with every flag.
    must(browser.visit(&format!("{BASE}/login")));
    must(browser.fill("input[name=user]", user));
    must(browser.fill("input[name=password]", password));
    must(browser.submit("form[action='/login']"));
    assert_eq!(must(browser.current_url()), format!("{BASE}/"));
    let cookies = must(browser.cookies());
    let session = cookies
        .iter()
        .find(|c| c.name == "__Host-core_data_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert!(session.secure, "{session:?}");
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Strict"), "{session:?}");
    assert_eq!(session.path.as_deref(), Some("/"), "{session:?}");

    for (path, name, shows) in PAGES {
        must(browser.visit(&format!("{BASE}{path}")));
        assert_eq!(must(browser.current_url()), format!("{BASE}{path}"));
        let shot = must(browser.screenshot(&out, name));
        must(browser.assert_no_problems(&format!("page {path}")));
        let text = must(browser.text());
        assert!(
            text.contains(shows),
            "page {path} does not show `{shows}` (screenshot {shot}):\n{text}"
        );
    }

    // The system page has a rate for each container it samples (two captures at least).
    must(browser.visit(&format!("{BASE}/system")));
    let sampled = must(browser.eval(
        "return Array.from(document.querySelectorAll('table tbody tr td:first-child'))\
         .map(td => td.textContent);",
    ));
    assert_eq!(
        sampled,
        serde_json::json!(["postgres", "dashboard"]),
        "the system page's latest rates"
    );

    // A state-changing request without its CSRF token: the logout form with the
    // token taken out is refused (403) and the session stays.
    must(browser.visit(&format!("{BASE}/")));
    must(
        browser
            .eval("document.querySelector('form.logout input[name=csrf]').remove(); return true;"),
    );
    must(browser.submit("form.logout"));
    let problems = must(browser.problems());
    assert!(
        problems
            .failed_requests
            .iter()
            .any(|r| r.url == format!("{BASE}/logout") && r.status == Some(403)),
        "a POST without the CSRF token must be refused with 403: {problems}"
    );
    must(browser.visit(&format!("{BASE}/space")));
    assert_eq!(
        must(browser.current_url()),
        format!("{BASE}/space"),
        "the refused logout ended the session"
    );
    // With the token it logs out.
    must(browser.submit("form.logout"));
    must(browser.visit(&format!("{BASE}/space")));
    assert_eq!(must(browser.current_url()), format!("{BASE}/login"));
}
