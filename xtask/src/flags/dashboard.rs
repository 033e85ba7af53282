//! Arguments of `dashboard add-user|remove-user|list-users|url`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum DashboardCommand {
    /// Add a user who may log in to the dashboard. The password is hashed with Argon2id into
    /// `secrets/dashboard/users` (the service re-reads it: no restart). With `--password-stdin`
    /// the password is the first line of stdin (at least 12 characters); without, one is
    /// generated and written to `secrets/dashboard/<NAME>.password` (0600) for you to hand over.
    AddUser(DashboardAddUser),
    /// Remove a dashboard user (their sessions end at their next request).
    RemoveUser(DashboardUser),
    /// List the dashboard's users.
    ListUsers,
    /// Print the dashboard's URL (`https://…`, a certificate from the stack's CA:
    /// `secrets/tls/ca.crt`).
    Url,
}

#[derive(Debug, Args)]
pub(crate) struct DashboardAddUser {
    /// The user name: letters, digits, `_`, `.`, `-`, starting with a letter.
    pub(crate) name: String,
    /// Read the password from the first line of stdin instead of generating one.
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Set a new password for an existing user (otherwise an existing name is refused).
    #[arg(long)]
    pub(crate) replace: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DashboardUser {
    /// The user name.
    pub(crate) name: String,
}
