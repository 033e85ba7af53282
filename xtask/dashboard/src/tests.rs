//! Router tests without a database: sessions, cookies, CSRF, the rate limit
//! and the security headers, through `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use camino::Utf8PathBuf;
use core_data_ops::audit::scope::ServiceTarget;
use core_data_ops::audit::Thresholds;
use core_data_ops::dashboard::users::{self, User};
use core_data_ops::dashboard::Settings;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::auth::cookie;
use crate::state::AppState;

const HOST: &str = "localhost:8443";
const ORIGIN: &str = "https://localhost:8443";
const PASSWORD: &str = "a long test password";

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
}

fn fixture(attempts: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    let users_file = root.join("users");
    let alice = User {
        name: "alice".into(),
        hash: users::hash(PASSWORD).unwrap(),
    };
    std::fs::write(&users_file, users::format(&[alice])).unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        public_url: ORIGIN.into(),
        tls_cert: root.join("cert"),
        tls_key: root.join("key"),
        database: ServiceTarget {
            host: "127.0.0.1".into(),
            port: 1,
            ca_cert: root.join("ca.crt"),
            role: "core_data_dashboard".into(),
            superuser: "postgres".into(),
            postgresql_conf: root.join("postgresql.conf"),
        },
        password_file: root.join("password"),
        users_file,
        allow_signal: true,
        capture_interval_seconds: 60,
        history_days: 7,
        thresholds: Thresholds {
            dead_tuples_min: 1000,
            dead_tuple_ratio: 0.2,
            wraparound_percent: 50.0,
            slot_retained_mb: 1024,
            replication_lag_seconds: 60,
            index_bloat_percent: 30.0,
            min_size_mb: 10,
            require_valid_until: false,
            cron_lookback_hours: 24,
            buffercache_limit: 20,
            sensitive_columns: Vec::new(),
        },
        backups_dir: root.join("backups"),
        login_attempts_per_minute: attempts,
        session_idle_minutes: 30,
        project: "test".into(),
    };
    let state = Arc::new(AppState::new(settings, "unused".into()).unwrap());
    Fixture { _dir: dir, state }
}

async fn send(state: &Arc<AppState>, request: Request<Body>) -> Response<Body> {
    crate::app::router(Arc::clone(state))
        .oneshot(request)
        .await
        .unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn get(path: &str, session: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path).header(header::HOST, HOST);
    if let Some(id) = session {
        builder = builder.header(header::COOKIE, format!("{}={id}", cookie::SESSION));
    }
    builder.body(Body::empty()).unwrap()
}

fn post(path: &str, cookies: &str, origin: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The login form's token (cookie value and hidden field are the same).
async fn login_token(state: &Arc<AppState>) -> String {
    let response = send(state, get("/login", None)).await;
    let cookie = set_cookie(&response, cookie::LOGIN).unwrap();
    cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

async fn login(state: &Arc<AppState>, password: &str) -> Response<Body> {
    let token = login_token(state).await;
    send(
        state,
        post(
            "/login",
            &format!("{}={token}", cookie::LOGIN),
            ORIGIN,
            &format!(
                "csrf={token}&user=alice&password={}",
                password.replace(' ', "+")
            ),
        ),
    )
    .await
}

fn session_of(response: &Response<Body>) -> String {
    let cookie = set_cookie(response, cookie::SESSION).expect("a session cookie");
    cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_carry_the_security_headers() {
    let f = fixture(5);
    for path in ["/", "/queries", "/live", "/explain", "/backups", "/indexes"] {
        let response = send(&f.state, get(path, None)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[header::LOCATION], "/login");
    }
    let response = send(&f.state, get("/", Some("forged"))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = send(&f.state, get("/login", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::REFERRER_POLICY));
    assert!(headers[header::STRICT_TRANSPORT_SECURITY]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    let login_cookie = set_cookie(&response, cookie::LOGIN).unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(login_cookie.contains(flag), "{login_cookie}");
    }
    let body = text(response).await;
    assert!(body.contains("name=\"csrf\""));
    assert!(!body.contains("<script>"), "no inline script");
    let asset = send(&f.state, get("/assets/app.js", None)).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        send(&f.state, get("/assets/../x", None)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn login_needs_its_csrf_token_and_our_origin() {
    let f = fixture(5);
    let token = login_token(&f.state).await;
    let cookies = format!("{}={token}", cookie::LOGIN);
    let form = format!("user=alice&password={}", PASSWORD.replace(' ', "+"));
    let without = send(&f.state, post("/login", &cookies, ORIGIN, &form)).await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let other = crate::auth::random_token();
    let wrong = send(
        &f.state,
        post("/login", &cookies, ORIGIN, &format!("csrf={other}&{form}")),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let cross = send(
        &f.state,
        post(
            "/login",
            &cookies,
            "https://evil.example",
            &format!("csrf={token}&{form}"),
        ),
    )
    .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let ok = send(
        &f.state,
        post("/login", &cookies, ORIGIN, &format!("csrf={token}&{form}")),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&ok, cookie::SESSION).unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.split("; ").any(|part| part == flag), "{session}");
    }
    let id = session_of(&ok);
    assert_eq!(id.len(), 64, "256 bits in hex");
}

#[tokio::test]
async fn failed_logins_are_refused_then_rate_limited() {
    let f = fixture(3);
    for _ in 0..3 {
        let response = login(&f.state, "not the password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&response, cookie::SESSION).is_none());
        assert!(text(response).await.contains("wrong user name or password"));
    }
    let limited = login(&f.state, PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn every_post_of_a_session_needs_its_csrf_token() {
    let f = fixture(5);
    let id = session_of(&login(&f.state, PASSWORD).await);
    let csrf = f.state.sessions.touch(&id).unwrap().csrf;
    let cookies = format!("{}={id}", cookie::SESSION);
    for (path, form) in [
        ("/logout", String::new()),
        ("/live/cancel", "pid=1".to_owned()),
        ("/live/terminate", "pid=1".to_owned()),
        ("/explain", "db=postgres&query=SELECT+1".to_owned()),
    ] {
        let response = send(&f.state, post(path, &cookies, ORIGIN, &form)).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} without a token"
        );
        let form = format!("csrf={csrf}&{form}");
        let response = send(
            &f.state,
            post(path, &cookies, "https://evil.example", &form),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{path} from elsewhere"
        );
        // Without a session, a POST is refused outright.
        let response = send(&f.state, post(path, "", ORIGIN, &form)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without a session"
        );
    }
    let response = send(
        &f.state,
        post("/logout", &cookies, ORIGIN, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&response, cookie::SESSION)
        .unwrap()
        .contains("Max-Age=0"));
    assert!(f.state.sessions.touch(&id).is_none(), "logged out");
}

#[tokio::test]
async fn a_removed_user_loses_their_session_and_bundles_are_not_a_way_out() {
    let f = fixture(5);
    let id = session_of(&login(&f.state, PASSWORD).await);
    let escape = send(
        &f.state,
        get("/backups/daily/..%2F..%2F/x/users", Some(&id)),
    )
    .await;
    assert_eq!(escape.status(), StatusCode::NOT_FOUND);
    let path = &f.state.settings.users_file;
    std::fs::write(path, users::format(&[])).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let response = send(&f.state, get("/backups", Some(&id))).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the user left the file"
    );
}
