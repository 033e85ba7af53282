//! A configuration change never takes a healthy server down, and the security
//! settings that ride on the configuration hold on a live server: a value the
//! server refuses (`TZ=Mars/Olympus`) changes nothing through `up` or `config
//! apply`; a checked value whose restart still fails (shared memory the host
//! cannot map) is rolled back and the server runs on the previous files; TLS
//! refuses old protocols and weak ciphers; pg_hba limits the superuser and the
//! service roles to the compose network; a failed `CREATE ROLE … PASSWORD`
//! leaves no clear password in the server log.

use std::net::Ipv4Addr;

use core_data_ops::render;
use core_data_ops::secrets;
use core_data_tests::{docker_available, xtask, TestStack};

/// What must not move when a change is refused.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    container_id: String,
    postmaster_start: String,
    timezone: String,
    rendered: Vec<(String, String)>,
}

fn snapshot(t: &TestStack) -> Snapshot {
    let inspect = t
        .stack
        .docker
        .inspect_container(&t.stack.container())
        .unwrap()
        .expect("the postgres container exists");
    Snapshot {
        container_id: inspect.id.unwrap_or_default(),
        postmaster_start: t.query_one_string("postgres", "SELECT pg_postmaster_start_time()::text"),
        timezone: t.query_one_string("postgres", "SHOW timezone"),
        rendered: rendered_files(t),
    }
}

fn rendered_files(t: &TestStack) -> Vec<(String, String)> {
    render::TEMPLATES
        .iter()
        .map(|name| {
            let path = render::output_dir(t.paths()).join(name);
            ((*name).to_owned(), std::fs::read_to_string(path).unwrap())
        })
        .collect()
}

/// Docker's status completed by our own run of the check (what `up` and `status` read).
fn health(t: &TestStack) -> String {
    t.stack
        .docker
        .health_now(&t.stack.container())
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn a_value_the_server_refuses_changes_nothing_and_tls_and_hba_hold() {
    if !docker_available("a_value_the_server_refuses_changes_nothing_and_tls_and_hba_hold") {
        return;
    }
    let mut t = TestStack::new("cfgguard", 195);
    t.up();
    let before = snapshot(&t);
    t.set("TZ", "Mars/Olympus");
    for args in [&["up"][..], &["config", "apply"][..]] {
        let out = xtask(t.paths().state(), args);
        assert_eq!(out.code, Some(1), "`{}` must fail:\n{out}", args.join(" "));
        assert!(
            out.stderr.contains("`TZ=Mars/Olympus`") && out.stderr.contains("`.env` line "),
            "the error must name `TZ` and its line:\n{out}"
        );
        assert!(out.stderr.contains("nothing was changed"), "{out}");
        assert!(
            out.stderr.contains("invalid value for parameter"),
            "the server's own words:\n{out}"
        );
        assert_eq!(snapshot(&t), before, "after `{}`", args.join(" "));
        assert_eq!(health(&t), "healthy");
    }
    // The check is not a blanket refusal: a real zone goes through by reload.
    t.set("TZ", "Europe/Paris");
    let out = xtask(t.paths().state(), &["config", "apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        t.query_one_string("postgres", "SHOW timezone"),
        "Europe/Paris"
    );

    tls_settings_are_live_and_enforced(&t);
    hba_limits_privileged_roles_to_the_network(&t);
}

/// The live TLS settings are the rendered ones, and a TLS 1.1 client or a
/// TLS 1.2 client offering only a weak cipher is refused (with a strong
/// TLS 1.2 suite as the control that the probe itself works).
fn tls_settings_are_live_and_enforced(t: &TestStack) {
    let conf =
        std::fs::read_to_string(render::output_dir(t.paths()).join("postgresql.conf")).unwrap();
    let rendered = render::settings(&conf);
    for name in ["ssl_min_protocol_version", "ssl_ciphers"] {
        let want = rendered
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("`{name}` is not rendered"));
        assert_eq!(
            t.query_one_string("postgres", &format!("SHOW {name}")),
            want
        );
    }
    let probe = |extra: &[&str]| {
        let mut argv = vec![
            "openssl",
            "s_client",
            "-connect",
            "127.0.0.1:5432",
            "-starttls",
            "postgres",
            "-brief",
        ];
        argv.extend_from_slice(extra);
        let out = t
            .stack
            .docker
            .exec(&t.stack.container(), &argv, None)
            .unwrap();
        (out.exit_code, format!("{}{}", out.stdout, out.stderr))
    };
    let (code, text) = probe(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    assert!(
        code == 0 && text.contains("TLSv1.2"),
        "a strong TLS 1.2 suite must be accepted (exit {code}):\n{text}"
    );
    let (code, text) = probe(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert!(
        code != 0 && text.contains("alert protocol version"),
        "TLS 1.1 must be refused by the server (exit {code}):\n{text}"
    );
    let (code, text) = probe(&["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"]);
    assert!(
        code != 0 && text.contains("handshake failure"),
        "a weak cipher must be refused by the server (exit {code}):\n{text}"
    );
}

/// The first pg_hba rule a TLS connection to `database` by `user` from `ip`
/// matches, as the server parsed the file (`pg_hba_file_rules`).
fn first_rule(t: &TestStack, user: &str, database: &str, ip: Ipv4Addr) -> (i32, String) {
    let mut client = t.stack.connect("postgres").unwrap();
    let rows = client
        .query(
            "SELECT rule_number, type, database, user_name, address, netmask, auth_method \
             FROM pg_hba_file_rules WHERE error IS NULL ORDER BY rule_number",
            &[],
        )
        .unwrap();
    for row in rows {
        let kind: String = row.get(1);
        let databases: Vec<String> = row.get(2);
        let users: Vec<String> = row.get(3);
        let address: Option<String> = row.get(4);
        let netmask: Option<String> = row.get(5);
        if !(kind == "host" || kind == "hostssl")
            || !databases.iter().any(|d| d == "all" || d == database)
            || !users.iter().any(|u| u == "all" || u == user)
        {
            continue;
        }
        let (Some(Ok(address)), Some(Ok(mask))) = (
            address.map(|a| a.parse::<Ipv4Addr>()),
            netmask.map(|m| m.parse::<Ipv4Addr>()),
        ) else {
            continue; // an IPv6 rule
        };
        if u32::from(ip) & u32::from(mask) == u32::from(address) & u32::from(mask) {
            return (row.get(0), row.get(6));
        }
    }
    panic!("no pg_hba rule matches {user}@{database} from {ip}")
}

fn hba_limits_privileged_roles_to_the_network(t: &TestStack) {
    let subnet = t.stack.config.get("NETWORK_SUBNET");
    let gateway: Ipv4Addr = {
        let base: Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
        Ipv4Addr::from(u32::from(base) + 1)
    };
    let outside = Ipv4Addr::new(10, 9, 8, 7);
    let superuser = t.stack.config.superuser().to_owned();
    for role in [
        superuser.as_str(),
        secrets::BACKUP_ROLE,
        secrets::READER_ROLE,
    ] {
        for database in ["postgres", "replication"] {
            let (_, method) = first_rule(t, role, database, outside);
            assert_eq!(method, "reject", "`{role}` ({database}) from {outside}");
            let (_, method) = first_rule(t, role, database, gateway);
            assert_eq!(
                method, "scram-sha-256",
                "`{role}` ({database}) from {gateway}"
            );
            let (_, method) = first_rule(t, role, database, Ipv4Addr::LOCALHOST);
            assert_eq!(
                method, "scram-sha-256",
                "`{role}` ({database}) from loopback"
            );
        }
    }
    let (_, method) = first_rule(t, "app", "app", outside);
    assert_eq!(
        method, "scram-sha-256",
        "application roles log in from anywhere"
    );
    // The CLI's own superuser connection through the published port is let in,
    // and comes from inside the compose network.
    let client_addr = t.query_one_string("postgres", "SELECT host(inet_client_addr())");
    let client_ip: Ipv4Addr = client_addr.parse().unwrap();
    let (_, method) = first_rule(t, &superuser, "postgres", client_ip);
    assert_eq!(method, "scram-sha-256", "the CLI connects from {client_ip}");
}

#[test]
fn a_restart_that_fails_rolls_back_and_no_clear_password_is_logged() {
    if !docker_available("a_restart_that_fails_rolls_back_and_no_clear_password_is_logged") {
        return;
    }
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    assert_ne!(
        overcommit.trim(),
        "1",
        "this test makes PostgreSQL map more shared memory than the host has, which fails only \
         when the kernel does not overcommit unconditionally (vm.overcommit_memory != 1)"
    );
    let mut t = TestStack::new("cfgroll", 196);
    t.up();
    failed_role_creation_logs_no_clear_password(&t);

    let shared_buffers = t.query_one_string("postgres", "SHOW shared_buffers");
    let rendered = rendered_files(&t);
    // Parses fine (the check passes), but no host maps 1TB of shared memory.
    t.set("POSTGRES_MEMORY_LIMIT", "2TB");
    t.set("PG_SHARED_BUFFERS", "1TB");
    for args in [&["config", "apply"][..], &["up"][..]] {
        let out = xtask(t.paths().state(), args);
        assert_eq!(out.code, Some(1), "`{}` must fail:\n{out}", args.join(" "));
        assert!(out.stderr.contains("rolled back"), "{out}");
        assert!(
            out.stderr.contains("could not map anonymous shared memory"),
            "the server's own log lines:\n{out}"
        );
        assert_eq!(health(&t), "healthy", "after `{}`", args.join(" "));
        assert_eq!(
            t.query_one_string("postgres", "SHOW shared_buffers"),
            shared_buffers
        );
        assert_eq!(rendered_files(&t), rendered, "after `{}`", args.join(" "));
    }
}

/// A `CREATE ROLE … PASSWORD '…'` typed by hand that fails leaves no clear
/// password in the server's log (the error itself is logged).
fn failed_role_creation_logs_no_clear_password(t: &TestStack) {
    let secret = format!("clear-{}-secret", std::process::id());
    let mut client = t.stack.connect("postgres").unwrap();
    for sql in [
        format!("CREATE ROLE app LOGIN PASSWORD '{secret}'"),
        format!("CREATE ROLE nobody_here PASSWORD '{secret}' NOT_A_KEYWORD"),
        format!("ALTER ROLE no_such_role PASSWORD '{secret}'"),
    ] {
        assert!(client.batch_execute(&sql).is_err(), "`{sql}` must fail");
    }
    // The server's log file (the logging collector's) and the container's own output.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (_, file) = core_data_ops::server_log::tail(&t.stack, 2000)
        .unwrap()
        .expect("the logging collector writes the server's log");
    let mut log = file.join("\n");
    log.push('\n');
    log.push_str(
        &t.stack
            .docker
            .logs_tail(&t.stack.container(), 2000)
            .unwrap()
            .join("\n"),
    );
    assert!(
        log.contains("role \"app\" already exists"),
        "the failures themselves must be logged (else this test sees no log):\n{log}"
    );
    assert!(
        !log.contains(&secret),
        "a clear password reached the log:\n{log}"
    );
}
