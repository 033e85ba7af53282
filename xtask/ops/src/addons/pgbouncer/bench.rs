//! `bench pgbouncer`: the same pgbench run straight at postgres and through
//! PgBouncer, on one scratch stack (the server allows every client directly,
//! so the direct route is not refused for lack of connection slots), at each
//! client count, with a new connection per transaction (`--connect`) and with
//! steady connections. Select-only transactions, so the figure is the cost of
//! the route and the connections, not of the storage.

use super::load::{self, Login, Route};
use crate::bench::prepare_image;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;

/// One measured pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub clients: u32,
    /// `true`: a new connection per transaction (`pgbench --connect`).
    pub connect_per_transaction: bool,
    pub direct_tps: f64,
    pub pooled_tps: f64,
}

impl Pair {
    /// Through PgBouncer over straight at postgres.
    pub fn ratio(&self) -> f64 {
        self.pooled_tps / self.direct_tps
    }
}

pub struct Figures {
    pub pairs: Vec<Pair>,
    /// Runs whose pgbench reported its figures and then failed (a client aborted,
    /// the server crashed at the end): the figure stands, the failure is printed.
    pub warnings: Vec<String>,
    pub pool_size: String,
    pub max_connections: String,
}

pub fn run(
    clients: &[u32],
    seconds: u32,
    scale: u32,
    progress: &dyn Progress,
) -> anyhow::Result<Figures> {
    let most = clients.iter().copied().max().unwrap_or(50);
    let max_connections = (most + 50).to_string();
    let max_client_conn = (most * 2 + 100).to_string();
    drop(prepare_image(progress)?);
    let scratch = Scratch::create(
        "bench_pgbouncer",
        248,
        &[
            ("COMPOSE_PROFILES", "pgbouncer"),
            ("PG_MAX_CONNECTIONS", &max_connections),
            ("PGBOUNCER_MAX_CLIENT_CONN", &max_client_conn),
        ],
        crate::config::sizing::Resources::from_host(),
    )?;
    let stack = &scratch.stack;
    progress.status("Starting", "a scratch stack with the pgbouncer profile");
    stack.up(&Quiet)?;
    let db = stack.config.databases().remove(0);
    let password =
        crate::secrets::read(&crate::secrets::role_password_file(&stack.paths, &db.owner))?;
    let login = Login {
        user: &db.owner,
        password: &password,
        database: &db.name,
    };
    progress.status(
        "Loading",
        &format!("pgbench scale {scale} into `{}`", db.name),
    );
    load::pgbench(
        stack,
        Route::Direct,
        &login,
        &["--initialize", "--quiet", &format!("--scale={scale}")],
    )?;
    let time = format!("--time={seconds}");
    let mut pairs = Vec::new();
    let mut warnings = Vec::new();
    for &count in clients {
        let client_arg = format!("--client={count}");
        for connect in [false, true] {
            let mut tps = [0.0; 2];
            for (slot, route) in [Route::Direct, Route::Pooled].into_iter().enumerate() {
                let mut args = vec![
                    client_arg.as_str(),
                    "--jobs=2",
                    time.as_str(),
                    "--select-only",
                    "--no-vacuum",
                ];
                if connect {
                    args.push("--connect");
                }
                progress.status(
                    "Running",
                    &format!(
                        "{count} clients, {}, {}",
                        if connect {
                            "a connection per transaction"
                        } else {
                            "steady connections"
                        },
                        if route == Route::Direct {
                            "direct"
                        } else {
                            "through PgBouncer"
                        }
                    ),
                );
                // Each run starts on a healthy server (a run that ended in a crash
                // is followed by the server's crash recovery).
                stack.wait_healthy(std::time::Duration::from_secs(120), &Quiet)?;
                let output = load::run(stack, route, &login, &args)?;
                tps[slot] = load::tps(&output.stdout)?;
                if output.exit_code != 0 {
                    // The figure is pgbench's own report of the whole run; what went
                    // wrong after it is said, not hidden.
                    let cause = output
                        .stderr
                        .lines()
                        .chain(output.stdout.lines())
                        .find(|line| line.contains("WARNING") || line.contains("error"))
                        .unwrap_or("no message")
                        .to_owned();
                    warnings.push(format!(
                        "{count} clients, {}, {}: pgbench exited with {} after its report: {cause}",
                        if connect { "-C" } else { "steady" },
                        if route == Route::Direct {
                            "direct"
                        } else {
                            "through PgBouncer"
                        },
                        output.exit_code
                    ));
                }
            }
            pairs.push(Pair {
                clients: count,
                connect_per_transaction: connect,
                direct_tps: tps[0],
                pooled_tps: tps[1],
            });
        }
    }
    Ok(Figures {
        pairs,
        warnings,
        pool_size: stack.config.get("PGBOUNCER_DEFAULT_POOL_SIZE").to_owned(),
        max_connections,
    })
}
