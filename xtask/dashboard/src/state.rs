//! What every request handler shares: the settings, the role's password, the
//! users file, sessions, the login limiter, the templates, the connection
//! pool and the last audit run (the overview reuses it for a minute).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use core_data_ops::audit::Summary;
use core_data_ops::dashboard::Settings;

use crate::auth::rate::Limiter;
use crate::auth::sessions::Sessions;
use crate::auth::users::UsersFile;
use crate::db::Pool;
use crate::render::Templates;

/// The service's shared state.
pub(crate) struct AppState {
    pub(crate) settings: Settings,
    /// The dashboard role's password, read once at start.
    pub(crate) password: String,
    pub(crate) users: UsersFile,
    pub(crate) sessions: Sessions,
    pub(crate) limiter: Limiter,
    /// Argon2 checks running at once (each takes 19 MiB).
    pub(crate) argon2: tokio::sync::Semaphore,
    pub(crate) templates: Templates,
    pub(crate) pool: Pool,
    /// The last `audit::run_all` and when it finished.
    pub(crate) audits: Mutex<Option<(Instant, Summary)>>,
}

impl AppState {
    pub(crate) fn new(settings: Settings, password: String) -> anyhow::Result<AppState> {
        Ok(AppState {
            users: UsersFile::new(settings.users_file.clone()),
            sessions: Sessions::new(Duration::from_secs(
                u64::from(settings.session_idle_minutes.max(1)) * 60,
            )),
            limiter: Limiter::new(settings.login_attempts_per_minute),
            argon2: tokio::sync::Semaphore::new(2),
            templates: Templates::new()?,
            pool: Pool::default(),
            audits: Mutex::new(None),
            settings,
            password,
        })
    }
}
