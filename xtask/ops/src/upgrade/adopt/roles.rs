//! The roles, in single-user mode: the install user (the role of OID 10) and
//! whether the stack's superuser exists, read from the copy; the statement
//! that makes the stack's superuser with the SCRAM verifier of its secret.

use anyhow::{bail, Context};

use super::{timed, SCRATCH};
use crate::progress::Progress;
use crate::sql::{quote_ident, quote_literal};
use crate::upgrade::workspace::Workspace;

/// Marks the lines single-user mode prints for our queries.
const MARK: &str = "core_data_adopt:";
const MARK_SUPERUSER: &str = "core_data_adopt_superuser:";

/// The install user and whether the stack's `superuser` exists, read from
/// `copy` in single-user mode of the source's major (`from_bin`).
pub(super) fn read_roles(
    ws: &Workspace<'_>,
    from_bin: &str,
    copy: &str,
    superuser: &str,
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<(String, bool)> {
    let roles = timed(steps, "read roles", || {
        single_user(
            ws,
            from_bin,
            copy,
            &format!(
                "SELECT '{MARK}' || rolname AS adopt FROM pg_authid WHERE oid = 10;\n\
                 SELECT '{MARK_SUPERUSER}' || rolsuper::text AS adopt FROM pg_authid WHERE rolname = {};\n",
                quote_literal(superuser)
            ),
        )
    })?;
    let values = marked_values(&roles);
    let install_user = values
        .iter()
        .find(|(mark, _)| mark == MARK)
        .map(|(_, value)| value.clone())
        .with_context(|| format!("single-user mode did not name the install user:\n{roles}"))?;
    let superuser_exists = values.iter().any(|(mark, _)| mark == MARK_SUPERUSER);
    progress.status(
        "Found",
        &format!(
            "install user `{install_user}`; the stack's superuser `{superuser}` {}",
            if superuser_exists {
                "exists"
            } else {
                "does not exist yet"
            }
        ),
    );
    Ok((install_user, superuser_exists))
}

/// The statement that makes `superuser` (or alters it to be) a superuser with
/// `password`, as a SCRAM verifier computed here.
pub(super) fn superuser_statement(superuser: &str, exists: bool, password: &str) -> String {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    format!(
        "{} ROLE {} WITH SUPERUSER LOGIN PASSWORD {};\n",
        if exists { "ALTER" } else { "CREATE" },
        quote_ident(superuser),
        quote_literal(&verifier)
    )
}

/// Runs `sql` (one statement a line, on stdin: never in argv) in a
/// single-user backend of `bin` on `data` (in `template1`), on an empty
/// configuration; statements are never echoed into its log. Fails on any
/// `ERROR`.
pub(super) fn single_user(
    ws: &Workspace<'_>,
    bin: &str,
    data: &str,
    sql: &str,
) -> anyhow::Result<String> {
    let postgres = format!("{bin}/postgres");
    let data_arg = format!("-D{data}");
    let config = format!("--config_file={SCRATCH}/empty.conf");
    let output = ws.try_run_with_stdin(
        &[
            &postgres,
            "--single",
            &data_arg,
            &config,
            "--log_min_error_statement=panic",
            "--log_min_messages=warning",
            "template1",
        ],
        sql.as_bytes(),
    )?;
    if !output.ok || output.text.contains("ERROR:") || output.text.contains("FATAL:") {
        bail!(
            "single-user PostgreSQL on `{data}` failed:\n{}",
            output.text
        );
    }
    Ok(output.text)
}

/// The values single-user mode printed for our marked queries: `(mark, value)`.
pub(crate) fn marked_values(output: &str) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for line in output.lines() {
        for mark in [MARK_SUPERUSER, MARK] {
            let quoted = format!("\"{mark}");
            if let Some(at) = line.find(&quoted) {
                let rest = &line[at + quoted.len()..];
                if let Some(end) = rest.rfind('"') {
                    values.push((mark.to_owned(), rest[..end].to_owned()));
                }
                break;
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_user_output_gives_the_marked_values() {
        let text = "PostgreSQL stand-alone backend 15.10\n\
                    backend> \t 1: adopt\t(typeid = 25, len = -1, typmod = -1, byval = f)\n\
                    \t----\n\
                    \t 1: adopt = \"core_data_adopt:legacy admin\"\t(typeid = 25, len = -1, typmod = -1, byval = f)\n\
                    \t----\n\
                    backend> \t 1: adopt = \"core_data_adopt_superuser:false\"\t(typeid = 25, len = -1, typmod = -1, byval = f)\n";
        assert_eq!(
            marked_values(text),
            vec![
                (MARK.to_owned(), "legacy admin".to_owned()),
                (MARK_SUPERUSER.to_owned(), "false".to_owned()),
            ]
        );
    }
}
