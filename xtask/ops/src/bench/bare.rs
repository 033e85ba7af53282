//! The floor of `bench up`: a server of the image on initdb's stock
//! postgresql.conf, on its own volume (removed with it), listening on its Unix
//! socket only. No TLS, no extensions, no confinement: a bare `docker run`.

use std::time::{Duration, Instant};

use crate::docker::{ContainerSpec, Docker, Mount, Running};
use crate::wait::{poll_until, ready_if};

pub(crate) struct BareServer<'d> {
    docker: &'d Docker,
    container: Option<Running<'d>>,
    volume: String,
    /// Seconds of each step: `docker run` of initdb, the server's `docker run`
    /// (create and start), its start until `pg_isready` answers.
    pub(crate) phases: Vec<(&'static str, f64)>,
}

impl<'d> BareServer<'d> {
    pub(crate) fn start(
        docker: &'d Docker,
        image: &str,
        user: &str,
        name: &str,
    ) -> anyhow::Result<BareServer<'d>> {
        let volume = format!("{name}-data");
        docker.remove_container(name)?;
        docker.remove_volume(&volume)?;
        let mut server = BareServer {
            docker,
            container: None,
            volume: volume.clone(),
            phases: Vec::new(),
        };
        let data = Mount::volume(volume, "/var/lib/postgresql/data", false);
        let started = Instant::now();
        ContainerSpec::unconfined(image)
            .user(user)
            .mount(data.clone())
            .entrypoint(&["initdb"])
            .cmd(&[
                "--pgdata=/var/lib/postgresql/data",
                "--username=postgres",
                "--auth=trust",
            ])
            .run_ok(docker)?;
        server
            .phases
            .push(("initdb (docker run)", started.elapsed().as_secs_f64()));
        let started = Instant::now();
        let container = ContainerSpec::unconfined(image)
            .name(name)
            .user(user)
            .mount(data)
            .entrypoint(&["postgres"])
            .cmd(&[
                "-D",
                "/var/lib/postgresql/data",
                "--listen_addresses=",
                "--unix_socket_directories=/tmp",
            ])
            .start(docker)?;
        server.phases.push((
            "server container create + start",
            started.elapsed().as_secs_f64(),
        ));
        let started = Instant::now();
        let running = container.name().to_owned();
        server.container = Some(container);
        poll_until(
            "the bare server",
            Duration::from_secs(120),
            Duration::from_millis(50),
            || {
                let ready =
                    docker.exec(&running, &["pg_isready", "--quiet", "--host=/tmp"], None)?;
                Ok(ready_if(ready.exit_code == 0, || {
                    "pg_isready says no".to_owned()
                }))
            },
        )?;
        server.phases.push((
            "server start to pg_isready",
            started.elapsed().as_secs_f64(),
        ));
        Ok(server)
    }
}

impl Drop for BareServer<'_> {
    fn drop(&mut self) {
        drop(self.container.take());
        let _ = self.docker.remove_volume(&self.volume);
    }
}
