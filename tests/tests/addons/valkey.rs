//! ValKey on the add-ons stack: an application client on the compose network
//! (TLS with the stack's CA, ACL user `app`) writes keys while the container is
//! SIGKILLed, and every acknowledged write is back after `up` (AOF); the
//! default user, a wrong password, plain TCP and the app user's dangerous
//! commands are refused; `valkey cli` and `valkey bgsave` work; the service
//! runs confined under its own seccomp profile.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_data_ops::addons::valkey::{client, ADMIN_PASSWORD, APP_PASSWORD, HEALTH_PASSWORD};
use core_data_ops::addons::Addon;
use core_data_ops::docker::{ContainerSpec, Docker, ExecIo, ExecOutput, Feed, Mount, Running};
use core_data_tests::{xtask_command, TestStack};

use super::cli;

/// Replies are `BASE + i` for key `i`, so a reply names the key it acknowledges.
const BASE: u64 = 1_000_000;

pub(crate) fn walk(t: &TestStack) {
    super::confined::assert_confined(t, "valkey", None);
    secrets_stay_out_of_the_container_definition(t);
    let client = Client::start(t, "valkey-client");
    refusals(t, &client);
    let acknowledged = writes_survive_sigkill(t, &client);
    cli_and_bgsave(t, acknowledged);
}

/// A throw-away container of the valkey image on the compose network, with
/// only the CA: what an application container sees.
struct Client<'d> {
    running: Running<'d>,
}

impl<'d> Client<'d> {
    fn start(t: &'d TestStack, name: &str) -> Client<'d> {
        let config = &t.stack.config;
        let ca = core_data_ops::tls::files(t.paths()).ca_cert;
        let running = ContainerSpec::confined(
            &Addon::Valkey.image(),
            config.uid(),
            config.gid(),
            &t.paths().seccomp_dir().join("valkey.json"),
        )
        .unwrap()
        .name(format!("{}-{name}", config.project()))
        .label("com.docker.compose.project", config.project())
        .network(format!("{}_core_data", config.project()))
        .mount(Mount::bind(ca.as_str(), "/run/secrets/ca.crt"))
        .entrypoint(&["sleep", "infinity"])
        .start(&t.stack.docker)
        .unwrap();
        Client { running }
    }

    /// valkey-cli towards `valkey:6379` over TLS; `login` is `(user, password)`
    /// (the password goes through stdin), `input` the rest of stdin.
    fn cli(
        &self,
        t: &TestStack,
        login: Option<(&str, &str)>,
        args: &[&str],
        input: &str,
    ) -> ExecOutput {
        let mut argv = tls_argv();
        let mut stdin = String::new();
        if let Some((user, password)) = login {
            argv.extend(["--user", user, "--askpass"]);
            stdin = format!("{password}\n");
        }
        argv.extend(args);
        stdin.push_str(input);
        t.stack
            .docker
            .exec_with_stdin(self.running.name(), &argv, stdin.as_bytes())
            .unwrap()
    }
}

fn tls_argv() -> Vec<&'static str> {
    vec![
        "valkey-cli",
        "--tls",
        "--cacert",
        "/run/secrets/ca.crt",
        "-h",
        "valkey",
        "-p",
        "6379",
        "--no-auth-warning",
    ]
}

fn password(t: &TestStack, secret: &str) -> String {
    core_data_ops::secrets::read(&Addon::Valkey.secret_file(t.paths(), secret)).unwrap()
}

fn secrets_stay_out_of_the_container_definition(t: &TestStack) {
    let container = t.stack.config.container_name("valkey");
    let inspect = t
        .stack
        .docker
        .inspect_container(&container)
        .unwrap()
        .unwrap();
    let text = serde_json::to_string(&inspect).unwrap();
    for secret in [APP_PASSWORD, ADMIN_PASSWORD, HEALTH_PASSWORD] {
        assert!(
            !text.contains(&password(t, secret)),
            "`{secret}` appears in `docker inspect {container}`"
        );
    }
    let acl = std::fs::read_to_string(Addon::Valkey.secret_file(t.paths(), "users.acl")).unwrap();
    assert!(
        !acl.contains(&password(t, APP_PASSWORD)),
        "the ACL file holds hashes only"
    );
}

fn refusals(t: &TestStack, client: &Client<'_>) {
    let app = password(t, APP_PASSWORD);
    let out = client.cli(
        t,
        Some(("app", &app)),
        &["-e", "SET", "app:hello", "world"],
        "",
    );
    assert_eq!((out.exit_code, out.stdout.trim()), (0, "OK"), "{out:?}");

    // The default user is off: without a login nothing runs.
    let out = client.cli(t, None, &["-e", "PING"], "");
    assert_ne!(out.exit_code, 0, "{out:?}");
    assert!(out.stderr.contains("NOAUTH"), "{out:?}");
    let out = client.cli(t, None, &["-e", "-a", &app, "PING"], "");
    assert_ne!(
        out.exit_code, 0,
        "the default user with a password: {out:?}"
    );
    // A wrong password.
    let out = client.cli(t, Some(("app", "not-the-password")), &["-e", "PING"], "");
    assert_ne!(out.exit_code, 0, "{out:?}");
    assert!(out.stderr.contains("WRONGPASS"), "{out:?}");
    // Plain TCP: the server speaks TLS only.
    let out = t
        .stack
        .docker
        .exec(
            client.running.name(),
            &["valkey-cli", "-h", "valkey", "-p", "6379", "-e", "PING"],
            None,
        )
        .unwrap();
    assert_ne!(out.exit_code, 0, "plain TCP must fail: {out:?}");
    assert!(!out.stdout.contains("PONG"), "{out:?}");

    // The application user: no FLUSHALL, no CONFIG, only its key patterns.
    for command in [
        vec!["FLUSHALL"],
        vec!["CONFIG", "SET", "maxmemory", "1mb"],
        vec!["CONFIG", "GET", "dir"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["SET", "other:key", "x"],
        // Key names outside its patterns stay unlisted; scripts stay out of reach.
        vec!["SCAN", "0"],
        vec!["RANDOMKEY"],
        vec!["EVAL", "return 1", "0"],
        vec!["FUNCTION", "FLUSH"],
        vec!["SCRIPT", "FLUSH"],
        vec!["SHUTDOWN", "NOSAVE"],
        vec!["REPLICAOF", "example.com", "6379"],
        vec!["ACL", "SETUSER", "app", "+@all"],
        vec!["KEYS", "*"],
    ] {
        let mut args = vec!["-e"];
        args.extend(&command);
        let out = client.cli(t, Some(("app", &app)), &args, "");
        assert_ne!(out.exit_code, 0, "`{}` as app: {out:?}", command.join(" "));
        // DEBUG is refused before the ACL looks: `enable-debug-command no`.
        assert!(
            out.stderr.contains("NOPERM") || out.stderr.contains("DEBUG command not allowed"),
            "`{}` as app: {out:?}",
            command.join(" ")
        );
    }
    // Not even the admin loads modules, runs DEBUG or moves the data directory.
    for command in [
        vec!["MODULE", "LOAD", "/tmp/x.so"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["CONFIG", "SET", "dir", "/tmp"],
    ] {
        let mut args = vec!["-e".to_owned()];
        args.extend(command.iter().map(|arg| (*arg).to_owned()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = client::run(
            &t.stack,
            client::User::Admin,
            &args,
            None,
            &mut out,
            &mut err,
        )
        .unwrap();
        let out = String::from_utf8_lossy(&out);
        let err = String::from_utf8_lossy(&err);
        assert_ne!(code, 0, "`{}` as admin: {out}", command.join(" "));
        // Refused by the ACL or the server's own switches, not failed for another reason.
        assert!(
            err.contains("NOPERM") || err.contains("not allowed") || err.contains("protected"),
            "`{}` as admin: {out} {err}",
            command.join(" ")
        );
    }
}

/// Counts the reply lines as they stream in and keeps them.
struct Counting {
    text: Vec<u8>,
    lines: Arc<AtomicUsize>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        self.lines.fetch_add(newlines, Ordering::SeqCst);
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The app user runs `INCRBY app:k<i> <BASE + i>` as fast as it can from its
/// own container; after 3,000 replies the server is SIGKILLed, then the writer
/// (whose valkey-cli would otherwise retry each remaining command). Every key
/// whose reply arrived must hold its value after `up` restarts the server.
/// Returns how many.
fn writes_survive_sigkill(t: &TestStack, client: &Client<'_>) -> usize {
    let app = password(t, APP_PASSWORD);
    let container = t.stack.config.container_name("valkey");
    let writer_container = Client::start(t, "valkey-writer");
    let lines = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (lines, stop) = (lines.clone(), stop.clone());
        let client_name = writer_container.running.name().to_owned();
        std::thread::spawn(move || {
            let feed: Feed = Box::new(move |stdin| {
                stdin.write_all(format!("{app}\n").as_bytes())?;
                for i in 1..=500_000u64 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    stdin.write_all(format!("INCRBY app:k{i} {}\n", BASE + i).as_bytes())?;
                }
                Ok(())
            });
            let mut out = Counting {
                text: Vec::new(),
                lines,
            };
            let mut err = Vec::new();
            let mut argv = tls_argv();
            argv.extend(["--user", "app", "--askpass"]);
            Docker::connect()
                .unwrap()
                .exec_io(
                    &client_name,
                    &argv,
                    ExecIo {
                        user: None,
                        stdin: Some(feed),
                        stdout: &mut out,
                        stderr: Some(&mut err),
                        tick: None,
                    },
                )
                .unwrap();
            String::from_utf8(out.text).unwrap()
        })
    };
    let started = Instant::now();
    while lines.load(Ordering::SeqCst) < 3_000 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the writer got only {} replies in 120 s",
            lines.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.stack.docker.kill(&container, "KILL").unwrap();
    stop.store(true, Ordering::SeqCst);
    t.stack
        .docker
        .kill(writer_container.running.name(), "KILL")
        .unwrap();
    let replies = writer.join().unwrap();
    drop(writer_container);
    let acknowledged: Vec<u64> = replies
        .lines()
        .filter_map(|line| line.trim().parse::<u64>().ok())
        .filter(|value| *value > BASE && *value <= BASE + 500_000)
        .map(|value| value - BASE)
        .collect();
    assert!(
        acknowledged.len() >= 3_000,
        "{} acknowledged",
        acknowledged.len()
    );

    let out = cli(t, &["up"]);
    assert_eq!(out.code, Some(0), "`up` after SIGKILL:\n{out}");
    let gets: String = acknowledged
        .iter()
        .map(|i| format!("GET app:k{i}\n"))
        .collect();
    let out = client.cli(t, Some(("app", &password(t, APP_PASSWORD))), &[], &gets);
    let values: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(values.len(), acknowledged.len(), "{:?}", out.stderr);
    let lost: Vec<u64> = acknowledged
        .iter()
        .zip(&values)
        .filter(|(i, value)| **value != (BASE + **i).to_string())
        .map(|(i, _)| *i)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost after SIGKILL, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(10)]
    );
    eprintln!(
        "valkey: {} acknowledged writes, all back after SIGKILL",
        acknowledged.len()
    );
    acknowledged.len()
}

fn cli_and_bgsave(t: &TestStack, acknowledged: usize) {
    // `service-urls` names the compose-network address; the password only when asked.
    let out = cli(t, &["service-urls"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "VALKEY_URL=rediss://app@valkey:6379/0"),
        "{out}"
    );
    let out = cli(t, &["service-urls", "--show-passwords"]);
    let app = password(t, APP_PASSWORD);
    assert!(
        out.stdout
            .lines()
            .any(|l| l == format!("VALKEY_URL=rediss://app:{app}@valkey:6379/0")),
        "{out}"
    );

    // `valkey cli` with a command, and reading commands from stdin.
    let out = cli(t, &["valkey", "cli", "--", "-e", "DBSIZE"]);
    assert_eq!(out.code, Some(0), "{out}");
    let keys: usize = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{out}"));
    assert!(keys > acknowledged, "{out}");
    let out = xtask_command(t.paths().state(), &["valkey", "cli", "--user", "app"])
        .stdin_bytes("GET app:hello\nFLUSHALL\n")
        .unchecked()
        .run()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("world\n") && stdout.contains("NOPERM"),
        "{stdout}"
    );
    let out = cli(
        t,
        &["valkey", "cli", "--", "-e", "CONFIG", "SET", "dir", "/tmp"],
    );
    assert_eq!(
        out.code,
        Some(1),
        "`-e` passes an error reply's exit code on: {out}"
    );

    // An AOF rewrite (a fork, a new base file, renames) under the seccomp profile; the
    // snapshot below is scheduled behind it when it is still running.
    let out = cli(t, &["valkey", "cli", "--", "-e", "BGREWRITEAOF"]);
    assert_eq!(out.code, Some(0), "{out}");

    // `valkey bgsave` waits for a new snapshot and reports it.
    let before = client::info(&t.stack, "persistence").unwrap();
    let saves: i64 = before
        .iter()
        .find(|(key, _)| key == "rdb_saves")
        .map(|(_, value)| value.parse().unwrap())
        .unwrap();
    let started = jiff::Timestamp::now();
    let out = cli(t, &["valkey", "bgsave", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let snapshot: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        snapshot["saves_since_start"].as_i64().unwrap() > saves,
        "{out}"
    );
    let saved_at: jiff::Timestamp = snapshot["saved_at"].as_str().unwrap().parse().unwrap();
    assert!(
        saved_at
            >= started
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .unwrap(),
        "snapshot at {saved_at}, asked at {started}"
    );
    let out = cli(t, &["valkey", "bgsave"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("snapshot written at"), "{out}");
    let persistence = client::info(&t.stack, "persistence").unwrap();
    for (field, wanted) in [
        ("aof_enabled", "1"),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_last_write_status", "ok"),
        ("rdb_last_bgsave_status", "ok"),
    ] {
        assert!(
            persistence.iter().any(|(k, v)| k == field && v == wanted),
            "`{field}` is not `{wanted}`: {persistence:?}"
        );
    }
}
