//! `upgrade --check`: everything that decides whether an upgrade can go
//! ahead, with the server running and nothing changed. Read from the live
//! server (versions, databases, extensions, sizes) and from the upgrade
//! container beside it, which mounts the volumes read-only: the target's
//! extension versions (its control files), `pg_upgrade --check` against the
//! live cluster (through the server's socket directory in the data volume,
//! peer-authenticated as the superuser), and the schema of every database
//! (`pg_dumpall --schema-only`) loaded into a scratch server of the target
//! major with the target's preload libraries.

use serde::Serialize;

use super::workspace::{Workspace, PGDATA, SERVER_SOCKETS};
use crate::stack::Stack;

/// Port of the scratch servers in the workspace (the live server's is 5432).
pub(crate) const SCRATCH_PORT: &str = "50432";
/// Where the workspace keeps its scratch cluster and sockets.
const CHECK_DIR: &str = "/tmp/upgrade-check";

#[derive(Debug, Clone, Serialize)]
pub struct ExtensionLine {
    pub database: String,
    pub name: String,
    pub installed: String,
    /// The target's default version; `None` when the target image lacks it.
    pub target: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    /// Whether a failure blocks the upgrade (otherwise it is advice).
    pub blocks: bool,
    /// What it printed when it failed (or what it found).
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub from: u32,
    pub to: u32,
    pub server_version: String,
    pub target_image: String,
    pub upgrade_image: String,
    pub databases: Vec<String>,
    pub extensions: Vec<ExtensionLine>,
    pub steps: Vec<Step>,
    pub data_bytes: u64,
    pub wal_bytes: u64,
    pub free_bytes: u64,
    pub relations: i64,
    /// A rough figure (fixed costs plus a cost per relation and per database);
    /// `upgrade --rehearse` measures it.
    pub estimated_downtime_seconds: f64,
    /// Why the upgrade cannot go ahead; empty when it can.
    pub blocking: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.blocking.is_empty()
    }
}

/// The live server's side: version, databases, extensions and relations.
pub(crate) struct Live {
    pub major: u32,
    pub version: String,
    pub databases: Vec<String>,
    pub extensions: Vec<(String, String, String)>,
    pub relations: i64,
}

/// The databases that accept connections, by name.
pub(crate) fn databases(client: &mut postgres::Client) -> anyhow::Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY datname",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

pub(crate) fn read_live(stack: &Stack) -> anyhow::Result<Live> {
    let mut client = stack.connect("postgres")?;
    let row = client.query_one(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
        &[],
    )?;
    let number: i32 = row.get(0);
    let version: String = row.get(1);
    let databases = databases(&mut client)?;
    let mut extensions = Vec::new();
    let mut relations = 0;
    for database in &databases {
        let mut client = stack.connect(database)?;
        for row in client.query(
            "SELECT extname::text, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname",
            &[],
        )? {
            extensions.push((database.clone(), row.get(0), row.get(1)));
        }
        let count: i64 = client
            .query_one("SELECT count(*) FROM pg_class", &[])?
            .get(0);
        relations += count;
    }
    Ok(Live {
        major: (number / 10000) as u32,
        version,
        databases,
        extensions,
        relations,
    })
}

/// Every `.txt` file pg_upgrade left under `dir`, each under its name.
fn output_files(ws: &Workspace<'_>, dir: &str) -> anyhow::Result<String> {
    let found = ws.try_run(&["find", dir, "-name", "*.txt", "-type", "f"])?;
    let mut out = String::new();
    for path in found
        .text
        .lines()
        .filter(|line| line.ends_with(".txt"))
        .take(10)
    {
        let text = ws.try_run(&["head", "--bytes=16384", path])?;
        out.push_str(&format!(
            "\n--- {}\n{}",
            path.rsplit('/').next().unwrap_or(path),
            text.text
        ));
    }
    Ok(out)
}

/// `name: default_version = '1.2'` lines of `grep -H` over the target's control files.
pub(crate) fn parse_control_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (path, rest) = line.split_once(':')?;
            let name = path.rsplit('/').next()?.strip_suffix(".control")?;
            let (key, value) = rest.split_once('=')?;
            (key.trim() == "default_version").then(|| {
                (
                    name.to_owned(),
                    value.trim().trim_matches('\'').trim_matches('"').to_owned(),
                )
            })
        })
        .collect()
}

/// The target's extension versions, read in the workspace.
pub(crate) fn target_versions(
    ws: &Workspace<'_>,
    to: u32,
) -> anyhow::Result<Vec<(String, String)>> {
    let dir = format!("/usr/share/postgresql/{to}/extension");
    let text = ws.run(&[
        "grep",
        "-H",
        "--include=*.control",
        // -R: Debian's `postgis.control` is a link to `postgis-3.control`.
        "-R",
        "^default_version",
        &dir,
    ])?;
    Ok(parse_control_versions(&text))
}

/// The bytes under `path` (`du -sb`), in the workspace.
fn du(ws: &Workspace<'_>, path: &str) -> anyhow::Result<u64> {
    let text = ws.run(&["du", "-sb", path])?;
    Ok(text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn free(ws: &Workspace<'_>, path: &str) -> anyhow::Result<u64> {
    let text = ws.run(&["df", "-B1", "--output=avail", path])?;
    Ok(text
        .lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}

/// `initdb` of a scratch cluster of the target major at `dir` (checksums, as
/// the stack's), for pg_upgrade's check and the schema load.
pub(crate) fn initdb_args<'a>(
    to_bin: &'a str,
    dir: &'a str,
    superuser: &'a str,
    waldir: Option<&'a str>,
) -> Vec<String> {
    let mut args = vec![
        format!("{to_bin}/initdb"),
        format!("--pgdata={dir}"),
        "--data-checksums".to_owned(),
        format!("--username={superuser}"),
        "--pwfile=/run/secrets/postgres_superuser_password".to_owned(),
        "--auth-local=scram-sha-256".to_owned(),
        "--auth-host=scram-sha-256".to_owned(),
        "--encoding=UTF8".to_owned(),
        "--locale=C.UTF-8".to_owned(),
    ];
    if let Some(waldir) = waldir {
        args.push(format!("--waldir={waldir}"));
    }
    args
}

/// The options both servers get under pg_upgrade: the stack's pg_hba.conf
/// and pg_ident.conf (the OS user is the superuser by peer).
pub(crate) const HBA_OPTIONS: &str =
    "-c hba_file=/etc/core_data/conf/pg_hba.conf -c ident_file=/etc/core_data/conf/pg_ident.conf";

/// The new server's options under pg_upgrade: the stack's hba files and the
/// target's preload libraries (pgaudit refuses a `LOAD`, which pg_upgrade's
/// library check does, unless it is preloaded).
pub(crate) fn new_server_options(preload: &[&str]) -> String {
    format!(
        "{HBA_OPTIONS} -c shared_preload_libraries={}",
        preload.join(",")
    )
}

/// One pg_upgrade run in the workspace (`--check` beside the live server, or `--link`).
pub(crate) struct PgUpgrade<'a> {
    pub mode: &'a str,
    pub from: u32,
    pub to: u32,
    pub new_data: &'a str,
    pub superuser: &'a str,
    pub old_port: &'a str,
    pub sockets: &'a str,
    pub preload: &'a [&'a str],
}

/// pg_upgrade's command line (run in /tmp, which it needs writable): the old
/// cluster in place, the stack's hba files for both servers, the target's
/// preload libraries for the new one. `--check` and the upgrade share it.
pub(crate) fn pg_upgrade_argv(run: &PgUpgrade<'_>) -> Vec<String> {
    pg_upgrade_argv_with(run, PGDATA, HBA_OPTIONS, &new_server_options(run.preload))
}

/// `pg_upgrade_argv` with the old cluster at `old_data` and other server
/// options for the old and the new server (`adopt`: a copy at an id-named
/// path, its own hba files, the old server kept off the source's postgresql.conf).
pub(crate) fn pg_upgrade_argv_with(
    run: &PgUpgrade<'_>,
    old_data: &str,
    old_options: &str,
    new_options: &str,
) -> Vec<String> {
    let mut argv: Vec<String> = super::workspace::IN_TMP
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    argv.extend([
        format!("/usr/lib/postgresql/{}/bin/pg_upgrade", run.to),
        run.mode.to_owned(),
        format!("--old-bindir=/usr/lib/postgresql/{}/bin", run.from),
        format!("--new-bindir=/usr/lib/postgresql/{}/bin", run.to),
        format!("--old-datadir={old_data}"),
        format!("--new-datadir={}", run.new_data),
        format!("--username={}", run.superuser),
        format!("--old-port={}", run.old_port),
        format!("--new-port={SCRATCH_PORT}"),
        format!("--socketdir={}", run.sockets),
        format!("--old-options={old_options}"),
        format!("--new-options={new_options}"),
    ]);
    argv
}

/// The estimate: stop and start, pg_upgrade's fixed work, and the schema
/// dump and restore (per relation and per database).
pub(crate) fn estimate_seconds(relations: i64, databases: usize) -> f64 {
    15.0 + relations as f64 * 0.004 + databases as f64 * 2.0
}

/// Runs the checks; changes nothing. `ws` is a read-only workspace.
pub(crate) fn run(
    stack: &Stack,
    ws: &Workspace<'_>,
    to: u32,
    target_image: &str,
    upgrade_image: &str,
    target_preload: &[&str],
) -> anyhow::Result<CheckReport> {
    let live = read_live(stack)?;
    let superuser = stack.config.superuser();
    let mut blocking = Vec::new();
    // pg_upgrade reaches the live server through its first socket directory,
    // in the data volume since this version's configuration.
    let sockets: String = stack
        .connect("postgres")?
        .query_one("SELECT current_setting('unix_socket_directories')", &[])?
        .get(0);
    if !sockets.trim_start().starts_with(SERVER_SOCKETS) {
        anyhow::bail!(
            "the server runs with unix_socket_directories = '{sockets}', from before its socket directory \
             moved into the data volume, where the upgrade's checks reach it; run `cargo xtask up` (it restarts \
             the server with the current configuration), then check again"
        );
    }
    if live.major >= to {
        blocking.push(format!(
            "the server runs PostgreSQL {} and the target is {to}: an upgrade goes to a later major",
            live.major
        ));
    }
    let versions = target_versions(ws, to)?;
    let extensions: Vec<ExtensionLine> = live
        .extensions
        .iter()
        .map(|(database, name, installed)| ExtensionLine {
            database: database.clone(),
            name: name.clone(),
            installed: installed.clone(),
            target: versions
                .iter()
                .find(|(candidate, _)| candidate == name)
                .map(|(_, version)| version.clone()),
        })
        .collect();
    for line in extensions.iter().filter(|line| line.target.is_none()) {
        blocking.push(format!(
            "extension `{}` {} in database `{}` is not in the PostgreSQL {to} image: drop it from that database (`DROP EXTENSION {}`) or keep PostgreSQL {}",
            line.name, line.installed, line.database, line.name, live.major
        ));
    }

    let mut steps = Vec::new();
    let to_bin = format!("/usr/lib/postgresql/{to}/bin");
    let new_dir = format!("{CHECK_DIR}/new");
    ws.run(&["rm", "-rf", CHECK_DIR])?;
    ws.run(&["install", "-d", "-m", "0700", CHECK_DIR])?;
    let init = initdb_args(&to_bin, &new_dir, superuser, None);
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    ws.run(&init)?;
    let argv = pg_upgrade_argv(&PgUpgrade {
        mode: "--check",
        from: live.major,
        to,
        new_data: &new_dir,
        superuser,
        // A live check: the old server is the running one, on its own port.
        old_port: "5432",
        sockets: CHECK_DIR,
        preload: target_preload,
    });
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let upgrade_check = ws.try_run(&argv)?;
    let mut detail = upgrade_check.text;
    if !upgrade_check.ok {
        // pg_upgrade names its problem files (loadable_libraries.txt, …) in the
        // new cluster's output directory, which goes with the workspace: show them.
        detail.push_str(&output_files(
            ws,
            &format!("{new_dir}/pg_upgrade_output.d"),
        )?);
        blocking.push(format!("pg_upgrade --check failed:\n{detail}"));
    }
    steps.push(Step {
        name: "pg_upgrade --check".to_owned(),
        ok: upgrade_check.ok,
        blocks: true,
        detail,
    });

    // Advisory: loaded as plain SQL, not in pg_upgrade's binary-upgrade mode, so an
    // extension whose placement changed between majors (pg_cron moved to pg_catalog)
    // errs here and not in the upgrade, which carries it over as it is and updates it.
    let schema = schema_load(ws, &to_bin, &new_dir, superuser, target_preload)?;
    steps.push(schema);
    ws.run(&["rm", "-rf", CHECK_DIR])?;

    let data_bytes = du(ws, PGDATA)?;
    let wal_bytes = du(ws, super::workspace::PGWAL)?;
    let free_bytes = free(ws, super::workspace::DATA_ROOT)?;
    // Link mode copies no data: the new cluster's catalogs and a margin.
    let needed = 512 * 1024 * 1024;
    if free_bytes < needed {
        blocking.push(format!(
            "the data volume has {} MB free; the new cluster's catalogs need about {} MB",
            free_bytes / 1_048_576,
            needed / 1_048_576
        ));
    }
    Ok(CheckReport {
        from: live.major,
        to,
        server_version: live.version,
        target_image: target_image.to_owned(),
        upgrade_image: upgrade_image.to_owned(),
        estimated_downtime_seconds: estimate_seconds(live.relations, live.databases.len()),
        databases: live.databases,
        extensions,
        steps,
        data_bytes,
        wal_bytes,
        free_bytes,
        relations: live.relations,
        blocking,
    })
}

/// The schema of every database, dumped from the live server and loaded into
/// the scratch cluster started with the target's preload libraries. Errors
/// other than the roles and databases the scratch cluster already has are
/// incompatibilities.
fn schema_load(
    ws: &Workspace<'_>,
    to_bin: &str,
    dir: &str,
    superuser: &str,
    preload: &[&str],
) -> anyhow::Result<Step> {
    let dump = format!("{CHECK_DIR}/schema.sql");
    ws.run(&[
        &format!("{to_bin}/pg_dumpall"),
        "--schema-only",
        &format!("--host={SERVER_SOCKETS}"),
        &format!("--username={superuser}"),
        &format!("--file={dump}"),
    ])?;
    let options = format!(
        "{HBA_OPTIONS} -c listen_addresses= -c port={SCRATCH_PORT} -c unix_socket_directories={CHECK_DIR} -c shared_preload_libraries={}",
        preload.join(",")
    );
    ws.run(&[
        &format!("{to_bin}/pg_ctl"),
        &format!("--pgdata={dir}"),
        "--wait",
        "--silent",
        "-o",
        &options,
        "start",
    ])?;
    let loaded = ws.try_run(&[
        &format!("{to_bin}/psql"),
        "--no-psqlrc",
        "--quiet",
        &format!("--host={CHECK_DIR}"),
        &format!("--port={SCRATCH_PORT}"),
        &format!("--username={superuser}"),
        "--dbname=postgres",
        &format!("--file={dump}"),
    ]);
    ws.try_run(&[
        &format!("{to_bin}/pg_ctl"),
        &format!("--pgdata={dir}"),
        "--mode=fast",
        "--wait",
        "--silent",
        "stop",
    ])?;
    let loaded = loaded?;
    let errors = schema_errors(&loaded.text);
    Ok(Step {
        name: "schema load into the target".to_owned(),
        ok: errors.is_empty(),
        blocks: false,
        detail: errors.join("\n"),
    })
}

/// The `ERROR:` lines of a schema load that are incompatibilities: not the
/// roles and databases a fresh cluster already has.
pub(crate) fn schema_errors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.contains("ERROR:"))
        .filter(|line| {
            !(line.contains("already exists")
                && (line.contains("role \"") || line.contains("database \"")))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_files_give_each_extension_its_default_version() {
        let text = "/usr/share/postgresql/17/extension/postgis.control:default_version = '3.5.2'\n\
                    /usr/share/postgresql/17/extension/pg_partman.control:default_version = '5.2.4'\n\
                    /usr/share/postgresql/17/extension/x.control:comment = 'y'\n";
        assert_eq!(
            parse_control_versions(text),
            vec![
                ("postgis".to_owned(), "3.5.2".to_owned()),
                ("pg_partman".to_owned(), "5.2.4".to_owned())
            ]
        );
    }

    #[test]
    fn existing_roles_are_not_incompatibilities() {
        let text = "psql:/tmp/s.sql:14: ERROR:  role \"postgres\" already exists\n\
                    psql:/tmp/s.sql:90: ERROR:  function foo() does not exist\n";
        assert_eq!(
            schema_errors(text),
            vec!["psql:/tmp/s.sql:90: ERROR:  function foo() does not exist".to_owned()]
        );
    }
}
