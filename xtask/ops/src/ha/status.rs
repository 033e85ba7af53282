//! The `ha` cluster as Patroni and etcd see it: `patronictl list --format
//! json` run in a running node (members, roles, states, timelines, lag), the
//! synchronous mode from Patroni's dynamic configuration, and each etcd
//! member's `endpoint health`. `cargo xtask ha status` prints it; `up` waits on it.

use serde::Serialize;

use crate::config::Config;
use crate::docker::Docker;

/// One PostgreSQL node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub name: String,
    /// `Leader`, `Replica`, `Sync Standby`, … as Patroni says it.
    pub role: String,
    /// `running`, `streaming`, `stopped`, `starting`, … as Patroni says it.
    pub state: String,
    pub timeline: Option<u64>,
    /// Replication lag in MB (none for the leader, or when Patroni does not know).
    pub lag_mb: Option<f64>,
    /// A setting changed that only a restart applies (`ha config apply` restarts it).
    pub pending_restart: bool,
}

impl Member {
    pub fn is_leader(&self) -> bool {
        self.role == "Leader"
    }

    /// A replica that receives WAL from the leader.
    pub fn is_streaming_replica(&self) -> bool {
        !self.is_leader() && self.state == "streaming"
    }
}

/// One etcd member's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EtcdMember {
    pub name: String,
    pub healthy: bool,
    /// What `endpoint health` said, or why it could not be asked.
    pub detail: String,
}

/// The whole cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub members: Vec<Member>,
    /// Configured nodes without a member in Patroni's list (not started, or never joined).
    pub missing: Vec<String>,
    pub etcd: Vec<EtcdMember>,
}

impl Status {
    pub fn leader(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_leader())
    }

    /// One running leader, every configured node present, every other one a
    /// streaming replica. (A leader whose server restarts after a crash is
    /// still the leader, `starting`: not settled.)
    pub fn settled(&self) -> bool {
        self.missing.is_empty()
            && self
                .members
                .iter()
                .filter(|m| m.is_leader() && m.state == "running")
                .count()
                == 1
            && self
                .members
                .iter()
                .all(|m| m.is_leader() || m.is_streaming_replica())
    }

    /// One line for a wait's progress: each member's name, role and state.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{} {} {}", m.name, m.role.to_lowercase(), m.state))
            .collect();
        parts.extend(self.missing.iter().map(|name| format!("{name} absent")));
        parts.join(", ")
    }
}

/// Parses `patronictl list --format json`; `configured` are the node names
/// `.env` asks for (any of them absent from the list is reported missing).
pub fn parse_members(
    json: &str,
    configured: &[String],
) -> anyhow::Result<(Vec<Member>, Vec<String>)> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|err| {
        anyhow::anyhow!("patronictl's list is not the JSON expected ({err}): {json}")
    })?;
    let text = |row: &serde_json::Value, key: &str| {
        row.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut members: Vec<Member> = rows
        .iter()
        .map(|row| Member {
            name: text(row, "Member"),
            role: text(row, "Role"),
            state: text(row, "State"),
            timeline: row.get("TL").and_then(serde_json::Value::as_u64),
            lag_mb: row.get("Lag in MB").and_then(serde_json::Value::as_f64),
            pending_restart: !text(row, "Pending restart").is_empty(),
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let missing = configured
        .iter()
        .filter(|name| !members.iter().any(|m| &m.name == *name))
        .cloned()
        .collect();
    Ok((members, missing))
}

/// The containers of the nodes that are running, in node order: where
/// `patronictl` can run.
pub fn running_nodes(docker: &Docker, config: &Config) -> anyhow::Result<Vec<String>> {
    let mut running = Vec::new();
    for node in super::node_names(config) {
        let container = config.container_name(&node);
        let up = docker
            .inspect_container(&container)?
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false);
        if up {
            running.push(container);
        }
    }
    Ok(running)
}

/// How long one `patronictl` that only reads may take. On a node cut off from
/// etcd it retries for ever; `timeout` ends it (exit 124) and the next node is asked.
const PATRONICTL_SECONDS: u64 = 10;

/// `patronictl` in `container` with the node's own configuration, ended after
/// [`PATRONICTL_SECONDS`].
pub fn patronictl(docker: &Docker, container: &str, args: &[&str]) -> anyhow::Result<String> {
    patronictl_within(docker, container, args, PATRONICTL_SECONDS)
}

/// `patronictl` ended after `seconds` (a switchover or a reinit waits for Patroni).
pub fn patronictl_within(
    docker: &Docker,
    container: &str,
    args: &[&str],
    seconds: u64,
) -> anyhow::Result<String> {
    patronictl_run(docker, container, args, seconds, None)
}

/// `patronictl` with `input` on its stdin (`edit-config --apply -`).
pub fn patronictl_with_stdin(
    docker: &Docker,
    container: &str,
    args: &[&str],
    input: &str,
) -> anyhow::Result<String> {
    patronictl_run(docker, container, args, 60, Some(input))
}

fn patronictl_run(
    docker: &Docker,
    container: &str,
    args: &[&str],
    seconds: u64,
    input: Option<&str>,
) -> anyhow::Result<String> {
    let seconds = seconds.to_string();
    let mut argv = vec![
        "timeout",
        "--kill-after=2",
        seconds.as_str(),
        "patronictl",
        "--config-file",
        "/run/secrets/patroni.yml",
    ];
    argv.extend_from_slice(args);
    let out = match input {
        Some(input) => docker.exec_with_stdin(container, &argv, input.as_bytes())?,
        None => docker.exec(container, &argv, None)?,
    };
    anyhow::ensure!(
        out.exit_code == 0,
        "`{}` in {container} failed (exit {}{}): {}",
        argv[3..].join(" "),
        out.exit_code,
        if out.exit_code == 124 {
            ", it ran out of time"
        } else {
            ""
        },
        format!("{}\n{}", out.stdout.trim(), out.stderr.trim()).trim()
    );
    Ok(out.stdout)
}

/// Patroni's dynamic configuration (`patronictl show-config`), as stored in etcd.
pub fn dynamic_config(docker: &Docker, container: &str) -> anyhow::Result<serde_yaml::Value> {
    let text = patronictl(docker, container, &["show-config"])?;
    serde_yaml::from_str(&text)
        .map_err(|err| anyhow::anyhow!("patronictl show-config printed no YAML ({err}): {text}"))
}

/// True while the cluster is in maintenance mode (`pause: true` in the dynamic configuration).
pub fn paused(docker: &Docker, container: &str) -> anyhow::Result<bool> {
    Ok(dynamic_config(docker, container)?
        .get("pause")
        .and_then(serde_yaml::Value::as_bool)
        .unwrap_or(false))
}

/// The members only (no etcd checks): what a wait polls. Asked of each running
/// node in turn until one answers: a node cut off from etcd (a partition)
/// cannot say, and the others can.
pub fn members(docker: &Docker, config: &Config) -> anyhow::Result<(Vec<Member>, Vec<String>)> {
    let running = running_nodes(docker, config)?;
    if running.is_empty() {
        anyhow::bail!("no node of the `ha` topology is running (`cargo xtask up` starts them)");
    }
    let mut errors = Vec::new();
    for container in &running {
        match patronictl(docker, container, &["list", "--format", "json"]) {
            Ok(json) => return parse_members(&json, &super::node_names(config)),
            Err(err) => errors.push(format!("{err:#}")),
        }
    }
    anyhow::bail!(
        "no running node could list the cluster (is etcd reachable?): {}",
        errors.join("; ")
    )
}

/// The leader's container, when Patroni names a leader.
pub fn leader_container(docker: &Docker, config: &Config) -> Option<String> {
    let (members, _) = members(docker, config).ok()?;
    members
        .iter()
        .find(|m| m.is_leader())
        .map(|m| config.container_name(&m.name))
}

/// The whole status: members and etcd's health.
pub fn read(docker: &Docker, config: &Config) -> anyhow::Result<Status> {
    let (members, missing) = members(docker, config)?;
    Ok(Status {
        members,
        missing,
        etcd: etcd_health(docker, config),
    })
}

/// Each configured etcd member's `endpoint health`, asked in its own container.
pub fn etcd_health(docker: &Docker, config: &Config) -> Vec<EtcdMember> {
    super::etcd_names(config)
        .into_iter()
        .map(|name| {
            let container = config.container_name(&name);
            match docker.exec(
                &container,
                &["/usr/local/bin/core-data-etcd", "health"],
                None,
            ) {
                Ok(out) => EtcdMember {
                    name,
                    healthy: out.exit_code == 0,
                    detail: format!("{}{}", out.stdout.trim(), out.stderr.trim()),
                },
                Err(err) => EtcdMember {
                    name,
                    healthy: false,
                    detail: format!("{err:#}"),
                },
            }
        })
        .collect()
}

/// The status as the table `ha status` prints.
pub fn table(status: &Status) -> String {
    let mut members = comfy_table::Table::new();
    members.load_preset(comfy_table::presets::NOTHING);
    members.set_header(["member", "role", "state", "timeline", "lag (MB)"]);
    for m in &status.members {
        members.add_row([
            m.name.clone(),
            m.role.to_lowercase(),
            m.state.clone(),
            m.timeline.map_or_else(|| "-".to_owned(), |t| t.to_string()),
            m.lag_mb.map_or_else(|| "-".to_owned(), |l| format!("{l}")),
        ]);
    }
    for name in &status.missing {
        members.add_row([
            name.clone(),
            "-".into(),
            "absent".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    let mut etcd = comfy_table::Table::new();
    etcd.load_preset(comfy_table::presets::NOTHING);
    etcd.set_header(["etcd member", "health"]);
    for e in &status.etcd {
        etcd.add_row([
            e.name.clone(),
            if e.healthy {
                "healthy".into()
            } else {
                format!("unhealthy: {}", e.detail)
            },
        ]);
    }
    let leader = status.leader().map_or_else(
        || "none (no node accepts writes)".to_owned(),
        |l| l.name.clone(),
    );
    format!("leader: {leader}\n\n{members}\n\n{etcd}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `patronictl list --format json` as Patroni 4.0.7 prints it for a
    /// three-node cluster in synchronous mode, one node down.
    const LIST: &str = r#"[{"Cluster": "hatest", "Member": "pg1", "Host": "pg1:5432", "Role": "Replica", "State": "streaming", "TL": 2, "Lag in MB": 0},
 {"Cluster": "hatest", "Member": "pg2", "Host": "pg2:5432", "Role": "Leader", "State": "running", "TL": 2},
 {"Cluster": "hatest", "Member": "pg3", "Host": "pg3:5432", "Role": "Sync Standby", "State": "streaming", "TL": 2, "Lag in MB": 0.5}]"#;

    fn fake() -> Status {
        let configured: Vec<String> = ["pg1", "pg2", "pg3", "pg4"].map(String::from).to_vec();
        let (members, missing) = parse_members(LIST, &configured).unwrap();
        Status {
            members,
            missing,
            etcd: vec![
                EtcdMember {
                    name: "etcd1".into(),
                    healthy: true,
                    detail: String::new(),
                },
                EtcdMember {
                    name: "etcd2".into(),
                    healthy: false,
                    detail: "context deadline exceeded".into(),
                },
            ],
        }
    }

    #[test]
    fn the_table_is_golden() {
        insta::assert_snapshot!(table(&fake()));
    }

    #[test]
    fn settled_needs_a_leader_and_every_replica_streaming() {
        let status = fake();
        assert_eq!(status.leader().map(|l| l.name.as_str()), Some("pg2"));
        assert!(!status.settled(), "pg4 is missing");
        let mut three = status.clone();
        three.missing.clear();
        assert!(three.settled());
        three.members[0].state = "starting".into();
        assert!(!three.settled(), "a replica still starting is not settled");
        three.members[0].state = "streaming".into();
        three.members[1].state = "starting".into();
        assert!(!three.settled(), "a leader still starting is not settled");
        three.members[1].state = "running".into();
        three.members[1].role = "Replica".into();
        assert!(!three.settled(), "no leader");
    }

    #[test]
    fn a_list_that_is_not_json_names_what_it_got() {
        let err = parse_members("Error: no cluster", &[]).unwrap_err();
        assert!(format!("{err}").contains("Error: no cluster"), "{err}");
    }
}
