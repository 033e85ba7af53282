//! `docker::` — the stack's containers: list, inspect, health, disk usage,
//! log tail, and (granted `--allow-exec`) exec. Commands are argument arrays
//! run without a shell and checked against `allowlist` first; names outside the
//! stack's compose project are refused; captured output is capped at
//! `Limits::max_output_bytes` with the truncation marked.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module, NativeCallContext, INT};

use super::{allowlist, failure, function, located, misuse, Env, Res};
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

/// `stdout` and `stderr` capped and marked, as the map scripts get.
fn exec_map(out: ExecResult, max: usize) -> Map {
    let mut map = Map::new();
    let mut truncated = false;
    for (key, text, dropped) in [
        ("stdout", out.stdout, out.stdout_dropped),
        ("stderr", out.stderr, out.stderr_dropped),
    ] {
        let (mut text, dropped) = cap(text, dropped, max);
        if dropped > 0 {
            truncated = true;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&truncation_mark(dropped, max));
            text.push('\n');
        }
        map.insert(key.into(), text.into());
    }
    map.insert("exit_code".into(), out.exit_code.into());
    map.insert("truncated".into(), truncated.into());
    map
}

fn container_map(c: ContainerInfo) -> Map {
    let mut map = Map::new();
    map.insert("name".into(), c.name.into());
    map.insert("service".into(), c.service.into());
    map.insert("image".into(), c.image.into());
    map.insert("state".into(), c.state.into());
    map.insert("health".into(), c.health.into());
    map.insert("started_at".into(), c.started_at.into());
    map.insert("restart_count".into(), c.restart_count.into());
    map
}

fn find(env: &Env, function: &str, name: &str) -> Res<ContainerInfo> {
    let containers = env.backend.containers().map_err(|f| failure(function, f))?;
    let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
    containers
        .into_iter()
        .find(|c| c.name == name || c.service == name)
        .ok_or_else(|| {
            let message = format!(
                "`{name}` is not a container of this stack (its containers: {})",
                names.join(", ")
            );
            failure(function, Failure::new("not_found", message))
        })
}

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    let e = env.clone();
    function(
        "containers",
        &["Array"],
        "The stack's containers, running or not, as maps:\n\
         `#{name, service, image, state, health, started_at, restart_count}`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>| -> Res<Array> {
        located(
            &ctx,
            (|| -> Res<Array> {
                const F: &str = "docker::containers";
                e.check_clock(F)?;
                let list = e.backend.containers().map_err(|f| failure(F, f))?;
                Ok(list.into_iter().map(|c| container_map(c).into()).collect())
            })(),
        )
    });

    let e = env.clone();
    function(
        "inspect",
        &["container: String", "Map"],
        "One container of the stack, by container or service name (e.g. \"postgres\"), as for\n\
         `docker::containers`. Throws `#{kind: \"not_found\"}` when it is not part of the stack.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str| -> Res<Map> {
            located(
                &ctx,
                (|| -> Res<Map> {
                    const F: &str = "docker::inspect";
                    e.check_clock(F)?;
                    Ok(container_map(find(&e, F, name)?))
                })(),
            )
        },
    );

    let e = env.clone();
    function(
        "health",
        &["container: String", "String"],
        "`healthy`, `unhealthy`, `starting`, `none` (no health check) or `stopped`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str| -> Res<String> {
            located(
                &ctx,
                (|| -> Res<String> {
                    const F: &str = "docker::health";
                    e.check_clock(F)?;
                    Ok(find(&e, F, name)?.health)
                })(),
            )
        },
    );

    let e = env.clone();
    function(
        "disk_usage",
        &["container: String", "path: String", "Map"],
        "Disk use of the filesystem holding `path` inside a container (runs `df -P -k -- PATH`):\n\
         `#{filesystem, size_kb, used_kb, available_kb, used_percent, mounted_on}`.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str, path: &str| -> Res<Map> {
            located(
                &ctx,
                (|| -> Res<Map> {
                    const F: &str = "docker::disk_usage";
                    e.check_clock(F)?;
                    if !path.starts_with('/') {
                        return Err(misuse(
                            F,
                            format!("`{path}` is not an absolute path inside the container"),
                        ));
                    }
                    let container = find(&e, F, name)?;
                    let argv = ["df", "-P", "-k", "--", path].map(str::to_owned);
                    allowlist::check(&container.service, &argv).map_err(|m| misuse(F, m))?;
                    let out = e
                        .backend
                        .exec(&container.name, &argv, e.limits.max_output_bytes)
                        .map_err(|f| failure(F, f))?;
                    if out.exit_code != 0 {
                        let message =
                            format!("`df` exited with {}: {}", out.exit_code, out.stderr.trim());
                        return Err(failure(F, Failure::new("docker", message)));
                    }
                    parse_df(&out.stdout).ok_or_else(|| {
                        failure(
                            F,
                            Failure::new(
                                "docker",
                                format!("unexpected `df` output: {:?}", out.stdout),
                            ),
                        )
                    })
                })(),
            )
        },
    );

    let e = env.clone();
    function(
        "logs",
        &["container: String", "lines: INT", "Array"],
        "The last `lines` lines (at most 10000) of a container's log, oldest first. At most the\n\
         output cap (1 MiB) of the newest lines is kept; a cut starts the array with a\n\
         `[core_data: output truncated: …]` line.",
    )
    .set_into_module(
        module,
        move |ctx: NativeCallContext<'_>, name: &str, lines: INT| -> Res<Array> {
            located(
                &ctx,
                (|| -> Res<Array> {
                    const F: &str = "docker::logs";
                    e.check_clock(F)?;
                    let lines = usize::try_from(lines)
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            misuse(
                                F,
                                format!("`lines` must be between 1 and 10000, not {lines}"),
                            )
                        })?;
                    let container = find(&e, F, name)?.name;
                    let max = e.limits.max_output_bytes;
                    let log = e
                        .backend
                        .logs(&container, lines, max)
                        .map_err(|f| failure(F, f))?;
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
                })(),
            )
        },
    );

    if !env.grants.registers(Grant::Exec) {
        return;
    }
    let e = env.clone();
    function(
        "exec",
        &["container: String", "argv: Array", "Map"],
        "Runs a program on the exec allowlist (docs/runbooks.md) in a container of the stack, as its\n\
         default user, without a shell: `docker::exec(\"postgres\", [\"pg_isready\", \"-q\"])`.\n\
         Shells, `-c` command strings, unlisted programs or options and any argument naming\n\
         `/run/secrets` are refused before anything runs. Returns `#{exit_code, stdout, stderr,\n\
         truncated}` (a non-zero exit is a result, not an error); each stream keeps at most the\n\
         output cap (1 MiB), and a cut ends with a `[core_data: output truncated: …]` line.\n\
         Needs `--allow-exec`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, name: &str, argv: Array| -> Res<Map> {
        located(&ctx, (|| -> Res<Map> {
        const F: &str = "docker::exec";
        e.check_clock(F)?;
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.clone().into_string().map_err(|t| misuse(F, format!("argv holds a `{t}`; pass only strings"))))
            .collect::<Res<_>>()?;
        let container = find(&e, F, name)?;
        allowlist::check(&container.service, &args).map_err(|m| misuse(F, m))?;
        if e.dry_run(&ctx, F, &[&Dynamic::from(container.name.clone()), &Dynamic::from(argv.clone())]) {
            return Ok(exec_map(ExecResult::default(), e.limits.max_output_bytes));
        }
        let max = e.limits.max_output_bytes;
        let out = e.backend.exec(&container.name, &args, max).map_err(|f| failure(F, f))?;
        Ok(exec_map(out, max))
    })())
    });
}

/// Parses POSIX `df -P -k` output (a header and one line).
pub(crate) fn parse_df(stdout: &str) -> Option<Map> {
    let line = stdout.lines().nth(1)?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    let int = |s: &str| s.parse::<INT>().ok();
    let mut map = Map::new();
    map.insert("filesystem".into(), fields[0].into());
    map.insert("size_kb".into(), int(fields[1])?.into());
    map.insert("used_kb".into(), int(fields[2])?.into());
    map.insert("available_kb".into(), int(fields[3])?.into());
    map.insert(
        "used_percent".into(),
        int(fields[4].trim_end_matches('%'))?.into(),
    );
    map.insert("mounted_on".into(), fields[5..].join(" ").into());
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_is_parsed() {
        let out = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n\
                   /dev/sda1         10000000 2500000   7500000      25% /var/lib/postgresql/data\n";
        let map = parse_df(out).unwrap();
        assert_eq!(map["used_percent"].as_int().unwrap(), 25);
        assert_eq!(map["size_kb"].as_int().unwrap(), 10_000_000);
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
