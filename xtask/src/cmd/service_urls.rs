//! `service-urls`: libpq URLs with full TLS verification against the stack's CA.

use std::process::ExitCode;

use core_data_ops::config::Config;
use core_data_ops::{secrets, tls};

use super::Ctx;
use crate::flags::ServiceUrls;

pub(crate) fn run(ctx: &Ctx, args: &ServiceUrls) -> anyhow::Result<ExitCode> {
    let config = Config::load(&ctx.paths)?;
    let host = match config.bind_address() {
        "0.0.0.0" => "127.0.0.1",
        other => other,
    };
    let ca = tls::files(&ctx.paths).ca_cert;
    let ca = ca.canonicalize_utf8().unwrap_or(ca);
    let port = config.host_port();
    let url =
        |user: &str, password_file: camino::Utf8PathBuf, db: &str| -> anyhow::Result<String> {
            let credentials = if args.show_passwords {
                format!(
                    "{}:{}",
                    encode(user),
                    encode(&secrets::read(&password_file)?)
                )
            } else {
                encode(user)
            };
            Ok(format!(
                "postgresql://{credentials}@{host}:{port}/{}?sslmode=verify-full&sslrootcert={ca}",
                encode(db)
            ))
        };
    println!(
        "SUPERUSER_URL={}",
        url(
            config.superuser(),
            secrets::superuser_password_file(&ctx.paths),
            "postgres"
        )?
    );
    for db in config.databases() {
        let key = format!("DATABASE_URL_{}", db.name.to_uppercase());
        println!(
            "{key}={}",
            url(
                &db.owner,
                secrets::role_password_file(&ctx.paths, &db.owner),
                &db.name
            )?
        );
    }
    if !args.show_passwords {
        eprintln!("passwords are in secrets/ (add --show-passwords to put them in the URLs)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes everything outside the URL-safe unreserved set.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
