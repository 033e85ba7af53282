//! `restore`: replace the live cluster with a backup, whole or to a point in
//! time. The current WAL is archived first (when the server runs), the server
//! is stopped, the old data and WAL directories are renamed aside inside their
//! volumes (instant, nothing copied), pgBackRest restores, the server starts
//! and recovers, and only when it is healthy and promoted is the old data
//! reported (or removed with `--discard-old`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::oneshot::{self, Mount};
use super::physical::{self, BackupSet, STANZA};
use crate::progress::Progress;
use crate::stack::Stack;

const DATA_ROOT: &str = "/var/lib/postgresql/data";
const WAL_ROOT: &str = "/var/lib/postgresql/wal";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A backup set label; alone, it restores exactly that set (to its consistent point).
    pub set: Option<String>,
    /// A timestamp PostgreSQL understands (`2026-11-24 07:00:00+00`); recovery stops there.
    pub target_time: Option<String>,
    /// Remove the old data once the restored server is healthy.
    pub discard_old: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub set: BackupSet,
    pub seconds: f64,
    /// Where the previous data and WAL were set aside (inside their volumes), unless discarded.
    pub old_data: Vec<String>,
}

fn mounts(stack: &Stack) -> Vec<Mount> {
    vec![
        Mount::volume(oneshot::volume_name(stack, "pgdata"), DATA_ROOT, false),
        Mount::volume(oneshot::volume_name(stack, "pgwal"), WAL_ROOT, false),
        Mount::volume(
            oneshot::volume_name(stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            false,
        ),
        oneshot::conf_mount(stack),
    ]
}

/// The repository's sets, read without needing the server to run.
pub fn sets_offline(stack: &Stack) -> anyhow::Result<Vec<BackupSet>> {
    let json = oneshot::run(
        stack,
        &mounts(stack),
        "pgbackrest",
        &["--stanza", STANZA, "info", "--output=json"],
    )?;
    physical::parse_info(&json)
}

/// What `restore` would do, for the operator to read before adding `--yes`.
pub fn plan(stack: &Stack, options: &Options) -> anyhow::Result<String> {
    let set = resolve(stack, options)?;
    let target = match (&options.target_time, &options.set) {
        (Some(time), None) => format!("replay WAL up to {time}, then promote (pgBackRest picks the newest backup ending before it)"),
        (Some(time), Some(_)) => format!("replay WAL up to {time}, then promote"),
        (None, Some(_)) => "stop at the set's consistent point, then promote".to_owned(),
        (None, None) => "replay all archived WAL, then promote".to_owned(),
    };
    Ok(format!(
        "restore would:\n  1. archive the current WAL (if the server runs) and stop `{container}`\n  \
         2. set the current data aside in its volumes as `pgdata.pre-restore-<time>` and `pg_wal.pre-restore-<time>`\n  \
         3. restore backup set `{label}` ({kind}, {size:.1} MB) and {target}\n  \
         4. start the server and wait until it is healthy{discard}",
        container = stack.container(),
        label = set.label,
        kind = set.kind,
        size = set.database_bytes as f64 / 1e6,
        discard = if options.discard_old { ", then delete the set-aside data" } else { "; the set-aside data is kept" },
    ))
}

fn resolve(stack: &Stack, options: &Options) -> anyhow::Result<BackupSet> {
    let sets = sets_offline(stack)?;
    match &options.set {
        Some(label) => sets.into_iter().find(|s| &s.label == label).with_context(|| {
            format!("no backup set `{label}` in the repository; list them with `cargo xtask backup info`")
        }),
        None => sets.into_iter().last().context("the repository has no backup to restore; take one with `cargo xtask backup`"),
    }
}

fn exists(stack: &Stack, path: &str) -> anyhow::Result<bool> {
    Ok(oneshot::run(stack, &mounts(stack), "test", &["-e", path]).is_ok())
}

pub fn restore(
    stack: &Stack,
    options: &Options,
    progress: &dyn Progress,
) -> anyhow::Result<Report> {
    let set = resolve(stack, options)?;
    let started = Instant::now();
    if stack.docker.health(&stack.container())?.as_deref() == Some("healthy") {
        progress.status(
            "Archiving",
            "the current WAL so nothing written before the restore is lost",
        );
        physical::check(stack)
            .context("could not archive the current WAL; refusing to restore and lose it")?;
    }
    progress.status("Stopping", &format!("`{}`", stack.container()));
    // Creates the volumes and container when the stack was down or its volumes were removed.
    stack.compose().run(&["up", "--no-start"])?;
    // The sidecar goes down too: its dumps would fail (and mark it unhealthy) while postgres is away.
    stack
        .compose()
        .run(&["stop", "logical_backup", "postgres"])?;

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut old_data = Vec::new();
    for (dir, name) in [(DATA_ROOT, "pgdata"), (WAL_ROOT, "pg_wal")] {
        let current = format!("{dir}/{name}");
        if exists(stack, &current)? {
            let aside = format!("{dir}/{name}.pre-restore-{stamp}");
            oneshot::run(stack, &mounts(stack), "mv", &[&current, &aside])?;
            old_data.push(aside);
        }
    }
    oneshot::run(
        stack,
        &mounts(stack),
        "install",
        &["-d", "-m", "0700", &format!("{DATA_ROOT}/pgdata")],
    )?;

    progress.status(
        "Restoring",
        &format!("backup set {} ({})", set.label, set.kind),
    );
    // `--link-all` keeps pg_wal a link into the WAL volume (by default it would become a directory).
    let mut args: Vec<String> = vec![
        "--stanza".into(),
        STANZA.into(),
        "--log-level-console=warn".into(),
        "--link-all".into(),
    ];
    // Only an explicit set is pinned: for a time target pgBackRest must choose the
    // newest backup that ends before the target, which may not be the latest.
    if options.set.is_some() {
        args.push(format!("--set={}", set.label));
    }
    match (&options.target_time, &options.set) {
        (Some(time), _) => {
            args.extend([
                "--type=time".into(),
                format!("--target={time}"),
                "--target-action=promote".into(),
            ]);
        }
        (None, Some(_)) => {
            args.extend(["--type=immediate".into(), "--target-action=promote".into()])
        }
        (None, None) => {}
    }
    args.push("restore".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(err) = oneshot::run(stack, &mounts(stack), "pgbackrest", &refs) {
        bail!(
            "{err:#}\nthe previous data is untouched at {} (inside the stack's volumes); \
             move it back to `pgdata`/`pg_wal` to return to it",
            old_data.join(" and ")
        );
    }

    progress.status("Starting", "the restored cluster");
    stack.compose().run(&["up", "--detach", "postgres"])?;
    stack.wait_healthy(Duration::from_secs(1800), progress)?;
    wait_promoted(stack)?;
    stack.compose().run(&["up", "--detach"])?;
    if options.discard_old && !old_data.is_empty() {
        let mut rm_args = vec!["-rf"];
        rm_args.extend(old_data.iter().map(String::as_str));
        oneshot::run(stack, &mounts(stack), "rm", &rm_args)?;
        old_data.clear();
    }
    Ok(Report {
        set,
        seconds: started.elapsed().as_secs_f64(),
        old_data,
    })
}

fn wait_promoted(stack: &Stack) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut client = stack.connect("postgres")?;
        let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[])?.get(0);
        if !in_recovery {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!(
                "the restored server is still in recovery after 30 minutes; see `cargo xtask logs`"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
