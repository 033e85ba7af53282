//! HAProxy's runtime API (its admin socket, `/tmp/haproxy-admin.sock` in the
//! router's container, reached with `socat`): a node about to restart is put
//! in maintenance in the read-only backend, and its sessions are waited for,
//! so a reader never meets a server that is shutting down.

use std::time::Duration;

use anyhow::Context;

use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::{poll_until, Poll};

/// The read-only backend of `addons/haproxy/conf/haproxy.cfg.j2`.
pub const READ_ONLY_BACKEND: &str = "replicas";
/// The admin socket (`stats socket` in the configuration).
const SOCKET: &str = "/tmp/haproxy-admin.sock";

/// Sends one runtime API command; HAProxy's answer.
pub fn command(stack: &Stack, line: &str) -> anyhow::Result<String> {
    let container = stack.config.container_name("haproxy");
    let out = stack.docker.exec_with_stdin(
        &container,
        &[
            "socat",
            "-t",
            "5",
            "stdio",
            &format!("UNIX-CONNECT:{SOCKET}"),
        ],
        format!("{line}\n").as_bytes(),
    )?;
    anyhow::ensure!(
        out.exit_code == 0,
        "HAProxy's runtime API did not answer `{line}` in {container} (exit {}): {}",
        out.exit_code,
        out.stderr.trim()
    );
    Ok(out.stdout)
}

/// The current sessions of `server` in `backend`, from `show stat`.
pub fn sessions(stack: &Stack, backend: &str, server: &str) -> anyhow::Result<u64> {
    let csv = command(stack, "show stat")?;
    current_sessions(&csv, backend, server)
}

/// `scur` of one server in `show stat`'s CSV (`# pxname,svname,qcur,qmax,scur,…`).
pub fn current_sessions(csv: &str, backend: &str, server: &str) -> anyhow::Result<u64> {
    let body = csv.trim_start_matches("# ");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let headers = reader
        .headers()
        .context("HAProxy's stat has no header")?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow::anyhow!("HAProxy's stat has no `{name}` column"))
    };
    let (px, sv, scur) = (column("pxname")?, column("svname")?, column("scur")?);
    for record in reader.records() {
        let record = record.context("HAProxy's stat is not CSV")?;
        if record.get(px) == Some(backend) && record.get(sv) == Some(server) {
            return record
                .get(scur)
                .unwrap_or_default()
                .parse()
                .with_context(|| format!("scur of {backend}/{server} is not a number"));
        }
    }
    anyhow::bail!("HAProxy has no server {backend}/{server}")
}

/// Takes `node` out of the read-only backend and waits (up to `limit`) until
/// its sessions there end. Clients that keep a session longer meet the restart.
pub fn drain(
    stack: &Stack,
    node: &str,
    limit: Duration,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    command(
        stack,
        &format!("set server {READ_ONLY_BACKEND}/{node} state maint"),
    )?;
    let left = poll_until(
        &format!("the read sessions on {node} to end"),
        limit,
        Duration::from_millis(200),
        || {
            let n = sessions(stack, READ_ONLY_BACKEND, node)?;
            Ok(if n == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{n} session(s) open"))
            })
        },
    );
    // A session that outlives the wait is cut by the restart; that is reported, not fatal.
    if let Err(err) = left {
        progress.status("Warning", &format!("{err:#}"));
    }
    Ok(())
}

/// Gives `node` back to the read-only backend; its health check decides when it serves.
pub fn ready(stack: &Stack, node: &str) -> anyhow::Result<()> {
    command(
        stack,
        &format!("set server {READ_ONLY_BACKEND}/{node} state ready"),
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::current_sessions;

    #[test]
    fn sessions_are_read_from_show_stat() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax\nread_only,FRONTEND,,,3,9\nreplicas,pg2,0,0,2,5\nreplicas,pg3,0,0,0,4\nreplicas,BACKEND,0,0,2,9\n";
        assert_eq!(current_sessions(csv, "replicas", "pg2").unwrap(), 2);
        assert_eq!(current_sessions(csv, "replicas", "pg3").unwrap(), 0);
        let err = current_sessions(csv, "replicas", "pg9").unwrap_err();
        assert!(format!("{err}").contains("replicas/pg9"), "{err}");
    }
}
