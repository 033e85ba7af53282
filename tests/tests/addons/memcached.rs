//! Memcached on the add-ons stack: a client on the compose network sets and
//! gets with the generated credentials and is refused without them or with a
//! wrong password; UDP is off; `memcached stats` shows the counters; the
//! service runs confined under its own seccomp profile.

use core_data_ops::addons::memcached::{APP_PASSWORD, APP_USER};
use core_data_ops::addons::Addon;
use core_data_ops::docker::{ContainerSpec, ExecOutput, Running};
use core_data_tests::TestStack;

use super::cli;

pub(crate) fn walk(t: &TestStack) {
    super::confined::assert_confined(t, "memcached", None);
    let client = start_client(t);
    authenticated_set_and_get(t, &client);
    refused_without_credentials(t, &client);
    udp_is_off(t);
    stats_show_the_counters(t);
}

/// A throw-away container of the memcached image on the compose network
/// (without the auth file): what an application container sees.
fn start_client(t: &TestStack) -> Running<'_> {
    let config = &t.stack.config;
    ContainerSpec::confined(
        &Addon::Memcached.image(),
        config.uid(),
        config.gid(),
        &t.paths().seccomp_dir().join("memcached.json"),
    )
    .unwrap()
    .name(format!("{}-memcached-client", config.project()))
    .label("com.docker.compose.project", config.project())
    .network(format!("{}_core_data", config.project()))
    .entrypoint(&["sleep", "infinity"])
    .start(&t.stack.docker)
    .unwrap()
}

/// Sends `input` to `memcached:11211` from the client; returns the replies.
fn session(t: &TestStack, client: &Running<'_>, input: &str) -> ExecOutput {
    t.stack
        .docker
        .exec_with_stdin(
            client.name(),
            &["core-data-memcached", "relay", "memcached", "11211"],
            input.as_bytes(),
        )
        .unwrap()
}

fn auth(user: &str, password: &str) -> String {
    let token = format!("{user} {password}");
    format!("set auth 0 0 {}\r\n{token}\r\n", token.len())
}

fn authenticated_set_and_get(t: &TestStack, client: &Running<'_>) {
    let password =
        core_data_ops::secrets::read(&Addon::Memcached.secret_file(t.paths(), APP_PASSWORD))
            .unwrap();
    let input = auth(APP_USER, &password)
        + "set greeting 0 0 5\r\nhello\r\nget greeting\r\nget missing\r\nflush_all\r\nquit\r\n";
    let out = session(t, client, &input);
    let replies: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    assert_eq!(
        replies,
        vec![
            "STORED",
            "STORED",
            "VALUE greeting 0 5",
            "hello",
            "END",
            "END",
            "CLIENT_ERROR flush_all not allowed",
        ],
        "{out:?}"
    );
}

fn refused_without_credentials(t: &TestStack, client: &Running<'_>) {
    for (what, input) in [
        (
            "no credentials",
            "get greeting\r\nset k 0 0 1\r\nx\r\nquit\r\n".to_owned(),
        ),
        (
            "a wrong password",
            auth(APP_USER, "not-the-password") + "get greeting\r\nquit\r\n",
        ),
    ] {
        let out = session(t, client, &input);
        assert!(out.stdout.contains("CLIENT_ERROR"), "{what}: {out:?}");
        assert!(
            !out.stdout.contains("VALUE") && !out.stdout.contains("STORED"),
            "{what} must be refused: {out:?}"
        );
    }
}

fn udp_is_off(t: &TestStack) {
    let container = t.stack.config.container_name("memcached");
    let out = t
        .stack
        .docker
        .exec(
            &container,
            &["cat", "/proc/net/udp", "/proc/net/udp6"],
            None,
        )
        .unwrap();
    // Port 11211 is 2BCB in /proc/net's hex.
    assert!(
        !out.stdout.contains(":2BCB"),
        "memcached listens on UDP: {out:?}"
    );
    let out = t
        .stack
        .docker
        .exec(&container, &["cat", "/proc/net/tcp"], None)
        .unwrap();
    assert!(
        out.stdout.contains(":2BCB"),
        "memcached must listen on TCP 11211: {out:?}"
    );
}

fn stats_show_the_counters(t: &TestStack) {
    let out = cli(t, &["memcached", "stats", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let stats: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let stat = |name: &str| -> i64 {
        stats
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["value"].as_str())
            .unwrap_or_else(|| panic!("no `{name}` in {out}"))
            .parse()
            .unwrap()
    };
    assert!(stat("cmd_set") >= 1, "{out}");
    assert!(stat("get_hits") >= 1, "{out}");
    assert!(stat("get_misses") >= 1, "{out}");
    assert_eq!(
        stat("limit_maxbytes"),
        t.stack
            .config
            .get("MEMCACHED_MEMORY_MB")
            .parse::<i64>()
            .unwrap()
            * 1024
            * 1024
    );
    assert_eq!(
        stat("max_connections"),
        t.stack
            .config
            .get("MEMCACHED_MAX_CONNECTIONS")
            .parse::<i64>()
            .unwrap()
    );
    let out = cli(t, &["service-urls"]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "MEMCACHED_URL=memcached://app@memcached:11211/"),
        "{out}"
    );
    let out = cli(t, &["memcached", "stats"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("curr_items")),
        "{out}"
    );
}
