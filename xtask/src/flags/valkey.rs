//! Arguments of `valkey cli|bgsave` and `memcached stats`.

use clap::{Args, Subcommand, ValueEnum};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum ValkeyCommand {
    /// valkey-cli inside the valkey container, over TLS, logged in as the admin user (or
    /// `--user app`). The password is read from `secrets/valkey/` and handed to valkey-cli on
    /// its stdin (`--askpass`), never on a command line. With arguments after `--` it runs them
    /// (`cargo xtask valkey cli -- INFO memory`; valkey-cli options such as `-e`, exit 1 on an
    /// error reply, go there too); without, it reads commands from stdin, one a line
    /// (`echo 'DBSIZE' | cargo xtask valkey cli`). Exits with valkey-cli's code.
    Cli(ValkeyCli),
    /// Take an RDB snapshot now (`BGSAVE`; after an AOF rewrite in progress, if any), wait until
    /// the server reports it written, and print when. Exits 1 when the snapshot failed.
    Bgsave(ValkeyBgsave),
}

/// The ACL user a `valkey cli` session runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ValkeyUser {
    /// Every key and command but DEBUG and MODULE.
    Admin,
    /// The application's user: the keys of VALKEY_APP_KEY_PATTERNS, no `@dangerous` command.
    App,
}

#[derive(Debug, Args)]
pub(crate) struct ValkeyCli {
    /// Which ACL user to log in as.
    #[arg(long, value_enum, default_value_t = ValkeyUser::Admin)]
    pub(crate) user: ValkeyUser,
    /// valkey-cli options and a command, passed unchanged (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ValkeyBgsave {
    /// Give up waiting for the snapshot after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout_seconds: u64,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MemcachedCommand {
    /// The server's counters (`stats`: uptime, connections, items, bytes, hits and misses,
    /// evictions, …), asked through the container with the generated credentials.
    Stats(FormatArg),
}
