//! `docker::` — the stack's containers: list, inspect, health, disk usage,
//! log tail, and (granted `--allow-exec`) exec. Commands are argument arrays
//! run without a shell and checked against `allowlist` first; names outside the
//! stack's compose project are refused; captured output is capped at
//! `Limits::max_output_bytes` with the truncation marked.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module, INT};

use super::{allowlist, primitive, to_map, Call, Env, Res};
use crate::backend::{ContainerInfo, ExecResult, Failure};
use crate::engine::Grant;

/// Keeps at most `max` bytes of `text` (on a character boundary); returns the
/// text and the bytes dropped in all (`dropped` were dropped before it got here).
pub(crate) fn cap(mut text: String, dropped: u64, max: usize) -> (String, u64) {
    if text.len() <= max {
        return (text, dropped);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = (text.len() - end) as u64;
    text.truncate(end);
    (text, dropped + cut)
}

/// The line that marks a cut: scripts (and people) see that output is missing.
pub(crate) fn truncation_mark(dropped: u64, max: usize) -> String {
    format!("[core_data: output truncated: {dropped} more byte(s) dropped; the cap is {max} bytes]")
}

/// What `docker::exec` returns.
#[derive(serde::Serialize)]
struct ExecView {
    exit_code: i64,
    stdout: String,
    stderr: String,
    truncated: bool,
}

/// `stdout` and `stderr` capped and marked, as the map scripts get.
fn exec_map(out: ExecResult, max: usize) -> Res<Map> {
    let mut truncated = false;
    let mut mark = |text: String, dropped: u64| {
        let (mut text, dropped) = cap(text, dropped, max);
        if dropped > 0 {
            truncated = true;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&truncation_mark(dropped, max));
            text.push('\n');
        }
        text
    };
    let stdout = mark(out.stdout, out.stdout_dropped);
    let stderr = mark(out.stderr, out.stderr_dropped);
    let view = ExecView {
        exit_code: out.exit_code,
        stdout,
        stderr,
        truncated,
    };
    to_map("docker::exec", &view)
}

fn find(call: &Call<'_, '_>, name: &str) -> Res<ContainerInfo> {
    let containers = call.backend.containers().map_err(|f| call.fail(f))?;
    let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
    containers
        .into_iter()
        .find(|c| c.name == name || c.service == name)
        .ok_or_else(|| {
            let message = format!(
                "`{name}` is not a container of this stack (its containers: {})",
                names.join(", ")
            );
            call.fail(Failure::new("not_found", message))
        })
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    primitive!(
        module,
        env,
        "docker::containers",
        &["Array"],
        "The stack's containers, running or not, as maps:\n\
         `#{name, service, image, state, health, started_at, restart_count}`.",
        |call| -> Array {
            let list = call.backend.containers().map_err(|f| call.fail(f))?;
            list.iter()
                .map(|c| to_map(call.name, c).map(Dynamic::from))
                .collect()
        }
    );

    primitive!(
        module,
        env,
        "docker::inspect",
        &["container: String", "Map"],
        "One container of the stack, by container or service name (e.g. \"postgres\"), as for\n\
         `docker::containers`. Throws `#{kind: \"not_found\"}` when it is not part of the stack.",
        |call, name: &str| -> Map { to_map(call.name, &find(&call, name)?) }
    );

    primitive!(
        module,
        env,
        "docker::health",
        &["container: String", "String"],
        "`healthy`, `unhealthy`, `starting`, `none` (no health check) or `stopped`.",
        |call, name: &str| -> String { Ok(find(&call, name)?.health) }
    );

    primitive!(
        module,
        env,
        "docker::disk_usage",
        &["container: String", "path: String", "Map"],
        "Disk use of the filesystem holding `path` inside a container (runs `df -P -k -- PATH`):\n\
         `#{filesystem, size_kb, used_kb, available_kb, used_percent, mounted_on}`.",
        |call, name: &str, path: &str| -> Map {
            if !path.starts_with('/') {
                return Err(call.misuse(format!(
                    "`{path}` is not an absolute path inside the container"
                )));
            }
            let container = find(&call, name)?;
            let argv = ["df", "-P", "-k", "--", path].map(str::to_owned);
            allowlist::check(&container.service, &argv).map_err(|m| call.misuse(m))?;
            let out = call
                .backend
                .exec(&container.name, &argv, call.limits.max_output_bytes)
                .map_err(|f| call.fail(f))?;
            if out.exit_code != 0 {
                let message = format!("`df` exited with {}: {}", out.exit_code, out.stderr.trim());
                return Err(call.fail(Failure::new("docker", message)));
            }
            let usage = parse_df(&out.stdout).ok_or_else(|| {
                let message = format!("unexpected `df` output: {:?}", out.stdout);
                call.fail(Failure::new("docker", message))
            })?;
            to_map(call.name, &usage)
        }
    );

    primitive!(
        module,
        env,
        "docker::logs",
        &["container: String", "lines: INT", "Array"],
        "The last `lines` lines (at most 10000) of a container's log, oldest first. At most the\n\
         output cap (1 MiB) of the newest lines is kept; a cut starts the array with a\n\
         `[core_data: output truncated: …]` line.",
        |call, name: &str, lines: INT| -> Array {
            let lines = usize::try_from(lines)
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    call.misuse(format!("`lines` must be between 1 and 10000, not {lines}"))
                })?;
            let container = find(&call, name)?.name;
            let max = call.limits.max_output_bytes;
            let log = call
                .backend
                .logs(&container, lines, max)
                .map_err(|f| call.fail(f))?;
            // Keep the newest lines within the cap, whatever the backend returned.
            let mut kept = Vec::new();
            let mut bytes = 0usize;
            let mut dropped = log.dropped;
            for line in log.lines.into_iter().rev() {
                if dropped > 0 || bytes + line.len() + 1 > max {
                    dropped += line.len() as u64 + 1;
                    continue;
                }
                bytes += line.len() + 1;
                kept.push(Dynamic::from(line));
            }
            if dropped > 0 {
                kept.push(truncation_mark(dropped, max).into());
            }
            kept.reverse();
            Ok(kept)
        }
    );

    if !env.grants.registers(Grant::Exec) {
        return;
    }
    primitive!(
        module,
        env,
        "docker::exec",
        &["container: String", "argv: Array", "Map"],
        "Runs a program on the exec allowlist (docs/runbooks.md) in a container of the stack, as its\n\
         default user, without a shell: `docker::exec(\"postgres\", [\"pg_isready\", \"-q\"])`.\n\
         Shells, `-c` command strings, unlisted programs or options and any argument naming\n\
         `/run/secrets` are refused before anything runs. Returns `#{exit_code, stdout, stderr,\n\
         truncated}` (a non-zero exit is a result, not an error); each stream keeps at most the\n\
         output cap (1 MiB), and a cut ends with a `[core_data: output truncated: …]` line.\n\
         Needs `--allow-exec`.",
        |call, name: &str, argv: Array| -> Map {
            let args: Vec<String> = argv
                .iter()
                .map(|a| {
                    a.clone().into_string().map_err(|t| {
                        call.misuse(format!("argv holds a `{t}`; pass only strings"))
                    })
                })
                .collect::<Res<_>>()?;
            let container = find(&call, name)?;
            allowlist::check(&container.service, &args).map_err(|m| call.misuse(m))?;
            let max = call.limits.max_output_bytes;
            if call.dry_run(&[&container.name.clone().into(), &argv.clone().into()]) {
                return exec_map(ExecResult::default(), max);
            }
            let out = call
                .backend
                .exec(&container.name, &args, max)
                .map_err(|f| call.fail(f))?;
            exec_map(out, max)
        }
    );
}

/// What `docker::disk_usage` returns.
#[derive(Debug, serde::Serialize)]
pub(crate) struct DiskUsage {
    filesystem: String,
    size_kb: INT,
    used_kb: INT,
    available_kb: INT,
    used_percent: INT,
    mounted_on: String,
}

/// Parses POSIX `df -P -k` output (a header and one line).
pub(crate) fn parse_df(stdout: &str) -> Option<DiskUsage> {
    let line = stdout.lines().nth(1)?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    let int = |s: &str| s.parse::<INT>().ok();
    Some(DiskUsage {
        filesystem: fields[0].to_owned(),
        size_kb: int(fields[1])?,
        used_kb: int(fields[2])?,
        available_kb: int(fields[3])?,
        used_percent: int(fields[4].trim_end_matches('%'))?,
        mounted_on: fields[5..].join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_is_parsed() {
        let out = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n\
                   /dev/sda1         10000000 2500000   7500000      25% /var/lib/postgresql/data\n";
        let map = to_map("docker::disk_usage", &parse_df(out).unwrap()).unwrap();
        assert_eq!(map["used_percent"].as_int().unwrap(), 25);
        assert_eq!(map["size_kb"].as_int().unwrap(), 10_000_000);
        assert_eq!(map["available_kb"].as_int().unwrap(), 7_500_000);
        assert_eq!(map["filesystem"].to_string(), "/dev/sda1");
        assert_eq!(map["mounted_on"].to_string(), "/var/lib/postgresql/data");
        assert!(parse_df("garbage").is_none());
    }

    #[test]
    fn cap_cuts_on_a_character_boundary_and_counts() {
        assert_eq!(cap("short".into(), 0, 10), ("short".to_owned(), 0));
        assert_eq!(
            cap("0123456789ab".into(), 5, 10),
            ("0123456789".to_owned(), 7)
        );
        // `é` is two bytes: a cut inside it drops it whole.
        assert_eq!(cap("abcé".into(), 0, 4), ("abc".to_owned(), 2));
    }
}
