//! pgbench from a one-shot container on the stack's network, straight at
//! postgres or through PgBouncer: the load test's and `bench pgbouncer`'s
//! client. Its CPU is outside both servers' limits, so the two routes are
//! measured with the same client. The password reaches pgbench as a passfile
//! bind-mounted read-only (never argv or environment), and TLS is verified
//! against the stack's CA (`sslmode=verify-full`).

use anyhow::Context;
use camino::Utf8Path;

use super::PORT;
use crate::docker::Mount;
use crate::stack::Stack;

/// Where pgbench connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// postgres:5432 on the compose network.
    Direct,
    /// pgbouncer:6432 on the compose network.
    Pooled,
}

impl Route {
    fn host_port(self) -> (&'static str, u16) {
        match self {
            Route::Direct => ("postgres", 5432),
            Route::Pooled => ("pgbouncer", PORT),
        }
    }
}

/// Who pgbench logs in as.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub database: &'a str,
}

/// A `.pgpass` line matching any host, port and database for `user`.
fn passfile_line(user: &str, password: &str) -> String {
    let escape = |text: &str| text.replace('\\', "\\\\").replace(':', "\\:");
    format!("*:*:*:{}:{}\n", escape(user), escape(password))
}

/// Runs `pgbench args…` over `route` as `login`; returns pgbench's stdout, or
/// an error with its stderr when it exits non-zero.
pub fn pgbench(
    stack: &Stack,
    route: Route,
    login: &Login<'_>,
    args: &[&str],
) -> anyhow::Result<String> {
    let output = run(stack, route, login, args)?;
    if output.exit_code != 0 {
        let (host, port) = route.host_port();
        anyhow::bail!(
            "pgbench via {host}:{port} exited with {}:\n{}{}",
            output.exit_code,
            output.stdout.trim_end(),
            output.stderr.trim_end()
        );
    }
    Ok(output.stdout)
}

/// Runs `pgbench args…` over `route` as `login`; returns its exit code and output.
pub fn run(
    stack: &Stack,
    route: Route,
    login: &Login<'_>,
    args: &[&str],
) -> anyhow::Result<crate::docker::ExecOutput> {
    let dir = tempfile::Builder::new()
        .prefix("core_data-pgbench-")
        .tempdir()
        .context("failed to create a private directory for the passfile")?;
    let dir = Utf8Path::from_path(dir.path())
        .context("the temporary directory is not UTF-8")?
        .to_owned();
    let passfile = dir.join("pgpass");
    crate::fsutil::write_atomic(
        &passfile,
        passfile_line(login.user, login.password).as_bytes(),
        0o600,
    )?;
    crate::fsutil::hand_over(&passfile, stack.config.uid(), stack.config.gid())?;
    let ca = crate::tls::files(&stack.paths).ca_cert;
    let (host, port) = route.host_port();
    let port = port.to_string();
    let mut argv = vec![
        "--host",
        host,
        "--port",
        port.as_str(),
        "--username",
        login.user,
    ];
    argv.extend_from_slice(args);
    argv.push(login.database);
    let output = crate::backup::oneshot::confined(stack)?
        .network(format!("{}_core_data", stack.config.project()))
        .mount(Mount::bind(passfile.as_str(), "/run/secrets/pgpass"))
        .mount(Mount::bind(ca.as_str(), "/run/secrets/ca.crt"))
        .env("PGPASSFILE", "/run/secrets/pgpass")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", "/run/secrets/ca.crt")
        .env("PGAPPNAME", "core_data pgbench")
        .entrypoint(&["pgbench"])
        .cmd(&argv)
        .run(&stack.docker)?;
    drop(dir);
    Ok(output)
}

/// The `tps = …` figure of pgbench's report.
pub fn tps(output: &str) -> anyhow::Result<f64> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no `tps = ` line in pgbench's output:\n{output}"))
}

/// A figure of pgbench's report such as `number of failed transactions: 0 (0.000%)` or
/// `number of transactions actually processed: 5000/5000` (the part before the slash).
pub fn count(output: &str, label: &str) -> Option<u64> {
    output.lines().find_map(|line| {
        line.strip_prefix(label)?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .split('/')
            .next()?
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passfile_fields_are_escaped() {
        assert_eq!(passfile_line("a:b", "p\\w:x"), "*:*:*:a\\:b:p\\\\w\\:x\n");
    }

    #[test]
    fn figures_are_read_from_the_report() {
        let report = "number of transactions actually processed: 5000/5000\n\
                      number of failed transactions: 0 (0.000%)\n\
                      tps = 1234.5 (without initial connection time)\n";
        assert_eq!(tps(report).unwrap(), 1234.5);
        assert_eq!(count(report, "number of failed transactions"), Some(0));
        assert_eq!(
            count(report, "number of transactions actually processed"),
            Some(5000)
        );
    }
}
