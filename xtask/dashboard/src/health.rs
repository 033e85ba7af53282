//! `core-data-dashboard health`: the compose health check. It asks the running
//! service's `/health` over TLS (verified against the stack's CA, the name
//! `localhost`) and succeeds only on `200`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use core_data_ops::dashboard::Settings;
use rustls::pki_types::ServerName;

use crate::tls;

pub(crate) fn probe(settings: &Settings) -> anyhow::Result<()> {
    let port = settings
        .listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .with_context(|| format!("`listen` ({}) has no port", settings.listen))?;
    let config = Arc::new(tls::client_config(&settings.database.ca_cert)?);
    let name = ServerName::try_from("localhost").expect("a valid DNS name");
    let mut session = rustls::ClientConnection::new(config, name)?;
    let mut socket = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("nothing listens on 127.0.0.1:{port}"))?;
    socket.set_read_timeout(Some(Duration::from_secs(4)))?;
    socket.set_write_timeout(Some(Duration::from_secs(4)))?;
    let mut stream = rustls::Stream::new(&mut session, &mut socket);
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    // A peer closing without close_notify is the server's business, not a failed check.
    if let Err(error) = stream.read_to_end(&mut response) {
        if response.is_empty() {
            return Err(error).context("no answer from /health");
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        bail!("/health answered `{status}`: {body}");
    }
    Ok(())
}
