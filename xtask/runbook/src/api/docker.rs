//! `docker::` — the stack's containers: list, inspect, health, disk usage,
//! log tail, and (granted) exec. Commands are argument arrays run without a
//! shell; names outside the stack's compose project are refused.

use std::sync::Arc;

use rhai::{Array, Dynamic, Map, Module, NativeCallContext, INT};

use super::{failure, function, located, misuse, Env, Res};
use crate::backend::{ContainerInfo, Failure};

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
                    let container = find(&e, F, name)?.name;
                    let argv = ["df", "-P", "-k", "--", path].map(str::to_owned);
                    let out = e
                        .backend
                        .exec(&container, &argv)
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
        "The last `lines` lines (at most 10000) of a container's log, oldest first.",
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
                    let log = e
                        .backend
                        .logs(&container, lines)
                        .map_err(|f| failure(F, f))?;
                    Ok(log.into_iter().map(Dynamic::from).collect())
                })(),
            )
        },
    );

    if !env.grants.writes_registered() {
        return;
    }
    let e = env.clone();
    function(
        "exec",
        &["container: String", "argv: Array", "Map"],
        "Runs a command in a container of the stack, as its default user, without a shell:\n\
         `docker::exec(\"postgres\", [\"pg_isready\", \"-q\"])`. Returns `#{exit_code, stdout, stderr}`\n\
         (a non-zero exit is a result, not an error). Needs `--allow-writes`.",
    )
    .set_into_module(module, move |ctx: NativeCallContext<'_>, name: &str, argv: Array| -> Res<Map> {
        located(&ctx, (|| -> Res<Map> {
        const F: &str = "docker::exec";
        e.check_clock(F)?;
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.clone().into_string().map_err(|t| misuse(F, format!("argv holds a `{t}`; pass only strings"))))
            .collect::<Res<_>>()?;
        if args.is_empty() {
            return Err(misuse(F, "argv is empty; pass the program and its arguments, e.g. [\"pg_isready\"]"));
        }
        let container = find(&e, F, name)?.name;
        let mut result = Map::new();
        if e.dry_run(&ctx, F, &[&Dynamic::from(container.clone()), &Dynamic::from(argv.clone())]) {
            result.insert("exit_code".into(), Dynamic::from(0 as INT));
            result.insert("stdout".into(), "".into());
            result.insert("stderr".into(), "".into());
            return Ok(result);
        }
        let out = e.backend.exec(&container, &args).map_err(|f| failure(F, f))?;
        result.insert("exit_code".into(), out.exit_code.into());
        result.insert("stdout".into(), out.stdout.into());
        result.insert("stderr".into(), out.stderr.into());
        Ok(result)
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
}
