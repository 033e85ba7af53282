//! The dashboard against a real stack (subnet 230): the role and schema made
//! by `up`'s own `dashboard::role::ensure` (test stacks run without the
//! dashboard profile, so `up` leaves them out), the service binary run on the
//! host with a settings file of host paths (the published port, the stack's
//! CA, a certificate the stack's CA signs for `localhost`), and a real HTTPS
//! client (hyper over rustls, trusting only the stack's CA) that logs in and
//! reads every page for the planted data: a statement run many times on
//! queries, a table on space and maintenance (dead tuples), duplicate
//! indexes and a HypoPG suggestion with a lower cost on indexes, explain
//! refusing an UPDATE, a long query on live that a cancel stops (and a
//! superuser's that it refuses to touch), a wrong password and a POST without
//! CSRF refused, and the history captured into `core_data_dashboard`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use core_data_ops::audit::scope::ServiceTarget;
use core_data_ops::audit::Thresholds;
use core_data_ops::dashboard::{users, Settings};
use core_data_ops::pg::bootstrap;
use core_data_tests::{docker_available, free_port, TestStack};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

const ROLE: &str = core_data_ops::dashboard::settings::ROLE;
const USER_PASSWORD: &str = "dashboard test password";

/// A minimal cookie-keeping HTTPS client.
struct Client {
    runtime: tokio::runtime::Runtime,
    tls: tokio_rustls::TlsConnector,
    port: u16,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n{:?}\n{}",
            self.status, self.headers, self.body
        )
    }
}

impl Client {
    fn new(ca: &camino::Utf8Path, port: u16) -> Client {
        let config = core_data_ops::pg::client::tls_config(ca).expect("client TLS");
        Client {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            port,
            cookies: BTreeMap::new(),
        }
    }

    fn origin(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    fn send(&mut self, method: &str, path: &str, form: Option<&str>) -> Answer {
        let origin = self.origin();
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("localhost:{}", self.port));
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        if form.is_some() {
            request = request
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded");
        }
        let request = request
            .body(http_body_util::Full::new(hyper::body::Bytes::from(
                form.unwrap_or_default().to_owned(),
            )))
            .unwrap();
        let (tls, port) = (self.tls.clone(), self.port);
        let answer = self.runtime.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let name = ServerName::try_from("localhost").unwrap();
            let stream = tls.connect(name, tcp).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let response = sender.send_request(request).await?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            anyhow::Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        });
        let answer = answer.unwrap_or_else(|e| panic!("{method} {path} failed: {e:#}"));
        for value in answer.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, flags) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            if flags.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        answer
    }

    fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None)
    }

    fn post(&mut self, path: &str, form: &str) -> Answer {
        self.send("POST", path, Some(form))
    }
}

/// The value of the first `name="csrf" value="..."` in a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn form_value(text: &str) -> String {
    text.replace('%', "%25")
        .replace('&', "%26")
        .replace('+', "%2B")
        .replace('=', "%3D")
        .replace(' ', "+")
}

/// The role and schema as `up` makes them with the dashboard profile on
/// (`ops::dashboard::role::ensure`, the same code), unless `up` already did;
/// then a password this test knows.
fn ensure_role(t: &TestStack, password: &str) {
    let mut admin = t.stack.connect("postgres").expect("superuser connection");
    let made_by_up = bootstrap::role_exists(&mut admin, ROLE).unwrap();
    let changes = core_data_ops::dashboard::role::ensure(&mut admin, password, &t.stack.config)
        .unwrap_or_else(|e| panic!("ensuring `{ROLE}` failed: {e:#}"));
    eprintln!("`{ROLE}` existed before the test: {made_by_up}; changed: {changes:?}");
    let verifier = scram_verifier(password);
    t.sql(
        "postgres",
        &format!(
            "ALTER ROLE {ROLE} PASSWORD {}",
            core_data_ops::sql::quote_literal(&verifier)
        ),
    );
}

/// A SCRAM verifier, so the clear password never reaches the server's log.
fn scram_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

#[test]
fn dashboard_app() {
    if !docker_available("dashboard_app") {
        return;
    }
    let mut t = TestStack::new("dashapp", 230);
    // Cancel is offered and EXPLAIN/HypoPG may read the tables (the role's rights follow these keys).
    t.set("DASHBOARD_ALLOW_SIGNAL", "true");
    t.set("DASHBOARD_ALLOW_EXPLAIN", "true");
    t.up();
    let paths = t.paths().clone();
    let dir = tempfile::tempdir().unwrap();
    let work = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();

    // The role, its password file, a users file and a certificate for localhost.
    let role_password = "role password for the dashboard test";
    ensure_role(&t, role_password);
    std::fs::write(work.join("password"), format!("{role_password}\n")).unwrap();
    let hash = users::hash(USER_PASSWORD).unwrap();
    std::fs::write(
        work.join("users"),
        users::format(&[users::User {
            name: "alice".into(),
            hash,
        }]),
    )
    .unwrap();
    core_data_ops::tls::ensure_ca_key(&paths, &t.stack.config, &["dashboard"]).unwrap();
    let (cert, _) = core_data_ops::tls::ensure_service(
        &paths,
        &t.stack.config,
        "dashboard",
        &["localhost".to_owned()],
    )
    .unwrap();
    let ca = core_data_ops::tls::files(&paths).ca_cert;

    plant(&t);

    let port = free_port();
    let settings = Settings {
        listen: format!("127.0.0.1:{port}"),
        public_url: format!("https://localhost:{port}"),
        tls_cert: cert.cert.clone(),
        tls_key: cert.key.clone(),
        database: ServiceTarget {
            host: t.stack.host().to_owned(),
            port: t.stack.config.host_port(),
            ca_cert: ca.clone(),
            role: ROLE.to_owned(),
            superuser: t.stack.config.superuser().to_owned(),
            postgresql_conf: paths.rendered_dir().join("postgres/postgresql.conf"),
        },
        password_file: work.join("password"),
        users_file: work.join("users"),
        allow_signal: true,
        capture_interval_seconds: 2,
        history_days: 7,
        thresholds: Thresholds::from_config(&t.stack.config).unwrap(),
        backups_dir: paths.backups_dir(),
        login_attempts_per_minute: 3,
        session_idle_minutes: 30,
        project: t.stack.config.project().to_owned(),
    };
    std::fs::write(
        work.join("settings.json"),
        serde_json::to_string_pretty(&settings).unwrap(),
    )
    .unwrap();
    let log = work.join("dashboard.log");
    let server = duct::cmd(
        dashboard_binary().as_std_path(),
        ["serve", "--settings", work.join("settings.json").as_str()],
    )
    .stderr_path(log.as_std_path())
    .stdout_null()
    .unchecked()
    .start()
    .expect("starting the dashboard");
    let _stop = Stop(&server);

    let mut client = Client::new(&ca, port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let health = client.get("/health");
            if health.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "/health never became ok: {health}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Without a session every page sends to /login.
    let anonymous = client.get("/queries");
    assert_eq!(anonymous.status, 303, "{anonymous}");

    // The login form; a POST without its CSRF token, a wrong password.
    let form = client.get("/login");
    assert_eq!(form.status, 200, "{form}");
    let token = csrf_of(&form.body);
    let no_csrf = client.post(
        "/login",
        &format!("user=alice&password={}", form_value(USER_PASSWORD)),
    );
    assert_eq!(
        no_csrf.status, 403,
        "a login without CSRF is refused: {no_csrf}"
    );
    let wrong = client.post(
        "/login",
        &format!("csrf={token}&user=alice&password=wrong+password+here"),
    );
    assert_eq!(wrong.status, 401, "{wrong}");
    assert!(wrong.body.contains("wrong user name or password"));
    let token = csrf_of(&wrong.body);
    let ok = client.post(
        "/login",
        &format!(
            "csrf={token}&user=alice&password={}",
            form_value(USER_PASSWORD)
        ),
    );
    assert_eq!(ok.status, 303, "{ok}");
    let session = ok
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Host-core_data_session="))
        .expect("a session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.split("; ").any(|part| part == flag), "{session}");
    }

    // Every page, with what was planted.
    let overview = page(&mut client, "/");
    assert!(
        overview.contains("Long-running queries") && overview.contains("Config drift"),
        "{overview}"
    );
    assert!(overview.contains("(not a superuser)"), "{overview}");
    let csrf = csrf_of(&overview);
    let queries = page(&mut client, "/queries?db=app&sort=calls");
    assert!(queries.contains("dash_orders"), "{queries}");
    let space = page(&mut client, "/space?db=app");
    assert!(
        space.contains("dash_orders") && space.contains("dash_dead"),
        "{space}"
    );
    let connections = page(&mut client, "/connections");
    assert!(
        connections.contains("By database") && connections.contains("postgres"),
        "{connections}"
    );
    let maintenance = page(&mut client, "/maintenance?db=app");
    assert!(maintenance.contains("dash_dead"), "{maintenance}");
    let settings_page = page(&mut client, "/settings");
    assert!(
        settings_page.contains("Not at their defaults") && settings_page.contains("shared_buffers"),
        "{settings_page}"
    );
    let backups = page(&mut client, "/backups");
    assert!(backups.contains("Daily maintenance bundles"), "{backups}");

    let indexes = page(&mut client, "/indexes?db=app");
    assert!(
        indexes.contains("dash_dup"),
        "duplicate indexes are listed: {indexes}"
    );
    let (before, after) = suggested_costs(&indexes, "owner_id")
        .unwrap_or_else(|| panic!("no HypoPG suggestion on owner_id:\n{indexes}"));
    assert!(
        after < before,
        "the hypothetical index lowers the cost: {before} -> {after}"
    );
    let hypothetical: i64 = t
        .query_one_string(
            "app",
            "SELECT count(*)::text FROM pg_indexes WHERE indexdef LIKE '%(owner_id)%'",
        )
        .parse()
        .unwrap();
    assert_eq!(hypothetical, 0, "no index was built");

    // Explain: an UPDATE is refused, a SELECT explained, a POST without CSRF refused.
    let update = client.post(
        "/explain",
        &format!(
            "csrf={csrf}&db=app&query={}",
            form_value("UPDATE dash_orders SET amount = 0")
        ),
    );
    assert_eq!(update.status, 422, "{update}");
    assert!(
        update.body.contains("only a SELECT can be explained"),
        "{update}"
    );
    let select = client.post(
        "/explain",
        &format!(
            "csrf={csrf}&db=app&analyze=on&query={}",
            form_value("SELECT count(*) FROM dash_orders WHERE owner_id = 7")
        ),
    );
    assert_eq!(select.status, 200, "{select}");
    assert!(
        select.body.contains("Seq Scan") && select.body.contains("actual time"),
        "{select}"
    );
    let forged = client.post(
        "/explain",
        &format!("db=app&query={}", form_value("SELECT 1")),
    );
    assert_eq!(forged.status, 403, "{forged}");

    live_queries(&t, &mut client, &csrf);

    // History: captures every 2 s; the repeated statement has deltas and a chart.
    std::thread::sleep(Duration::from_secs(5));
    t.sql(
        "app",
        &"SELECT count(*) FROM dash_orders WHERE owner_id = 3;".repeat(5),
    );
    std::thread::sleep(Duration::from_secs(5));
    let captures: i64 = t
        .query_one_string(
            "postgres",
            "SELECT count(*)::text FROM core_data_dashboard.captures",
        )
        .parse()
        .unwrap();
    assert!(captures >= 3, "{captures} captures");
    let deltas = t.query_one_string(
        "postgres",
        "SELECT coalesce(sum(d.calls), 0)::text FROM core_data_dashboard.statement_deltas d \
         JOIN core_data_dashboard.statements s USING (dbid, userid, queryid) \
         WHERE s.query LIKE '%dash_orders WHERE owner_id%'",
    );
    assert!(
        deltas.parse::<i64>().unwrap() >= 5,
        "deltas recorded: {deltas}"
    );
    let queries = page(&mut client, "/queries?db=app");
    let link_at = queries.find("href=\"/queries/").expect("a statement link");
    let link = &queries[link_at + 6..];
    let link = &link[..link.find('"').unwrap()];
    let history = page(&mut client, link);
    assert!(
        history.contains("Calls per interval") && history.contains("<svg"),
        "{history}"
    );

    // Not a superuser; logout ends the session.
    assert_eq!(
        t.query_one_string(
            "postgres",
            &format!("SELECT rolsuper::text FROM pg_roles WHERE rolname = '{ROLE}'")
        ),
        "false"
    );
    let out = client.post("/logout", &format!("csrf={csrf}"));
    assert_eq!(out.status, 303, "{out}");
    assert_eq!(client.get("/").status, 303);

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("login failed for user \"alice\""), "{log}");
    assert!(log.contains("login succeeded for user \"alice\""), "{log}");
    assert!(
        !log.contains(USER_PASSWORD) && !log.contains(role_password),
        "no password in the log:\n{log}"
    );
}

/// Kills the server when the test ends, passed or not.
struct Stop<'a>(&'a duct::Handle);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn page(client: &mut Client, path: &str) -> String {
    let answer = client.get(path);
    assert_eq!(answer.status, 200, "GET {path}: {answer}");
    answer.body
}

/// The data the pages must show.
fn plant(t: &TestStack) {
    t.sql(
        "app",
        "CREATE TABLE dash_orders (id serial PRIMARY KEY, owner_id int, status text, amount int);
         INSERT INTO dash_orders (owner_id, status, amount)
           SELECT g % 5000, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'done' END, g % 97
           FROM generate_series(1, 200000) g;
         CREATE INDEX dash_dup_a ON dash_orders (status);
         CREATE INDEX dash_dup_b ON dash_orders (status);
         ANALYZE dash_orders;
         CREATE TABLE dash_dead AS SELECT g FROM generate_series(1, 50000) g;
         ALTER TABLE dash_dead SET (autovacuum_enabled = false);
         DELETE FROM dash_dead WHERE g % 2 = 0;",
    );
    let mut client = t.stack.connect("app").unwrap();
    for owner in 0..30 {
        client
            .query(
                "SELECT count(*) FROM dash_orders WHERE owner_id = $1",
                &[&owner],
            )
            .unwrap();
    }
}

/// The (cost now, cost with it) of the suggestion whose index names `column`.
fn suggested_costs(page: &str, column: &str) -> Option<(f64, f64)> {
    let row = page.split("<tr>").find(|row| {
        row.contains("cost-before") && row.contains(&format!("&quot;{column}&quot;"))
    })?;
    let number = |class: &str| -> Option<f64> {
        let at = row.find(&format!("class=\"num {class}\">"))?;
        let rest = &row[at + class.len() + 13..];
        rest[..rest.find('<')?].parse().ok()
    };
    Some((number("cost-before")?, number("cost-after")?))
}

/// A long query of an ordinary role is cancelled from the page; the
/// superuser's is refused.
fn live_queries(t: &TestStack, client: &mut Client, csrf: &str) {
    let password = "sleeper password for the dashboard test";
    let verifier = scram_verifier(password);
    t.sql(
        "postgres",
        &format!(
            "CREATE ROLE dash_sleeper LOGIN PASSWORD {}",
            core_data_ops::sql::quote_literal(&verifier)
        ),
    );
    let mut c = t.stack.connect_as("dash_sleeper", password, "app").unwrap();
    let sleeper = std::thread::spawn(move || {
        c.simple_query("SELECT pg_sleep(120) AS dash_sleeping")
            .map(|_| ())
    });
    let mut c = t.stack.connect("app").unwrap();
    let superuser = std::thread::spawn(move || {
        c.simple_query("SELECT pg_sleep(20) AS dash_super_sleeping")
            .map(|_| ())
    });
    let pid = |name: &str| -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pid = t.query_one_string(
                "postgres",
                &format!(
                    "SELECT coalesce(max(pid), 0)::text FROM pg_stat_activity \
                     WHERE query LIKE '%AS {name}' AND pid <> pg_backend_pid()"
                ),
            );
            if pid != "0" {
                return pid.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "`{name}` never started");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (sleeping, super_sleeping) = (pid("dash_sleeping"), pid("dash_super_sleeping"));
    let live = page(client, "/live");
    assert!(
        live.contains("dash_sleeping") && live.contains("superuser"),
        "{live}"
    );
    let refused = client.post("/live/cancel", &format!("csrf={csrf}&pid={super_sleeping}"));
    assert_eq!(
        refused.status, 403,
        "a superuser's backend is not signalled: {refused}"
    );
    let no_csrf = client.post("/live/cancel", &format!("pid={sleeping}"));
    assert_eq!(no_csrf.status, 403, "{no_csrf}");
    let cancelled = client.post("/live/cancel", &format!("csrf={csrf}&pid={sleeping}"));
    assert_eq!(cancelled.status, 303, "{cancelled}");
    let error = sleeper
        .join()
        .unwrap()
        .expect_err("the sleep was cancelled");
    assert!(
        core_data_ops::pg::server_message(&error).contains("canceling statement"),
        "{error}"
    );
    superuser
        .join()
        .unwrap()
        .expect("the superuser's query ran to its end");
}

/// Builds the service binary once (like the CLI binary of the other tests).
fn dashboard_binary() -> Utf8PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    duct::cmd(
        cargo,
        [
            "build",
            "--quiet",
            "--package",
            "core_data_dashboard",
            "--bin",
            "core-data-dashboard",
        ],
    )
    .dir(core_data_ops::paths::repo_root())
    .run()
    .expect("building the dashboard binary failed");
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| core_data_ops::paths::repo_root().join("target"),
        Utf8PathBuf::from,
    );
    target.join("debug/core-data-dashboard")
}
