//! What `docker::exec` (and `docker::disk_usage`) may run: one table of
//! programs per compose service, each with the options and operands it takes.
//! Everything else is refused before Docker is asked: shells and programs that
//! run other programs, `-c` command strings, any argument naming the secrets
//! directory, options not listed. docs/runbooks.md shows this table
//! (`markdown()`; a test fails when they drift).

/// One program a runbook may run in one service's container.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// The compose service whose containers may run it.
    pub service: &'static str,
    /// The name looked up on the image's read-only `PATH` (never a path).
    pub program: &'static str,
    /// Options without a value; short ones may be combined (`-sh`).
    pub flags: &'static [&'static str],
    /// Options that take a value: `--name=value`, `--name value`, `-x value` or `-xvalue`.
    pub valued: &'static [&'static str],
    pub operands: Operands,
    /// Why it is there (shown in docs/runbooks.md).
    pub doc: &'static str,
}

/// The non-option arguments a program takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    None,
    /// Any number of absolute paths inside the container.
    Paths,
    /// Exactly one of these words (a subcommand).
    OneOf(&'static [&'static str]),
}

const DF_FLAGS: &[&str] = &[
    "-P",
    "--portability",
    "-k",
    "-h",
    "--human-readable",
    "-i",
    "--inodes",
    "-T",
    "--print-type",
    "-l",
    "--local",
];
const DU_FLAGS: &[&str] = &[
    "-s",
    "--summarize",
    "-h",
    "--human-readable",
    "-k",
    "-m",
    "-b",
    "--bytes",
    "-a",
    "--all",
    "-x",
    "--one-file-system",
    "--apparent-size",
    "-S",
    "--separate-dirs",
    "--total",
];
const DU_VALUED: &[&str] = &["-d", "--max-depth", "-t", "--threshold"];

/// The allowlist. `psql` is deliberately absent: its `\!` meta-command is a
/// shell, and SQL has its own primitives (`pg::`). No program here prints the
/// contents of files it is pointed at.
pub const ALLOWED: &[Program] = &[
    Program {
        service: "postgres",
        program: "pg_isready",
        flags: &["-q", "--quiet"],
        // No `-h`/`-p`: the local server only, not a probe of other hosts.
        valued: &["-t", "--timeout"],
        operands: Operands::None,
        doc: "is the local server accepting connections",
    },
    Program {
        service: "postgres",
        program: "pgbackrest",
        flags: &[],
        valued: &["--stanza", "--output", "--set", "--log-level-console"],
        operands: Operands::OneOf(&["info", "check"]),
        doc: "the backup repository (`info`) and the archive end to end (`check`)",
    },
    Program {
        service: "postgres",
        program: "pg_controldata",
        flags: &[],
        valued: &[],
        operands: Operands::None,
        doc: "the cluster's control file (checkpoint, system identifier)",
    },
    Program {
        service: "postgres",
        program: "core-data-healthcheck",
        flags: &[],
        valued: &[],
        operands: Operands::None,
        doc: "the service's own health check",
    },
    Program {
        service: "postgres",
        program: "df",
        flags: DF_FLAGS,
        valued: &[],
        operands: Operands::Paths,
        doc: "filesystem use",
    },
    Program {
        service: "postgres",
        program: "du",
        flags: DU_FLAGS,
        valued: DU_VALUED,
        operands: Operands::Paths,
        doc: "directory sizes",
    },
    Program {
        service: "logical_backup",
        program: "core-data-logical-backup",
        flags: &[],
        valued: &[],
        operands: Operands::OneOf(&["health"]),
        doc: "the sidecar's health check (never `run`)",
    },
    Program {
        service: "logical_backup",
        program: "df",
        flags: DF_FLAGS,
        valued: &[],
        operands: Operands::Paths,
        doc: "filesystem use",
    },
    Program {
        service: "logical_backup",
        program: "du",
        flags: DU_FLAGS,
        valued: DU_VALUED,
        operands: Operands::Paths,
        doc: "directory sizes",
    },
];

/// Shells and programs that run other programs or code: named in the refusal
/// so the message says why (they are not in `ALLOWED` either).
const LAUNCHERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox", "env", "su", "sudo",
    "runuser", "setpriv", "setsid", "nsenter", "chroot", "nohup", "nice", "ionice", "timeout",
    "stdbuf", "xargs", "find", "perl", "python", "python3", "awk", "gawk", "mawk", "sed", "script",
    "watch", "flock", "strace", "gdb", "psql",
];

/// `-c`, the shells' "run this string" option (spelled in pieces: tidy forbids the literal).
const COMMAND_FLAG: &str = concat!("-", "c");

/// Checks `argv` for a container of `service`; the error says what was refused and why.
pub fn check(service: &str, argv: &[String]) -> Result<(), String> {
    let Some(program) = argv.first() else {
        return Err(
            "argv is empty; pass the program and its arguments, e.g. [\"pg_isready\"]".to_owned(),
        );
    };
    for arg in argv {
        if arg.to_ascii_lowercase().contains("secrets") {
            return Err(format!(
                "argument `{arg}` names the secrets directory; runbooks cannot read `/run/secrets`"
            ));
        }
        if arg.contains('\0') {
            return Err(format!("argument {arg:?} holds a NUL byte"));
        }
    }
    if let Some(arg) = argv[1..]
        .iter()
        .find(|a| *a == COMMAND_FLAG || *a == "--command" || a.starts_with("--command="))
    {
        return Err(format!(
            "`{arg}` passes a command string; runbooks run programs, never command strings"
        ));
    }
    let base = program.rsplit('/').next().unwrap_or(program);
    if LAUNCHERS.contains(&base) {
        return Err(format!(
            "`{program}` is a shell or runs other programs; runbooks may run only {}",
            listed(service)
        ));
    }
    if program.contains('/') {
        return Err(format!(
            "`{program}` is a path; name the program (it is looked up on the image's read-only \
             PATH): {}",
            listed(service)
        ));
    }
    let Some(spec) = ALLOWED
        .iter()
        .find(|p| p.service == service && p.program == program.as_str())
    else {
        return Err(format!(
            "`{program}` is not on the exec allowlist of service `{service}`; runbooks may run only {}",
            listed(service)
        ));
    };
    check_arguments(spec, &argv[1..])
}

/// `pg_isready, pgbackrest, … in service `postgres` (see docs/runbooks.md)`.
fn listed(service: &str) -> String {
    let names: Vec<&str> = ALLOWED
        .iter()
        .filter(|p| p.service == service)
        .map(|p| p.program)
        .collect();
    if names.is_empty() {
        return format!("nothing in service `{service}` (it has no exec allowlist)");
    }
    format!(
        "{} in service `{service}` (see the allowlist in docs/runbooks.md)",
        names.join(", ")
    )
}

fn check_arguments(spec: &Program, args: &[String]) -> Result<(), String> {
    let program = spec.program;
    let refused = |option: &str| {
        let mut allowed: Vec<&str> = spec.flags.to_vec();
        allowed.extend(spec.valued);
        let allowed = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(" ")
        };
        format!("option `{option}` is not allowed for `{program}` (allowed: {allowed})")
    };
    let mut operands = Vec::new();
    let mut options_done = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if options_done || !arg.starts_with('-') || arg == "-" {
            operands.push(arg.as_str());
        } else if arg == "--" {
            options_done = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value)),
                None => (arg.clone(), None),
            };
            if spec.valued.contains(&name.as_str()) {
                if value.is_none() && iter.next().is_none() {
                    return Err(format!("option `{name}` of `{program}` needs a value"));
                }
            } else if !(spec.flags.contains(&name.as_str()) && value.is_none()) {
                return Err(refused(&name));
            }
        } else {
            let short = &arg[..arg.char_indices().nth(2).map_or(arg.len(), |(i, _)| i)];
            if spec.flags.contains(&arg.as_str()) {
                continue;
            }
            if spec.valued.contains(&short) {
                if arg.len() == short.len() && iter.next().is_none() {
                    return Err(format!("option `{short}` of `{program}` needs a value"));
                }
                continue;
            }
            // A cluster of value-less short flags: `-sh`.
            if let Some(bad) = arg[1..]
                .chars()
                .map(|c| format!("-{c}"))
                .find(|flag| !spec.flags.contains(&flag.as_str()))
            {
                return Err(refused(&bad));
            }
        }
    }
    match spec.operands {
        Operands::None => match operands.first() {
            Some(extra) => Err(format!("`{program}` takes no operand, not `{extra}`")),
            None => Ok(()),
        },
        Operands::Paths => match operands.iter().find(|p| !p.starts_with('/')) {
            Some(path) => Err(format!(
                "`{path}` is not an absolute path inside the container"
            )),
            None => Ok(()),
        },
        Operands::OneOf(words) => match operands.as_slice() {
            [word] if words.contains(word) => Ok(()),
            _ => Err(format!(
                "`{program}` runs only as `{program} {}` here, not with {:?}",
                words.join("|"),
                operands
            )),
        },
    }
}

/// The table as docs/runbooks.md shows it.
pub fn markdown() -> String {
    let mut text =
        String::from("| Service | Program | Options | Operands | Why |\n|---|---|---|---|---|\n");
    for p in ALLOWED {
        let mut options: Vec<&str> = p.flags.to_vec();
        options.extend(p.valued.iter().copied());
        let options = if options.is_empty() {
            "none".to_owned()
        } else {
            options
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let operands = match p.operands {
            Operands::None => "none".to_owned(),
            Operands::Paths => "absolute paths".to_owned(),
            Operands::OneOf(words) => words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(" or "),
        };
        text.push_str(&format!(
            "| `{}` | `{}` | {options} | {operands} | {} |\n",
            p.service, p.program, p.doc
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::check;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    fn refused(service: &str, args: &[&str], needle: &str) {
        match check(service, &argv(args)) {
            Ok(()) => panic!("{args:?} in `{service}` must be refused"),
            Err(message) => assert!(
                message.contains(needle),
                "{args:?}: expected `{needle}` in: {message}"
            ),
        }
    }

    #[test]
    fn listed_programs_with_listed_options_pass() {
        for (service, args) in [
            ("postgres", &["pg_isready", "-q", "-t", "5"][..]),
            ("postgres", &["pg_isready", "--timeout=5"]),
            (
                "postgres",
                &["pgbackrest", "--stanza", "main", "--output=json", "info"],
            ),
            (
                "postgres",
                &["pgbackrest", "--log-level-console=info", "check"],
            ),
            (
                "postgres",
                &["df", "-P", "-k", "--", "/var/lib/postgresql/data"],
            ),
            (
                "postgres",
                &["du", "-sh", "-d", "1", "/var/lib/postgresql/wal"],
            ),
            ("postgres", &["du", "--max-depth=2", "-d2", "/backups"]),
            ("postgres", &["core-data-healthcheck"]),
            ("logical_backup", &["core-data-logical-backup", "health"]),
        ] {
            assert_eq!(check(service, &argv(args)), Ok(()), "{args:?}");
        }
    }

    #[test]
    fn shells_launchers_and_command_strings_are_refused() {
        refused(
            "postgres",
            &["bash", super::COMMAND_FLAG, "cat /etc/passwd"],
            "command string",
        );
        refused("postgres", &["bash"], "is a shell");
        refused("postgres", &["/bin/sh", "/tmp/x"], "is a shell");
        refused("postgres", &["env", "pg_isready"], "is a shell");
        refused("postgres", &["su", "postgres"], "is a shell");
        refused("postgres", &["psql", "-f", "/tmp/x.sql"], "is a shell");
        refused("postgres", &["du", "--command=id"], "command string");
        refused("postgres", &["/usr/bin/df", "/"], "is a path");
    }

    #[test]
    fn the_secrets_directory_is_never_named() {
        for path in [
            "/run/secrets",
            "/run/secrets/postgres_superuser_password",
            "/proc/self/root/run/Secrets",
            "--stanza=/run/secrets",
        ] {
            refused("postgres", &["du", "-a", path], "secrets directory");
        }
        refused(
            "postgres",
            &["pgbackrest", "--set", "x/run/secrets", "info"],
            "/run/secrets",
        );
    }

    #[test]
    fn unlisted_programs_options_and_operands_are_refused() {
        refused(
            "postgres",
            &["cat", "/etc/passwd"],
            "not on the exec allowlist",
        );
        refused("postgres", &["pg_ctl", "stop"], "not on the exec allowlist");
        refused("postgres", &["pgbackrest", "restore"], "runs only as");
        refused("postgres", &["pgbackrest", "info", "check"], "runs only as");
        refused(
            "postgres",
            &["pgbackrest", "--config=/tmp/x", "info"],
            "`--config`",
        );
        refused(
            "postgres",
            &["du", "--files0-from=/etc/shadow"],
            "`--files0-from`",
        );
        refused("postgres", &["du", "-sL", "/"], "`-L`");
        refused("postgres", &["du", "relative/path"], "absolute path");
        refused("postgres", &["pg_isready", "extra"], "takes no operand");
        refused("postgres", &["pg_isready", "-t"], "needs a value");
        refused("postgres", &["pg_isready", "-h", "10.0.0.1"], "`-h`");
        refused(
            "logical_backup",
            &["core-data-logical-backup", "run"],
            "runs only as",
        );
        refused(
            "logical_backup",
            &["pg_isready"],
            "not on the exec allowlist",
        );
        refused("qa_clone", &["df", "/"], "has no exec allowlist");
        refused("postgres", &[], "argv is empty");
    }
}
